#include "server/app.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "api/admin/admin_routes.h"
#include "api/log/log_routes.h"
#include "api/openai/model_routes.h"
#include "api/openai/serving_routes.h"
#include "api/ops/ops_routes.h"
#include "core/status_macros.h"
#include "filters/authn/authn_filter.h"
#include "filters/authz/authz_filter.h"
#include "filters/limits/parse_filter.h"
#include "filters/ratelimit/ratelimit_filter.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace aperture {
namespace {

// The server's Ed25519 secret key (libsodium's 64 bytes), refusing a key
// others can read.
absl::StatusOr<std::string> ReadSigningKey(const DataDir& dir) {
  const std::string path = dir.signing_key();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        fmt::format("{} has no signing.key; run `aperture init --data {}` first", dir.path, dir.path));
  }
  if (st.st_mode & 077) {
    return absl::PermissionDeniedError(fmt::format("{} must be readable by its owner only (chmod 600)", path));
  }
  std::ifstream in(path, std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.size() != 64) return absl::DataLossError(fmt::format("{} is damaged: expected 64 bytes", path));
  return key;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Services>> Services::Open(const DataDir& dir, const Config& config, const Clock& clock) {
  ASSIGN_OR_RETURN(std::string secret, ReadHashSecret(dir));
  std::unique_ptr<Services> s(new Services(config, clock));
  ASSIGN_OR_RETURN(s->store, store::SqliteStore::Open(dir.database(), /*create=*/false));
  ASSIGN_OR_RETURN(std::string signing_key, ReadSigningKey(dir));
  s->log_public_key = signing_key.substr(32);
  ASSIGN_OR_RETURN(s->log_store, store::SqliteLogStore::Open(dir.database(), /*create=*/false));
  ASSIGN_OR_RETURN(s->recorder,
                   translog::LogSequencer::Open(*s->log_store, std::move(signing_key), s->config.log.name, s->clock));
  s->log = std::make_unique<translog::LogReader>(*s->log_store);
  s->hasher = std::make_unique<ApiKeyHasher>(std::move(secret));
  s->access = std::make_unique<AccessService>(*s->store, *s->recorder, *s->hasher, s->config, s->clock);
  s->authorizer = std::make_unique<Authorizer>(*s->store, s->config, s->clock);
  return s;
}

Services::~Services() {
  if (recorder) recorder->Flush();
  if (store) key_usage.Flush(*store).IgnoreError();
  if (store) usage.Flush(*store).IgnoreError();
}

App::App(Services& s)
    : services_(s),
      limiter_(s.clock),
      token_limiter_(s.clock),
      scheduler_(std::make_unique<scheduler::Scheduler>(scheduler::SchedulerOptions{
          .threads = s.config.serving.threads,
          .max_active = static_cast<int>(s.config.serving.max_active),
          .max_waiting = static_cast<int>(s.config.serving.max_waiting),
          .prefill_tokens_per_step = static_cast<int>(s.config.serving.prefill_tokens_per_step),
          .models = {.max_context = static_cast<int>(s.config.serving.max_context)},
          .clock = &s.clock})),
      authenticator_(*s.store, *s.hasher, s.clock, s.key_usage),
      deps_{*s.store, *s.recorder, *s.access,   *s.authorizer, s.config,
            metrics_, s.clock,     *scheduler_, s.usage,       token_limiter_} {}

absl::StatusOr<std::unique_ptr<App>> App::Start(Services& services, const std::string& host, uint16_t port) {
  std::unique_ptr<App> app(new App(services));
  AddOpsRoutes(app->router_, app->deps_);
  AddModelRoutes(app->router_, app->deps_);
  AddServingRoutes(app->router_, app->deps_);
  AddAdminRoutes(app->router_, app->deps_);
  AddLogRoutes(app->router_, *services.log, services.log_public_key);
  // The server publishes the log under its configured name.
  RETURN_IF_ERROR(services.recorder->AdoptOrigin(services.config.log.name));
  // Large subtree hashes in memory, so proofs read only a few small ones.
  absl::StatusOr<int64_t> warmed = services.log->Warm();
  if (!warmed.ok()) spdlog::warn("could not preload the log's tree hashes: {}", std::string(warmed.status().message()));

  // The request path, in order. Record runs last for every request.
  std::vector<std::unique_ptr<Filter>> chain;
  chain.push_back(std::make_unique<ParseFilter>(app->router_));
  chain.push_back(std::make_unique<AuthnFilter>(app->authenticator_));
  chain.push_back(std::make_unique<AuthzFilter>(*services.authorizer));
  chain.push_back(std::make_unique<RateLimitFilter>(app->limiter_, services.config));
  app->pipeline_ = std::make_unique<Pipeline>(
      std::move(chain), RecordFilter(*services.recorder, app->metrics_, services.clock), services.clock);

  const ServerConfig& sc = services.config.server;
  http::ServerOptions options;
  options.host = host;
  options.port = port;
  options.threads = sc.threads;
  options.max_header_bytes = static_cast<size_t>(sc.max_header_bytes);
  options.max_body_bytes = static_cast<size_t>(sc.max_body_bytes);
  options.read_timeout = std::chrono::milliseconds(sc.read_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(sc.idle_timeout_ms);
  options.max_connections = static_cast<size_t>(sc.max_connections);
  Pipeline* pipeline = app->pipeline_.get();
  ASSIGN_OR_RETURN(app->server_,
                   http::Server::Start(options, [pipeline](http::Request& r) { return pipeline->Handle(r); }));

  App* raw = app.get();
  app->housekeeping_ = std::thread([raw] {
    while (!raw->stopping_.load()) {
      for (int i = 0; i < 10 && !raw->stopping_.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      absl::Status s = raw->services_.key_usage.Flush(*raw->services_.store);
      if (!s.ok()) spdlog::warn("could not record key use: {}", std::string(s.message()));
      s = raw->services_.usage.Flush(*raw->services_.store);
      if (!s.ok()) spdlog::warn("could not record token usage: {}", std::string(s.message()));
    }
  });
  return app;
}

void App::Stop() {
  if (stopping_.exchange(true)) return;
  if (server_) server_->Stop();
  scheduler_.reset();  // ends every request, so their usage and records are in
  if (housekeeping_.joinable()) housekeeping_.join();
  services_.recorder->Flush();
}

App::~App() { Stop(); }

}  // namespace aperture
