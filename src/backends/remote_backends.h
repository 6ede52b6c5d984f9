// RemoteBackends: the servers each model's hosted and api traffic may go to
// (the model_backends table, re-read every second so every replica follows
// the admin API and the CLI), their health as this replica sees it, and the
// order to try them in for one request.
//
// Health: every remote backend is probed for liveness (GET /v1/models
// answering 200) every health_interval_ms, and for readiness (a real
// one-token chat completion answering 200 with a choice) every
// ready_interval_ms; a failed probe takes it out of rotation until a probe
// passes. Requests feed a circuit breaker per backend (circuit_breaker.h);
// once an open circuit's time is up, a passing readiness probe closes it
// (as a trial request would). A backend whose token
// variable (api_key_env) is unset on this replica is out of rotation and
// says so.
//
// Routing: Plan() orders the usable backends by weighted random choice
// without replacement: a backend of weight w comes first w/W of the time,
// so traffic follows the weights, and a failure moves the request to the
// next. The row "embedded" stands for this server's own engine.
//
// Usage:
//   RemoteBackends backends(store, config.backends, client);
//   backends.Start();  // reads the table, starts probing
//   RemoteBackends::Plan plan = backends.PlanFor("llama", /*embedded_possible=*/true);
//   for (const auto& c : plan.order) { if (!backends.Begin(c.id)) continue; ...; backends.Report(c.id, ok); }
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "aperture/store.h"
#include "backends/backend_client.h"
#include "backends/circuit_breaker.h"
#include "config/config.h"
#include "core/http_url.h"
#include "core/json.h"

namespace aperture::backends {

class RemoteBackends {
 public:
  RemoteBackends(Store& store, const BackendsConfig& config, BackendClient& client);
  // Stops probing; a probe still in flight then finds no one to tell.
  ~RemoteBackends();

  // Reads the table and starts probing (and re-reading every second).
  void Start();
  // Stops starting probes (those in flight end with the client).
  void Stop();
  // Re-reads the table now (the admin API calls it after a change here).
  absl::Status Refresh();

  struct Candidate {
    std::string id;
    bool embedded = false;
    HttpUrl url;
    std::string api_model;
    std::string bearer;  // from the environment variable the row names
  };
  struct Skipped {
    std::string id;
    std::string why;  // a code for the log: circuit_open, not_live, not_ready, no_token, no_model_file
  };
  struct Plan {
    bool configured = false;  // the model has backend rows; otherwise only its own engine serves it
    std::vector<Candidate> order;
    std::vector<Skipped> skipped;
    int64_t retry_after_seconds = 1;  // when `order` is empty: when to try again
  };
  // `embedded_possible`: the model has a file this server's engine can load.
  Plan PlanFor(const std::string& model_id, bool embedded_possible);
  // Whether a request may go to the backend now (an open circuit's one
  // trial is taken here); every Begin is followed by one Report.
  bool Begin(const std::string& backend_id);
  // The request's outcome, as far as the backend is concerned: ok when it
  // answered (even with a 4xx about the request), not when it failed,
  // timed out or answered 5xx.
  void Report(const std::string& backend_id, bool ok);

  // Each backend of the model ("" = every model) with its weight, health
  // and circuit as this replica sees them (the admin API).
  Json Describe(const std::string& model_id);
  // Requests sent and not yet reported, over every backend.
  int64_t in_flight();

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct State {
    ModelBackend row;
    std::optional<HttpUrl> url;  // unset for "embedded" (or a row that no longer parses)
    std::string bearer;
    std::string token_problem;  // why the row cannot be used on this replica
    CircuitBreaker breaker;
    std::optional<bool> live, ready;  // unknown until probed
    std::string last_error;
    SteadyTime next_live{}, next_ready{};
    bool live_probe_out = false, ready_probe_out = false;
    int64_t in_flight = 0;
    explicit State(CircuitBreaker b) : breaker(b) {}
  };

  void Run();
  void Probe(const std::string& id, bool readiness) ABSL_LOCKS_EXCLUDED(mu_);
  void ProbeDone(const std::string& id, bool readiness, bool ok, const std::string& error);
  static int64_t NowMicros();

  // What a probe's callback reaches this through: cut when this goes.
  struct Lifeline {
    absl::Mutex mu;
    RemoteBackends* owner ABSL_GUARDED_BY(mu);
  };

  Store& store_;
  const BackendsConfig config_;
  std::shared_ptr<Lifeline> lifeline_;
  BackendClient& client_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<State>> backends_ ABSL_GUARDED_BY(mu_);  // by backend id
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace aperture::backends
