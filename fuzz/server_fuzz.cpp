// The whole server in one process, as a request meets it: bytes -> the
// HTTP parser the server uses -> the filter chain (authn, authz, admission)
// -> the handlers, over a real SQLite store and transparency log in a
// temporary directory and the small stories260K model -> the response,
// waited for when pending and read to its end when streamed.
//
// Inputs name keys by role: @OWNER@, @REVIEWER@ and @MEMBER@ are replaced
// by real keys before parsing, so inputs get past authentication (the seeds
// in fuzz/corpus/fuzz_server are the test suite's requests, written so).
// The clock is fake and moves a minute per input, so rate limits do not
// hide the handlers behind 429s. State carries over between inputs, as on
// a real server; a key an input revoked is replaced for the next one.
//
// Oracles (a trap is a finding): no 500 (no engine failure is injected, so
// any 500 is a bug); a JSON body parses; response headers are well formed;
// every answer carries X-Request-Id; a pending answer arrives and a stream
// ends within 60 s.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "absl/synchronization/mutex.h"
#include "core/random.h"
#include "http/request_parser.h"
#include "http/response_writer.h"
#include "server/app.h"
#include "server/init.h"

namespace {

using namespace aperture;

constexpr char kModelPath[] = APERTURE_SHARED_DIR "/models/stories260K.gguf";
constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxBodyBytes = 256 * 1024;
constexpr absl::Duration kWait = absl::Seconds(60);

struct Harness {
  FakeClock clock;
  std::filesystem::path root;
  DataDir dir;
  std::unique_ptr<Services> services;
  std::unique_ptr<App> app;
  struct Role {
    const char* placeholder;
    const char* principal;
    std::string key;
  };
  Role roles[3] = {{"@OWNER@", "owner", ""}, {"@REVIEWER@", "rita", ""}, {"@MEMBER@", "mia", ""}};
};

Harness* harness = nullptr;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void TearDown() {
  if (harness == nullptr) return;
  harness->app.reset();
  harness->services.reset();
  std::error_code ec;
  std::filesystem::remove_all(harness->root, ec);
}

// A key for `role` that works now: the one held, or a new one if an input
// revoked it.
void RenewKey(Harness::Role& role) {
  Services& s = *harness->services;
  if (!role.key.empty()) {
    auto stored = s.store->FindApiKeyByHash(s.hasher->Hash(role.key));
    if (stored.ok() && stored->has_value() && (*stored)->revoked_at == 0) return;
  }
  auto created = s.access->CreateKey(AccessService::Operator(), role.principal, std::nullopt);
  Check(created.ok());
  role.key = created->plaintext;
}

void SetUp() {
  harness = new Harness;
  harness->root = std::filesystem::temp_directory_path() / ("aperture-fuzz-" + NewId("f"));
  harness->dir = DataDir{(harness->root / "data").string()};
  auto owner_key = InitializeDataDir(harness->dir);
  Check(owner_key.ok());
  harness->roles[0].key = *owner_key;
  Config config = DefaultConfig();
  for (LevelLimits& level : config.levels) level.max_tokens = std::min<int64_t>(level.max_tokens, 8);
  config.serving.max_active = 4;
  config.serving.max_waiting = 8;
  auto services = Services::Open(harness->dir, config, harness->clock);
  Check(services.ok());
  harness->services = std::move(*services);
  AccessService& access = *harness->services->access;
  const Caller op = AccessService::Operator();
  Check(access.AddPrincipal(op, "rita", aperture::Role::kReviewer).ok());
  Check(access.AddPrincipal(op, "mia", aperture::Role::kMember).ok());
  // The model ids the test suite uses, at several public levels.
  Check(access.AddModel(op, "m", kModelPath, Level::kApi).ok());
  Check(access.AddModel(op, "tiny", kModelPath, Level::kHosted).ok());
  Check(access.AddModel(op, "secret", kModelPath, Level::kClosed).ok());
  Check(access.GrantAccess(op, "mia", "tiny", Level::kResearch, std::nullopt, "fuzz").ok());
  Check(access.GrantAccess(op, "rita", "m", Level::kDownload, std::nullopt, "fuzz").ok());
  for (Harness::Role& role : harness->roles) RenewKey(role);
  auto app = App::Start(*harness->services, "127.0.0.1", 0);
  Check(app.ok());
  harness->app = std::move(*app);
  std::atexit(TearDown);
}

std::string WithKeys(std::string_view input) {
  std::string out(input);
  for (const Harness::Role& role : harness->roles) {
    const std::string_view name = role.placeholder;
    for (size_t at = out.find(name); at != std::string::npos; at = out.find(name, at + role.key.size())) {
      out.replace(at, name.size(), role.key);
    }
  }
  return out;
}

// Parses one request as the server's connections do; false when the
// transport would answer it (malformed, incomplete, over a limit).
bool Parse(std::string_view bytes, http::Request* request) {
  http::RequestParser parser(request, kMaxHeaderBytes, kMaxBodyBytes);
  boost::beast::error_code ec;
  size_t offset = 0;
  while (offset < bytes.size() && !parser.is_done()) {
    const size_t used = parser.put(boost::asio::buffer(bytes.data() + offset, bytes.size() - offset), ec);
    if (ec) return false;
    if (used == 0) break;
    offset += used;
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return false;
  }
  return true;
}

// The whole response: a pending one waited for, a stream read to its end.
http::Response Complete(http::Response response) {
  if (response.pending) {
    absl::Mutex mu;
    std::optional<http::Response> got;
    response.pending->Wait([&](http::Response r) {
      absl::MutexLock lock(&mu);
      got = std::move(r);
    });
    absl::MutexLock lock(&mu);
    Check(mu.AwaitWithTimeout(absl::Condition(
                                  +[](std::optional<http::Response>* g) { return g->has_value(); }, &got),
                              kWait));
    response = std::move(*got);
    Check(!response.pending);
  }
  if (response.stream) {
    for (;;) {
      absl::Mutex mu;
      bool arrived = false;
      std::optional<std::string> chunk;
      response.stream->Next([&](std::optional<std::string> c) {
        absl::MutexLock lock(&mu);
        chunk = std::move(c);
        arrived = true;
      });
      absl::MutexLock lock(&mu);
      Check(mu.AwaitWithTimeout(absl::Condition(&arrived), kWait));
      if (!chunk) break;
      response.body += *chunk;
    }
    response.stream.reset();
  }
  return response;
}

bool HasHeader(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (harness == nullptr) SetUp();
  for (Harness::Role& role : harness->roles) RenewKey(role);
  const std::string bytes = WithKeys(std::string_view(reinterpret_cast<const char*>(data), size));
  http::Request request;
  if (!Parse(bytes, &request)) return 0;
  request.remote_address = "198.51.100.7";
  harness->clock.AdvanceSeconds(61);
  http::Response response = Complete(harness->app->Handle(request));
  Check(response.status >= 200 && response.status <= 599);
  Check(response.status != 500);
  Check(HasHeader(response, "X-Request-Id"));
  Check(http::CheckResponseHeaders(response).empty());
  if (response.content_type == "application/json" && !response.body.empty()) {
    Check(ParseJson(response.body).ok());
  }
  return 0;
}
