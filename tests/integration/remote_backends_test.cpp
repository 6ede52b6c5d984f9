// A model served by remote backends: two other Aperture processes serving
// the tiny model through their embedded engines stand in for GPU servers
// (they speak the OpenAI API), and an in-process server stands in for a
// backend that sends more than it was asked for. The front server applies
// its own authentication, authorization, limits and record; streaming
// passes through; the caller's level holds on what comes back; a backend
// killed mid-load moves new requests to the other with no request failing
// before it started streaming; all backends down is a 503 with Retry-After;
// research needs the embedded engine (501).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/json.h"
#include "core/random.h"
#include "fmt/format.h"
#include "http/server.h"
#include "http/test_client.h"
#include "server/init.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'c');

template <typename F>
bool Eventually(F done, int seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// An Aperture process serving the tiny model as "stories", reached with its
// owner's key (which the front server reads from an environment variable).
class Backend {
 public:
  explicit Backend(const std::filesystem::path& root, const std::string& name) {
    data_ = (root / name).string();
    auto key = InitializeDataDir(DataDir{data_});
    EXPECT_TRUE(key.ok()) << key.status();
    key_ = key.value_or("");
    {
      auto services = Services::Open(DataDir{data_}, DefaultConfig());
      EXPECT_TRUE(services.ok()) << services.status();
      auto m = (*services)->access->AddModel(AccessService::Operator(), "stories", kTestModelPath, Level::kApi);
      EXPECT_TRUE(m.ok()) << m.status();
    }
    config_ = (root / (name + ".toml")).string();
    std::ofstream(config_) << "[rate_limits]\nprincipal_requests_per_minute = 0\n";
    Start();
  }
  void Start() { process_ = std::make_unique<ServerProcess>(data_, std::vector<std::string>{"--config", config_}); }
  void Kill() { process_->Kill(SIGKILL); }
  uint16_t port() const { return process_->port(); }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port()); }
  const std::string& key() const { return key_; }

 private:
  std::string data_, config_, key_;
  std::unique_ptr<ServerProcess> process_;
};

// A backend that sends more than it is asked for: logprobs nobody asked
// for, twenty alternatives, a second choice, fields the protocol lacks.
class RogueBackend {
 public:
  RogueBackend() {
    http::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = *http::Server::Start(options, [this](http::Request& r) {
      if (r.path == "/v1/models") return http::Response{};
      ++calls;
      auto body = ParseJson(r.body);
      if (body.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        last_request = *body;
      }
      Json top = Json::array();
      for (int i = 0; i < 20; ++i) top.push_back({{"token", fmt::format("t{}", i)}, {"logprob", -i}});
      Json answer = {{"id", "rogue"},
                     {"model", "rogue-model"},
                     {"prompt_logprobs", {1, 2, 3}},
                     {"choices",
                      {{{"index", 0},
                        {"message", {{"role", "assistant"}, {"content", "Once"}, {"tool_calls", {{"x", 1}}}}},
                        {"finish_reason", "stop"},
                        {"logprobs", {{"content", {{{"token", "Once"}, {"logprob", -0.5}, {"top_logprobs", top}}}}}}},
                       {{"index", 1}, {"message", {{"role", "assistant"}, {"content", "extra"}}}}}},
                     {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 1}, {"total_tokens", 6}}}};
      http::Response out;
      out.body = DumpJson(answer);
      return out;
    });
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", server_->port()); }
  std::atomic<int> calls{0};
  std::mutex mu;
  Json last_request;

 private:
  std::unique_ptr<http::Server> server_;
};

// One streamed chat, read to its end: what a client of the front saw.
struct Streamed {
  int status = 0;
  std::string content;  // the deltas' content, joined
  int events = 0;       // data events before [DONE] or the end
  bool done = false;    // [DONE] arrived
  bool error_event = false;
  std::string raw;
};

Streamed StreamChat(uint16_t port, const std::string& key, const std::string& prompt, int max_tokens) {
  Streamed out;
  auto client = http::TestClient::Connect(port);
  if (!client) return out;
  const std::string body = DumpJson({{"model", "remote"},
                                     {"messages", {{{"role", "user"}, {"content", prompt}}}},
                                     {"max_tokens", max_tokens},
                                     {"temperature", 0},
                                     {"stream", true}});
  std::vector<std::string> headers = {"Content-Type: application/json"};
  if (!key.empty()) headers.push_back("Authorization: Bearer " + key);
  if (!client->SendRequest("POST", "/v1/chat/completions", body, headers)) return out;
  auto response = client->ReadResponse(std::chrono::seconds(60));
  if (!response) return out;
  out.status = response->status;
  out.raw = response->body;
  size_t at = 0;
  while ((at = response->body.find("data: ", at)) != std::string::npos) {
    const size_t end = response->body.find("\n\n", at);
    const std::string data = response->body.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
    at = end == std::string::npos ? response->body.size() : end;
    if (data == "[DONE]") {
      out.done = true;
      continue;
    }
    auto json = ParseJson(data);
    if (!json.ok()) continue;
    if (json->contains("error")) {
      out.error_event = true;
      continue;
    }
    ++out.events;
    for (const Json& c : (*json)["choices"]) {
      if (c.contains("delta") && c["delta"].contains("content"))
        out.content += c["delta"]["content"].get<std::string>();
    }
  }
  return out;
}

class RemoteBackendsTest : public ::testing::Test {
 protected:
  static Config FrontConfig() {
    Config c = DefaultConfig();
    c.principal_requests_per_minute = 0;
    c.anonymous_requests_per_minute = 0;
    for (Level l : kAllLevels) {
      c.levels[static_cast<size_t>(l)].requests_per_minute = 0;
      c.levels[static_cast<size_t>(l)].tokens_per_minute = 0;
    }
    c.backends.health_interval_ms = 100;
    c.backends.ready_interval_ms = 300;
    c.backends.connect_timeout_ms = 1000;
    return c;
  }

  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("aperture-remote-" + NewId("t"));
    std::filesystem::create_directories(root_);
    a_ = std::make_unique<Backend>(root_, "a");
    b_ = std::make_unique<Backend>(root_, "b");
    ASSERT_NE(a_->port(), 0);
    ASSERT_NE(b_->port(), 0);
    ::setenv("APERTURE_TEST_BACKEND_A", a_->key().c_str(), 1);
    ::setenv("APERTURE_TEST_BACKEND_B", b_->key().c_str(), 1);
    front_ = std::make_unique<TestServer>(FrontConfig());
    Json model = front_->CallJson(
        "POST", "/v1/admin/models",
        DumpJson({{"id", "remote"}, {"declared_digest", kDigest}, {"public_level", "hosted"}}), front_->owner_key());
    ASSERT_EQ(model["weights"], "remote") << DumpJson(model);
    for (const auto& [backend, env] :
         {std::pair{a_.get(), "APERTURE_TEST_BACKEND_A"}, std::pair{b_.get(), "APERTURE_TEST_BACKEND_B"}}) {
      auto added = front_->Call("POST", "/v1/admin/models/remote/backends",
                                DumpJson({{"url", backend->url()}, {"api_model", "stories"}, {"api_key_env", env}}),
                                front_->owner_key());
      ASSERT_EQ(added.status, 201) << added.body;
      ids_.push_back((*ParseJson(added.body))["id"]);
    }
    front_->AddPrincipal("dev", Role::kMember);
    dev_key_ = front_->CreateKey("dev");
    auto granted = front_->services().access->GrantAccess(AccessService::Operator(), "dev", "remote", Level::kApi,
                                                          std::nullopt, "tests");
    ASSERT_TRUE(granted.ok()) << granted.status();
    // Both backends probed ready before the load starts.
    ASSERT_TRUE(Eventually([&] {
      Json listed = front_->CallJson("GET", "/v1/admin/models/remote/backends", "", front_->owner_key());
      int ready = 0;
      for (const Json& b : listed["data"]) ready += b["ready"] == true && b["live"] == true;
      return ready == 2;
    })) << DumpJson(front_->CallJson("GET", "/v1/admin/models/remote/backends", "", front_->owner_key()));
  }

  void TearDown() override {
    front_.reset();
    a_.reset();
    b_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // The completion entries of the front's log.
  std::vector<Json> Completions() {
    front_->services().recorder->Flush();
    std::vector<Json> out;
    auto head = front_->services().log->Head();
    if (!head.ok()) return out;
    auto entries = front_->services().log->Entries(0, head->size);
    if (!entries.ok()) return out;
    for (const std::string& e : *entries) {
      auto json = ParseJson(e);
      if (json.ok() && (*json)["type"] == "completion") out.push_back(*json);
    }
    return out;
  }

  std::filesystem::path root_;
  std::unique_ptr<Backend> a_, b_;
  std::unique_ptr<TestServer> front_;
  std::vector<std::string> ids_;
  std::string dev_key_;
};

TEST_F(RemoteBackendsTest, AStreamedChatPassesThroughAndIsRecordedWithItsRoute) {
  // What the tiny model says, asked directly (greedy, so every backend agrees).
  const std::string direct = DumpJson({{"model", "stories"},
                                       {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                                       {"max_tokens", 12},
                                       {"temperature", 0}});
  auto client = http::TestClient::Connect(a_->port());
  ASSERT_TRUE(client->SendRequest("POST", "/v1/chat/completions", direct,
                                  {"Content-Type: application/json", "Authorization: Bearer " + a_->key()}));
  auto expected = client->ReadResponse(std::chrono::seconds(60));
  ASSERT_TRUE(expected && expected->status == 200) << (expected ? expected->body : "");
  const std::string want = (*ParseJson(expected->body))["choices"][0]["message"]["content"];
  ASSERT_FALSE(want.empty());

  Streamed s = StreamChat(front_->port(), "", "Once upon a time", 12);  // anonymous: hosted
  EXPECT_EQ(s.status, 200) << s.raw;
  EXPECT_TRUE(s.done) << s.raw;
  EXPECT_GT(s.events, 2) << s.raw;
  EXPECT_EQ(s.content, want);
  EXPECT_EQ(s.raw.find("stories"), std::string::npos) << "the backend's model name leaked: " << s.raw;

  std::vector<Json> completions = Completions();
  ASSERT_FALSE(completions.empty());
  const Json& last = completions.back();
  EXPECT_EQ(last["outcome"], "ok");
  EXPECT_EQ(last["level"], "hosted");
  EXPECT_EQ(last["details"]["usage_source"], "backend");
  EXPECT_GT(last["details"]["completion_tokens"], 0);
  const std::string served = last["details"]["served_by"];
  EXPECT_TRUE(served == ids_[0] || served == ids_[1]) << DumpJson(last);
  EXPECT_EQ(last["details"]["routing"]["attempts"].back()["outcome"], "ok");
}

TEST_F(RemoteBackendsTest, TheCallersLevelHoldsWhateverTheBackendSends) {
  // Hosted (anonymous): no logprobs at all, refused before any backend is asked.
  auto refused = front_->Call("POST", "/v1/chat/completions",
                              DumpJson({{"model", "remote"},
                                        {"messages", {{{"role", "user"}, {"content", "x"}}}},
                                        {"logprobs", true},
                                        {"top_logprobs", 1}}));
  EXPECT_EQ(refused.status, 403) << refused.body;
  // max_tokens beyond the level's cap is clamped before it reaches the backend.
  auto clamped = front_->Call(
      "POST", "/v1/chat/completions",
      DumpJson({{"model", "remote"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 100000}}));
  EXPECT_EQ(clamped.status, 200) << clamped.body;
  EXPECT_EQ(clamped.Header("x-aperture-max-tokens").value_or(""), "512");

  // A backend that sends more than asked: only one backend, the rogue.
  RogueBackend rogue;
  for (const std::string& id : ids_)
    ASSERT_EQ(front_->Call("DELETE", "/v1/admin/backends/" + id, "", front_->owner_key()).status, 200);
  ASSERT_EQ(
      front_->Call("POST", "/v1/admin/models/remote/backends", DumpJson({{"url", rogue.url()}}), front_->owner_key())
          .status,
      201);
  auto api = front_->Call("POST", "/v1/chat/completions",
                          DumpJson({{"model", "remote"},
                                    {"messages", {{{"role", "user"}, {"content", "x"}}}},
                                    {"logprobs", true},
                                    {"top_logprobs", 3},
                                    {"max_tokens", 5}}),
                          dev_key_);
  ASSERT_EQ(api.status, 200) << api.body;
  Json answer = *ParseJson(api.body);
  EXPECT_EQ(answer["model"], "remote");
  EXPECT_FALSE(answer.contains("prompt_logprobs"));
  ASSERT_EQ(answer["choices"].size(), 1u);
  EXPECT_FALSE(answer["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 3u);  // 3 asked, 20 sent
  {
    std::lock_guard<std::mutex> lock(rogue.mu);
    EXPECT_EQ(rogue.last_request["top_logprobs"], 3);  // asked for no more than the caller
    EXPECT_EQ(rogue.last_request["max_tokens"], 5);
  }
  // Not asked for: not passed on.
  auto plain =
      front_->Call("POST", "/v1/chat/completions",
                   DumpJson({{"model", "remote"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}), dev_key_);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_TRUE((*ParseJson(plain.body))["choices"][0]["logprobs"].is_null());
}

// Kill -9 of one backend while clients stream through the front: every
// request either succeeds or had started streaming when it failed; new
// requests go to the other backend; with both gone, 503 with Retry-After.
TEST_F(RemoteBackendsTest, KillingABackendMidLoadMovesRequestsAndAllDownIs503) {
  std::atomic<bool> stop{false}, killed{false};
  std::mutex mu;
  int ok = 0, ok_after_kill = 0, failed_mid_stream = 0;
  std::vector<std::string> failed_before_streaming;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const bool after = killed.load();
        Streamed s = StreamChat(front_->port(), t % 2 ? dev_key_ : "", fmt::format("Tale {} {}", t, i), 8);
        std::lock_guard<std::mutex> lock(mu);
        if (s.status == 200 && s.done && !s.error_event) {
          ++ok;
          ok_after_kill += after;
        } else if (s.status == 200 && s.events > 0) {
          ++failed_mid_stream;  // allowed: it had started streaming
        } else {
          failed_before_streaming.push_back(fmt::format("status {}: {}", s.status, s.raw.substr(0, 300)));
        }
      }
    });
  }
  auto finish = [&] {
    stop = true;
    for (std::thread& t : clients) {
      if (t.joinable()) t.join();
    }
  };
  auto summary = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return fmt::format("{} ok ({} after the kill), {} failed mid-stream, {} failed before streaming{}{}", ok,
                       ok_after_kill, failed_mid_stream, failed_before_streaming.size(),
                       failed_before_streaming.empty() ? "" : ", e.g. ",
                       failed_before_streaming.empty() ? "" : failed_before_streaming.front());
  };
  if (!Eventually([&] {
        std::lock_guard<std::mutex> lock(mu);
        return ok >= 8;
      })) {
    finish();
    FAIL() << "the load did not get going: " << summary();
  }
  a_->Kill();
  killed = true;
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return ok_after_kill >= 12;
  })) << "requests did not move to the remaining backend: "
      << summary();
  finish();
  EXPECT_TRUE(failed_before_streaming.empty()) << summary();
  // The front saw backend A go (its probes), and says so.
  EXPECT_TRUE(Eventually([&] {
    Json listed = front_->CallJson("GET", "/v1/admin/models/remote/backends", "", front_->owner_key());
    for (const Json& b : listed["data"]) {
      if (b["id"] == ids_[0]) return b["live"] == false;
    }
    return false;
  }));
  // From then on A is skipped, and the log says why.
  Streamed later = StreamChat(front_->port(), "", "After", 4);
  EXPECT_TRUE(later.done) << later.raw;
  std::vector<Json> after = Completions();
  ASSERT_FALSE(after.empty());
  EXPECT_NE(DumpJson(after.back()["details"]["routing"]["skipped"]).find(ids_[0]), std::string::npos)
      << DumpJson(after.back());
  b_->Kill();
  auto down = front_->Call("POST", "/v1/chat/completions",
                           DumpJson({{"model", "remote"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}));
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_FALSE(down.Header("retry-after").value_or("").empty());
  std::vector<Json> completions = Completions();
  ASSERT_FALSE(completions.empty());
  EXPECT_EQ(completions.back()["reason"], "backends_unavailable");
}

// A backend that is live and passes its readiness probe but fails real
// requests (5xx): each request fails over to the other before its first
// byte, the attempts are in its log entry, and after three failures the
// circuit opens and the backend is skipped.
TEST_F(RemoteBackendsTest, FailoversBeforeTheFirstByteAreInTheLog) {
  std::atomic<int> failed{0};
  http::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  auto flaky = *http::Server::Start(options, [&](http::Request& r) {
    if (r.path == "/v1/models") return http::Response{};
    auto body = ParseJson(r.body);
    if (body.ok() && (*body)["max_tokens"] == 1) {  // the readiness probe
      http::Response out;
      out.body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"H"}}]})";
      return out;
    }
    ++failed;
    return http::ErrorResponse(503, "overloaded", "overloaded");
  });
  auto added = front_->Call("POST", "/v1/admin/models/remote/backends",
                            DumpJson({{"url", fmt::format("http://127.0.0.1:{}", flaky->port())}, {"weight", 1000}}),
                            front_->owner_key());
  ASSERT_EQ(added.status, 201) << added.body;
  const std::string flaky_id = (*ParseJson(added.body))["id"];
  for (int i = 0; i < 6; ++i) {
    Streamed s = StreamChat(front_->port(), dev_key_, fmt::format("Story {}", i), 4);
    EXPECT_EQ(s.status, 200) << s.raw;
    EXPECT_TRUE(s.done) << s.raw;
  }
  EXPECT_GE(failed.load(), 3);
  int failovers = 0, skipped_open = 0;
  for (const Json& c : Completions()) {
    const Json& attempts = c["details"]["routing"]["attempts"];
    if (attempts.size() >= 2 && attempts[0]["backend"] == flaky_id && attempts[0]["outcome"] == "status_503" &&
        attempts.back()["outcome"] == "ok") {
      ++failovers;
    }
    for (const Json& s : c["details"]["routing"]["skipped"]) {
      skipped_open += s["backend"] == flaky_id && s["outcome"] == "circuit_open";
    }
    for (const Json& a : attempts) skipped_open += a["backend"] == flaky_id && a["outcome"] == "circuit_open";
  }
  EXPECT_GE(failovers, 3);
  EXPECT_GE(skipped_open, 1) << "the circuit never opened";
  flaky->Stop();
}

TEST_F(RemoteBackendsTest, ResearchAndEmbeddingsNeedTheEmbeddedEngine) {
  auto research = front_->Call(
      "POST", "/v1/research/run",
      DumpJson({{"model", "remote"}, {"input", "x"}, {"capture", {"blocks.0.hook_resid_post"}}}), front_->owner_key());
  EXPECT_EQ(research.status, 501) << research.body;
  EXPECT_NE(research.body.find("embedded engine"), std::string::npos) << research.body;
  auto embed = front_->Call("POST", "/v1/embeddings", DumpJson({{"model", "remote"}, {"input", "x"}}), dev_key_);
  EXPECT_EQ(embed.status, 501) << embed.body;
  // The model shows its declared digest as declared.
  Json model = front_->CallJson("GET", "/v1/models/remote", "", dev_key_);
  EXPECT_EQ(model["declared_digest"], kDigest);
  EXPECT_EQ(model["digest_verified"], false);
  EXPECT_EQ(model["weights"], "remote");
}

TEST_F(RemoteBackendsTest, BackendsAreManagedByOwnersWithClearErrors) {
  auto call = [&](const std::string& method, const std::string& target, const Json& body) {
    return front_->Call(method, target, body.is_null() ? "" : DumpJson(body), front_->owner_key());
  };
  EXPECT_EQ(call("POST", "/v1/admin/models/remote/backends", {{"url", "ftp://x"}}).status, 400);
  EXPECT_EQ(call("POST", "/v1/admin/models/remote/backends", {{"url", "http://x:1"}, {"weight", 0}}).status, 400);
  EXPECT_EQ(call("POST", "/v1/admin/models/remote/backends", {{"url", "http://x:1"}, {"api_key_env", "lower"}}).status,
            400);
  EXPECT_EQ(call("POST", "/v1/admin/models/nope/backends", {{"url", "http://x:1"}}).status, 404);
  EXPECT_EQ(call("POST", "/v1/admin/models/remote/backends", {{"url", "embedded"}}).status, 409);  // no file here
  EXPECT_EQ(call("POST", "/v1/admin/models/remote/backends", {{"url", a_->url()}}).status, 409);   // already there
  EXPECT_EQ(call("POST", "/v1/admin/backends/" + ids_[0] + "/weight", {{"weight", 7}}).status, 200);
  EXPECT_EQ(call("POST", "/v1/admin/backends/nope/weight", {{"weight", 7}}).status, 404);
  EXPECT_EQ(front_->Call("GET", "/v1/admin/models/remote/backends", "", dev_key_).status, 403);  // owners only
  Json listed = front_->CallJson("GET", "/v1/admin/models/remote/backends", "", front_->owner_key());
  ASSERT_EQ(listed["data"].size(), 2u);
  for (const Json& b : listed["data"]) EXPECT_EQ(b["weight"], b["id"] == ids_[0] ? 7 : 1) << DumpJson(b);
  EXPECT_EQ(call("DELETE", "/v1/admin/backends/" + ids_[1], nullptr).status, 200);
  EXPECT_EQ(call("DELETE", "/v1/admin/backends/" + ids_[1], nullptr).status, 404);
  // Every change is in the log, without the backends' URLs.
  front_->services().recorder->Flush();
  auto head = front_->services().log->Head();
  auto entries = front_->services().log->Entries(0, head->size);
  int added = 0, weighted = 0, removed = 0;
  for (const std::string& e : *entries) {
    EXPECT_EQ(e.find("127.0.0.1:"), std::string::npos) << e;
    added += e.find("\"backend.added\"") != std::string::npos;
    weighted += e.find("\"backend.weight\"") != std::string::npos;
    removed += e.find("\"backend.removed\"") != std::string::npos;
  }
  EXPECT_EQ(added, 2);
  EXPECT_EQ(weighted, 1);
  EXPECT_EQ(removed, 1);
}

}  // namespace
}  // namespace aperture::testing
