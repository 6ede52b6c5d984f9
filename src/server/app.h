// App: builds the server from its parts and owns their lifetimes. This is the
// only place that knows every part; the request chain is assembled here.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "access/access_service.h"
#include "access/authenticator.h"
#include "access/authorizer.h"
#include "access/key_usage.h"
#include "access/licence_gate.h"
#include "access/research_quota.h"
#include "access/session_service.h"
#include "access/usage_meter.h"
#include "aperture/log_store.h"
#include "aperture/store.h"
#include "api/api_deps.h"
#include "api/research/research_desk.h"
#include "backends/backend_client.h"
#include "backends/remote_backends.h"
#include "config/config.h"
#include "distribution/distribution_service.h"
#include "filters/admission/rate_quotas.h"
#include "filters/metrics.h"
#include "filters/pipeline.h"
#include "filters/route.h"
#include "http/server.h"
#include "openness/openness_service.h"
#include "release/eval_service.h"
#include "release/release_service.h"
#include "report/report_service.h"
#include "scheduler/scheduler.h"
#include "server/data_dir.h"
#include "translog/log_reader.h"
#include "translog/sequencer.h"

namespace aperture {

// The long-lived parts shared by the CLI and the server. Thread-safe.
class Services {
 public:
  // Opens the store and the log, and puts a release policy in force: the
  // file at `policy_path` when given (saved in the store so every process on
  // the data directory applies it), else the one in force, else the default.
  static absl::StatusOr<std::unique_ptr<Services>> Open(const DataDir& dir, const Config& config,
                                                        const Clock& clock = SystemClock::Get(),
                                                        const std::string& policy_path = "");
  ~Services();

  Config config;
  const Clock& clock;
  // SQLite (DATA/aperture.db) or PostgreSQL (DataDir::store).
  std::unique_ptr<Store> store;
  // The transparency log: every recorded event is a log entry.
  std::unique_ptr<LogStore> log_store;
  std::unique_ptr<translog::LogSequencer> recorder;
  std::unique_ptr<translog::LogReader> log;
  std::string log_public_key;  // the Ed25519 key that signs checkpoints
  std::unique_ptr<ApiKeyHasher> hasher;
  KeyUsage key_usage;
  UsageMeter usage;
  std::unique_ptr<AccessService> access;
  std::unique_ptr<Authorizer> authorizer;
  std::unique_ptr<ReleaseService> release;
  // Licences, model files and signed manifests; openness cards; reports.
  std::unique_ptr<distribution::DistributionService> distribution;
  std::unique_ptr<openness::OpennessService> openness;
  std::unique_ptr<report::ReportService> reports;

  // Reads the policy file at `path` and, if it is valid, puts it in force
  // (recorded as policy.changed by `actor`, a principal id or "cli" for the
  // operator's console, when it differs from the one in force); a bad file
  // changes nothing.
  absl::Status UsePolicyFile(const std::string& path, const std::string& actor = "cli");
  // Re-reads the file of the policy in force (SIGHUP as "cli", an owner's
  // request as that owner).
  absl::Status ReloadPolicy(const std::string& actor);
  // Adopts the policy another process on the data directory put in force.
  absl::Status FollowStoredPolicy();

 private:
  Services(const Config& c, const Clock& clk) : config(c), clock(clk) {}
};

// Seams for tests; `aperture serve` leaves them unset.
struct AppTestHooks {
  std::function<absl::Status()> engine_fault;  // see SchedulerOptions::engine_fault
};

// A running HTTP server over Services.
class App {
 public:
  static absl::StatusOr<std::unique_ptr<App>> Start(Services& services, const std::string& host, uint16_t port,
                                                    AppTestHooks hooks = {});
  ~App();
  uint16_t port() const { return server_->port(); }
  // The request path without the network: what the server answers to
  // `request` (the whole-server fuzz target drives this).
  http::Response Handle(http::Request& request) { return pipeline_->Handle(request); }
  void Stop();
  // The periodic release work: follow a policy another process put in
  // force, advance stages whose gates opened. Runs every second.
  absl::Status Tick();
  // What GET /readyz answers.
  Readiness CheckReadiness();
  // This server among the replicas sharing its store.
  const std::string& replica_id() const { return replica_.id; }

  // A replica that has not refreshed its row for this long is gone: its
  // share of the rate limits passes to the others.
  static constexpr int64_t kReplicaTimeoutSeconds = 5;

 private:
  App(Services& s, AppTestHooks hooks);
  // Refreshes this replica's row and sets the rate limiters' share from the
  // replicas seen alive (every second, and at start).
  void Heartbeat();
  // Loads every model the store names a file for, so the first request
  // does not wait (GET /readyz waits for it instead).
  void Preload();
  Services& services_;
  // Before everything that holds its exchanges (the server's streams), so
  // it goes last; stopped first (Stop), so no callback outlives the rest.
  std::unique_ptr<backends::BackendClient> backend_client_;
  std::unique_ptr<backends::RemoteBackends> remote_backends_;
  Metrics metrics_;
  CallerLimiters limiters_;
  RateLimiter research_limiter_;  // research forward-pass tokens per minute
  ResearchQuota research_quota_;
  StreamNotifier streams_;      // before the scheduler, which flushes it after each step
  ResearchDesk research_desk_;  // before the scheduler, whose research jobs end on it
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<EvalService> evals_;
  Authenticator authenticator_;
  LicenceGate licence_gate_;
  SessionService sessions_;  // the web interface's sign-in
  ApiDeps deps_;
  Router router_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<http::Server> server_;
  std::atomic<bool> stopping_{false};
  ReplicaRecord replica_;
  absl::Mutex loads_mu_;
  // Model id -> "loading", "loaded" or "failed: why", for the models the
  // store named at start.
  std::map<std::string, std::string> loads_ ABSL_GUARDED_BY(loads_mu_);
  std::thread preload_;
  std::thread housekeeping_;
};

}  // namespace aperture
