// ApiDeps: what route handlers may use. Handlers never see HTTP transport
// details beyond Request/Response, nor the engine's threads.
#pragma once

#include <functional>

#include "access/access_service.h"
#include "access/authorizer.h"
#include "access/session_service.h"
#include "access/usage_meter.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "api/openai/event_stream.h"
#include "api/research/research_desk.h"
#include "backends/backend_client.h"
#include "backends/remote_backends.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json.h"
#include "distribution/distribution_service.h"
#include "filters/metrics.h"
#include "openness/openness_service.h"
#include "release/eval_service.h"
#include "release/release_service.h"
#include "report/report_service.h"
#include "scheduler/scheduler.h"
#include "translog/log_reader.h"

namespace aperture {

// What GET /readyz reports: each check ("ok", or why not) and whether the
// server should get traffic now.
struct Readiness {
  bool ready = false;
  Json checks = Json::object();
};

struct ApiDeps {
  Store& store;
  Recorder& recorder;
  AccessService& access;
  const Authorizer& authorizer;
  const Config& config;
  Metrics& metrics;
  const Clock& clock;
  scheduler::Scheduler& scheduler;
  StreamNotifier& streams;  // batches the scheduler's stream chunks per step
  UsageMeter& usage;
  ReleaseService& release;
  EvalService& evals;
  distribution::DistributionService& distribution;  // licences, files, manifests
  openness::OpennessService& openness;
  report::ReportService& reports;
  const SessionService& sessions;     // browser sign-in (the web interface)
  translog::LogReader& log;           // the transparency log, for a principal's own entries
  const std::string& log_public_key;  // the Ed25519 key that signs its checkpoints
  ResearchDesk& research;             // formats, records and answers research results off the scheduler's thread
  // Re-reads the policy file, recording `actor` as who changed it; keeps the
  // old policy on error.
  std::function<absl::Status(const std::string& actor)> reload_policy;
  // Store reachable, log sequencing known, models loaded (the server's).
  std::function<Readiness()> readiness;
  // Remote backends of models and the client that reaches them (null: none;
  // tests of single routes).
  backends::RemoteBackends* backends = nullptr;
  backends::BackendClient* backend_client = nullptr;
};

}  // namespace aperture
