#include "server/app.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "api/admin/admin_routes.h"
#include "api/files/files_routes.h"
#include "api/files/licence_routes.h"
#include "api/log/log_routes.h"
#include "api/me/me_routes.h"
#include "api/models/model_info_routes.h"
#include "api/openai/model_routes.h"
#include "api/openai/serving_routes.h"
#include "api/openness/openness_routes.h"
#include "api/ops/ops_routes.h"
#include "api/release/release_routes.h"
#include "api/research/research_routes.h"
#include "api/ui/ui_routes.h"
#include "core/hash.h"
#include "core/hex.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "filters/admission/research_scope_quota.h"
#include "filters/authn/authn_filter.h"
#include "filters/authz/authz_filter.h"
#include "filters/engine/engine_filter.h"
#include "filters/licence/licence_filter.h"
#include "filters/limits/parse_filter.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "store/open_store.h"
#include "translog/log_verifier.h"
#include "translog/note.h"

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

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every process on a store must hash API keys with the same hash.key and
// sign the log with the same signing.key (replicas get copies of one data
// directory's keys). A mismatch is refused at start, before it can turn
// every key away or publish checkpoints no verifier accepts.
absl::Status CheckKeysMatchStore(const DataDir& dir, const std::string& hash_secret, const std::string& public_key,
                                 Store& store, LogStore& log) {
  const std::string fingerprint = HexEncode(KeyedBlake2b(hash_secret, "aperture hash.key check"));
  ASSIGN_OR_RETURN(std::string stored, store.KeepSetting("hash_key_check", fingerprint));
  if (stored != fingerprint) {
    return absl::FailedPreconditionError(fmt::format(
        "{}/hash.key is not the key the API keys in {} were hashed with; every replica on one store needs the same "
        "hash.key and signing.key (docs/deploy.md)",
        dir.path, store::RedactLocation(dir.store_location())));
  }
  ASSIGN_OR_RETURN(std::optional<LogHead> head, log.Head());
  if (!head) return absl::OkStatus();
  absl::StatusOr<translog::NoteVerifier> verifier =
      translog::NoteVerifier::Parse(translog::Ed25519VerifierKey(head->origin, public_key));
  if (!verifier.ok() || !translog::OpenCheckpoint(head->checkpoint, *verifier).ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "the log in {} is signed by another key than {}; every replica on one store needs the same signing.key and "
        "hash.key (docs/deploy.md)",
        store::RedactLocation(dir.store_location()), dir.signing_key()));
  }
  return absl::OkStatus();
}

// Manifests and reports are signed with manifest.key, which every process
// on a store must share too: a replica with a key of its own would publish
// manifests that the key at /v1/signing-key does not verify.
absl::Status CheckManifestKeyMatchesStore(const DataDir& dir, const distribution::EcdsaP256Signer& key, Store& store) {
  const std::string hint = Sha256Hex(key.PublicPem());
  ASSIGN_OR_RETURN(std::string stored, store.KeepSetting("manifest_key_hint", hint));
  if (stored != hint) {
    return absl::FailedPreconditionError(fmt::format(
        "{} is not the key this store's manifests are signed with; every replica on one store needs the same "
        "manifest.key, signing.key and hash.key (docs/deploy.md)",
        dir.manifest_key()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const policy::Policy>> ParseStoredPolicy(const PolicyRecord& record) {
  const std::string base = std::filesystem::path(record.source).parent_path().string();
  absl::StatusOr<policy::Policy> p = policy::ParsePolicy(record.text, record.source, base);
  if (!p.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "the release policy in force ({}) no longer loads: {}; fix it, or start the server with --policy FILE",
        record.source, std::string(p.status().message())));
  }
  return std::make_shared<const policy::Policy>(*std::move(p));
}

}  // namespace

absl::Status Services::UsePolicyFile(const std::string& path, const std::string& actor) {
  std::error_code ec;
  const std::string source = std::filesystem::absolute(path, ec).string();
  ASSIGN_OR_RETURN(std::string text, ReadFile(source));
  PolicyRecord record{0, source, Sha256Hex(text), text, clock.NowSeconds()};
  ASSIGN_OR_RETURN(auto parsed, ParseStoredPolicy(record));
  ASSIGN_OR_RETURN(std::optional<PolicyRecord> current, store->CurrentPolicy());
  if (!current || current->sha256 != record.sha256 || current->source != record.source) {
    RETURN_IF_ERROR(store->SavePolicy(record));
    LogEvent e{"policy.changed",
               record.loaded_at,
               actor,
               "",
               "",
               "ok",
               "ok",
               CanonicalJson({{"sha256", record.sha256},
                              {"source", record.source},
                              {"previous_sha256", current ? Json(current->sha256) : Json(nullptr)}})};
    RETURN_IF_ERROR(recorder->RecordDurably(std::move(e)));
  }
  return release->SetPolicy(std::move(parsed));
}

absl::Status Services::ReloadPolicy(const std::string& actor) {
  ASSIGN_OR_RETURN(std::optional<PolicyRecord> current, store->CurrentPolicy());
  if (!current) return absl::FailedPreconditionError("no policy file is in force; start the server with --policy FILE");
  return UsePolicyFile(current->source, actor);
}

absl::Status Services::FollowStoredPolicy() {
  ASSIGN_OR_RETURN(std::optional<PolicyRecord> current, store->CurrentPolicy());
  if (!current || current->sha256 == release->policy()->sha256) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto parsed, ParseStoredPolicy(*current));
  return release->SetPolicy(std::move(parsed));
}

absl::StatusOr<std::unique_ptr<Services>> Services::Open(const DataDir& dir, const Config& config, const Clock& clock,
                                                         const std::string& policy_path) {
  ASSIGN_OR_RETURN(std::string secret, ReadHashSecret(dir));
  std::unique_ptr<Services> s(new Services(config, clock));
  ASSIGN_OR_RETURN(s->store, store::OpenStore(dir.store_location(), /*create=*/false));
  ASSIGN_OR_RETURN(std::string signing_key, ReadSigningKey(dir));
  s->log_public_key = signing_key.substr(32);
  ASSIGN_OR_RETURN(s->log_store, store::OpenLogStore(dir.store_location(), /*create=*/false));
  RETURN_IF_ERROR(CheckKeysMatchStore(dir, secret, s->log_public_key, *s->store, *s->log_store));
  translog::LogSequencer::Options log_options;
  log_options.background = true;  // requests before log commits, on a busy machine
  ASSIGN_OR_RETURN(s->recorder, translog::LogSequencer::Open(*s->log_store, std::move(signing_key), s->config.log.name,
                                                             s->clock, log_options));
  s->log = std::make_unique<translog::LogReader>(*s->log_store);
  s->hasher = std::make_unique<ApiKeyHasher>(std::move(secret));
  s->access = std::make_unique<AccessService>(*s->store, *s->recorder, *s->hasher, s->config, s->clock);
  s->authorizer = std::make_unique<Authorizer>(*s->store, s->config, s->clock);
  std::shared_ptr<const policy::Policy> in_force = std::make_shared<const policy::Policy>(policy::DefaultPolicy());
  if (policy_path.empty()) {
    ASSIGN_OR_RETURN(std::optional<PolicyRecord> stored, s->store->CurrentPolicy());
    if (stored) {
      ASSIGN_OR_RETURN(in_force, ParseStoredPolicy(*stored));
    }
  }
  s->release = std::make_unique<ReleaseService>(*s->store, *s->recorder, s->clock, std::move(in_force));
  ASSIGN_OR_RETURN(distribution::EcdsaP256Signer manifest_key, OpenManifestKey(dir));
  RETURN_IF_ERROR(CheckManifestKeyMatchesStore(dir, manifest_key, *s->store));
  s->distribution =
      std::make_unique<distribution::DistributionService>(*s->store, *s->recorder, s->clock, std::move(manifest_key));
  s->openness =
      std::make_unique<openness::OpennessService>(*s->store, *s->recorder, s->clock, s->config, *s->distribution);
  // Findings are not recorded by this build; the report says so (report/findings_summary.h).
  s->reports = std::make_unique<report::ReportService>(*s->store, *s->log, s->clock, *s->distribution, *s->openness,
                                                       report::NoFindingsTracked);
  if (!policy_path.empty()) RETURN_IF_ERROR(s->UsePolicyFile(policy_path));
  return s;
}

Services::~Services() {
  if (recorder) recorder->Flush();
  if (store) key_usage.Flush(*store).IgnoreError();
  if (store) usage.Flush(*store).IgnoreError();
}

App::App(Services& s, AppTestHooks hooks)
    : services_(s),
      backend_client_(std::make_unique<backends::BackendClient>()),
      remote_backends_(std::make_unique<backends::RemoteBackends>(*s.store, s.config.backends, *backend_client_)),
      limiters_(s.clock),
      research_limiter_(s.clock),
      research_desk_(*s.recorder, *s.log),
      scheduler_(std::make_unique<scheduler::Scheduler>(scheduler::SchedulerOptions{
          .threads = s.config.serving.threads,
          .max_active = static_cast<int>(s.config.serving.max_active),
          .max_waiting = static_cast<int>(s.config.serving.max_waiting),
          .prefill_tokens_per_step = static_cast<int>(s.config.serving.prefill_tokens_per_step),
          .job_tokens_per_step = static_cast<int>(s.config.serving.research_tokens_per_step),
          .models = {.max_context = static_cast<int>(s.config.serving.max_context)},
          .clock = &s.clock,
          .after_events = [this] { streams_.Flush(); },
          .engine_fault = std::move(hooks.engine_fault)})),
      evals_(std::make_unique<EvalService>(*s.store, *s.recorder, s.clock, *s.release, *scheduler_)),
      authenticator_(*s.store, *s.hasher, s.clock, s.key_usage),
      licence_gate_(*s.store),
      sessions_(*s.store, *s.recorder, *s.hasher, authenticator_, s.config, s.clock),
      deps_{.store = *s.store,
            .recorder = *s.recorder,
            .access = *s.access,
            .authorizer = *s.authorizer,
            .config = s.config,
            .metrics = metrics_,
            .clock = s.clock,
            .scheduler = *scheduler_,
            .streams = streams_,
            .usage = s.usage,
            .release = *s.release,
            .evals = *evals_,
            .distribution = *s.distribution,
            .openness = *s.openness,
            .reports = *s.reports,
            .sessions = sessions_,
            .log = *s.log,
            .log_public_key = s.log_public_key,
            .research = research_desk_,
            .reload_policy = [&s](const std::string& actor) { return s.ReloadPolicy(actor); },
            .readiness = [this] { return CheckReadiness(); },
            .backends = remote_backends_.get(),
            .backend_client = backend_client_.get()} {}

absl::StatusOr<std::unique_ptr<App>> App::Start(Services& services, const std::string& host, uint16_t port,
                                                AppTestHooks hooks) {
  std::unique_ptr<App> app(new App(services, std::move(hooks)));
  AddOpsRoutes(app->router_, app->deps_);
  AddModelRoutes(app->router_, app->deps_);
  AddServingRoutes(app->router_, app->deps_);
  AddAdminRoutes(app->router_, app->deps_);
  AddReleaseRoutes(app->router_, app->deps_);
  AddLicenceRoutes(app->router_, app->deps_);
  AddFilesRoutes(app->router_, app->deps_);
  AddOpennessRoutes(app->router_, app->deps_);
  AddResearchRoutes(app->router_, app->deps_);
  AddLogRoutes(app->router_, *services.log, services.log_public_key);
  AddMeRoutes(app->router_, app->deps_);
  AddModelInfoRoutes(app->router_, app->deps_);
  AddUiRoutes(app->router_);
  // The server publishes the log under its configured name.
  RETURN_IF_ERROR(services.recorder->AdoptOrigin(services.config.log.name));
  // Ceilings as the evidence stands, and evaluations a stop interrupted.
  RETURN_IF_ERROR(services.release->RefreshAll());
  RETURN_IF_ERROR(app->evals_->ResumeInterrupted());
  // Large subtree hashes in memory, so proofs read only a few small ones.
  absl::StatusOr<int64_t> warmed = services.log->Warm();
  if (!warmed.ok()) spdlog::warn("could not preload the log's tree hashes: {}", std::string(warmed.status().message()));

  // The request path, in order. Record runs last for every request.
  std::vector<std::unique_ptr<Filter>> chain;
  chain.push_back(std::make_unique<ParseFilter>(app->router_));
  chain.push_back(std::make_unique<AuthnFilter>(app->authenticator_, app->sessions_));
  chain.push_back(std::make_unique<AuthzFilter>(*services.authorizer));
  chain.push_back(std::make_unique<EngineFilter>());
  // Every admission decision about a caller, in order (docs/config.md);
  // further quotas (fine-tuning) join this list.
  std::vector<std::unique_ptr<Quota>> quotas;
  quotas.push_back(std::make_unique<RequestRateQuota>(app->limiters_, services.config));
  quotas.push_back(std::make_unique<TokenRateQuota>(app->limiters_, services.config));
  quotas.push_back(std::make_unique<ResearchScopeQuota>(services.config, *services.store, app->research_limiter_,
                                                        app->research_quota_, services.clock));
  chain.push_back(std::make_unique<AdmissionFilter>(std::move(quotas)));
  // After admission (it reads the store); a refusal gives the charges back.
  chain.push_back(std::make_unique<LicenceFilter>(app->licence_gate_));
  app->pipeline_ = std::make_unique<Pipeline>(
      std::move(chain), RecordFilter(*services.recorder, app->metrics_, services.clock), services.clock);

  const ServerConfig& sc = services.config.server;
  http::ServerOptions options;
  options.host = host;
  options.port = port;
  options.threads = sc.threads;
  options.max_header_bytes = static_cast<size_t>(sc.max_header_bytes);
  options.max_body_bytes = static_cast<size_t>(sc.max_body_bytes);
  options.header_timeout = std::chrono::milliseconds(sc.header_timeout_ms);
  options.body_timeout = std::chrono::milliseconds(sc.body_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(sc.idle_timeout_ms);
  options.max_connections = static_cast<size_t>(sc.max_connections);
  Pipeline* pipeline = app->pipeline_.get();
  options.on_transport_answer = [pipeline](const http::TransportAnswer& a) {
    return pipeline->RecordTransportAnswer(a.status, a.code);
  };
  ASSIGN_OR_RETURN(app->server_,
                   http::Server::Start(options, [pipeline](http::Request& r) { return pipeline->Handle(r); }));
  app->streams_.Attach([server = app->server_.get()](std::function<void()> fn) { server->Post(std::move(fn)); });

  app->replica_ = ReplicaRecord{NewId("rep"), fmt::format("{}:{}", host, app->server_->port()),
                                services.clock.NowSeconds(), services.clock.NowSeconds()};
  app->Heartbeat();
  app->remote_backends_->Start();
  App* raw = app.get();
  app->preload_ = std::thread([raw] { raw->Preload(); });
  app->housekeeping_ = std::thread([raw] {
    while (!raw->stopping_.load()) {
      for (int i = 0; i < 10 && !raw->stopping_.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      absl::Status s = raw->services_.key_usage.Flush(*raw->services_.store);
      if (!s.ok()) spdlog::warn("could not record key use: {}", std::string(s.message()));
      s = raw->services_.usage.Flush(*raw->services_.store);
      if (!s.ok()) spdlog::warn("could not record token usage: {}", std::string(s.message()));
      s = raw->Tick();
      if (!s.ok()) spdlog::warn("release policy: {}", std::string(s.message()));
      raw->Heartbeat();
    }
  });
  return app;
}

void App::Heartbeat() {
  const int64_t now = services_.clock.NowSeconds();
  replica_.seen_at = now;
  absl::Status saved = services_.store->SaveReplica(replica_);
  if (!saved.ok()) spdlog::warn("could not refresh this replica's row: {}", std::string(saved.message()));
  absl::StatusOr<std::vector<ReplicaRecord>> live = services_.store->ListReplicas(now - kReplicaTimeoutSeconds);
  if (!live.ok()) return;  // keep the last share
  int replicas = 0;
  bool self = false;
  for (const ReplicaRecord& r : *live) {
    ++replicas;
    self |= r.id == replica_.id;
  }
  if (!self) ++replicas;  // this one counts even when its row could not be written
  if (replicas != limiters_.replicas()) {
    spdlog::info("{} replica(s) share this store: each allows 1/{} of every rate limit", replicas, replicas);
  }
  limiters_.SetReplicas(replicas);
  research_limiter_.SetReplicas(replicas);
}

void App::Preload() {
  absl::StatusOr<std::vector<Model>> models = services_.store->ListModels();
  if (!models.ok()) return;
  {
    absl::MutexLock lock(&loads_mu_);
    for (const Model& m : *models) {
      if (!m.path.empty()) loads_[m.id] = "loading";
    }
  }
  for (const Model& m : *models) {
    if (m.path.empty() || stopping_.load()) continue;
    absl::Status s = scheduler_->RegisterModel(m.id, m.path);
    if (absl::IsAlreadyExists(s)) s = absl::OkStatus();
    if (s.ok()) s = scheduler_->GetModel(m.id).status();
    if (!s.ok()) spdlog::warn("model {} did not load: {}", m.id, std::string(s.message()));
    absl::MutexLock lock(&loads_mu_);
    loads_[m.id] = s.ok() ? "loaded" : "failed: " + std::string(s.message());
  }
}

Readiness App::CheckReadiness() {
  Readiness r;
  r.ready = true;
  auto check = [&](const char* name, const absl::Status& s) {
    r.checks[name] = s.ok() ? "ok" : std::string(s.message());
    r.ready = r.ready && s.ok();
  };
  check("store", services_.store->Ping());
  check("log", services_.recorder->health());
  Json models = Json::object();
  {
    absl::MutexLock lock(&loads_mu_);
    for (const auto& [id, state] : loads_) {
      models[id] = state;
      // A model that failed to load is reported, not waited for: one bad
      // file must not take every replica out of service.
      r.ready = r.ready && state != "loading";
    }
  }
  r.checks["models"] = std::move(models);
  r.checks["replicas"] = limiters_.replicas();
  return r;
}

absl::Status App::Tick() {
  RETURN_IF_ERROR(services_.FollowStoredPolicy());
  return services_.release->AdvanceDue().status();
}

void App::Stop() {
  if (stopping_.exchange(true)) return;
  if (server_) server_->Stop();
  // The server cancelled the streams it was sending: completions proxied to
  // backends end, and are recorded, on the client's threads.
  for (int i = 0; i < 200 && remote_backends_->in_flight() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  remote_backends_->Stop();
  backend_client_->Stop();  // no backend callback from here on
  if (preload_.joinable()) preload_.join();
  evals_.reset();         // stops background evaluations (they resume at the next start)
  scheduler_.reset();     // ends every request, so their usage and records are in
  research_desk_.Stop();  // answers and records the research jobs that ended
  if (housekeeping_.joinable()) housekeeping_.join();
  if (!replica_.id.empty()) services_.store->RemoveReplica(replica_.id).IgnoreError();
  services_.recorder->Flush();
}

App::~App() { Stop(); }

}  // namespace aperture
