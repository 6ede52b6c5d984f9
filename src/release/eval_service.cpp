#include "release/eval_service.h"

#include "core/random.h"
#include "core/status_macros.h"
#include "evals/suite_parser.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace aperture {

EvalService::EvalService(Store& store, Recorder& recorder, const Clock& clock, ReleaseService& release,
                         scheduler::Scheduler& scheduler)
    : store_(store), recorder_(recorder), clock_(clock), release_(release), scheduler_(scheduler) {}

EvalService::~EvalService() {
  stopping_ = true;
  std::map<std::string, std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(running_);
  }
  for (auto& [id, t] : threads) t.join();
}

absl::StatusOr<EvalRun> EvalService::Prepare(const Caller& actor, const std::string& model_id,
                                             const evals::Suite& suite, const std::string& suite_path) {
  ASSIGN_OR_RETURN(std::optional<Model> model, store_.FindModel(model_id));
  if (!model) return absl::NotFoundError(fmt::format("no model with id '{}'", model_id));
  ASSIGN_OR_RETURN(std::vector<EvalRun> runs, store_.ListEvalRuns(model_id));
  for (const EvalRun& r : runs) {
    if (r.state == EvalRunState::kRunning && r.suite_sha256 == suite.info.sha256) return r;
  }
  EvalRun run;
  run.id = NewId("evr");
  run.model_id = model_id;
  run.suite_name = suite.info.name;
  run.suite_domain = suite.info.domain;
  run.suite_version = suite.info.version;
  run.suite_sha256 = suite.info.sha256;
  run.suite_path = suite_path;
  run.total_items = static_cast<int64_t>(suite.info.items);
  run.started_by = actor.actor();
  run.created_at = clock_.NowSeconds();
  RETURN_IF_ERROR(store_.CreateEvalRun(run));
  return run;
}

absl::StatusOr<EvalRun> EvalService::RunNow(const Caller& actor, const std::string& model_id,
                                            const std::string& suite_path,
                                            const std::function<void(const evals::Progress&)>& progress,
                                            const std::atomic<bool>* cancel) {
  ASSIGN_OR_RETURN(evals::Suite suite, evals::LoadSuite(suite_path));
  ASSIGN_OR_RETURN(EvalRun run, Prepare(actor, model_id, suite, suite_path));
  return Execute(std::move(run), suite, progress, cancel ? cancel : &stopping_);
}

absl::StatusOr<EvalRun> EvalService::Start(const Caller& actor, const std::string& model_id,
                                           const std::string& suite_name) {
  std::shared_ptr<const policy::Policy> p = release_.policy();
  const policy::SuiteRule* rule = p->FindSuite(suite_name);
  if (!rule) {
    return absl::InvalidArgumentError(fmt::format(
        "'{}' is not a suite of this server's release policy; runs over HTTP use the policy's suites", suite_name));
  }
  ASSIGN_OR_RETURN(evals::Suite suite, evals::LoadSuite(rule->file));
  if (suite.info.name != suite_name) {
    return absl::FailedPreconditionError(fmt::format("the policy's file for suite '{}' ({}) names itself '{}'",
                                                     suite_name, rule->file, suite.info.name));
  }
  ASSIGN_OR_RETURN(EvalRun run, Prepare(actor, model_id, suite, rule->file));
  {
    absl::MutexLock lock(&mu_);
    if (running_.contains(run.id)) return run;  // already under way
  }
  Launch(run, std::move(suite));
  return run;
}

absl::Status EvalService::ResumeInterrupted() {
  ASSIGN_OR_RETURN(std::vector<EvalRun> runs, store_.ListEvalRuns(""));
  for (const EvalRun& run : runs) {
    if (run.state != EvalRunState::kRunning) continue;
    absl::StatusOr<evals::Suite> suite = evals::LoadSuite(run.suite_path);
    if (suite.ok() && suite->info.sha256 != run.suite_sha256) {
      suite = absl::FailedPreconditionError(fmt::format("{} changed since the run started", run.suite_path));
    }
    if (!suite.ok()) {
      EvalRun failed = run;
      failed.state = EvalRunState::kFailed;
      failed.finished_at = clock_.NowSeconds();
      failed.error = fmt::format("could not resume: {}", std::string(suite.status().message()));
      RETURN_IF_ERROR(store_.FinishEvalRun(failed));
      continue;
    }
    Launch(run, *std::move(suite));
  }
  return absl::OkStatus();
}

void EvalService::Launch(EvalRun run, evals::Suite suite) {
  absl::MutexLock lock(&mu_);
  const std::string id = run.id;
  running_[id] = std::thread([this, run = std::move(run), suite = std::move(suite)]() mutable {
    absl::StatusOr<EvalRun> done = Execute(std::move(run), suite, {}, &stopping_);
    if (!done.ok() && !absl::IsCancelled(done.status())) {
      spdlog::warn("evaluation run failed: {}", std::string(done.status().message()));
    }
  });
}

absl::StatusOr<EvalRun> EvalService::Find(const std::string& run_id) {
  ASSIGN_OR_RETURN(std::optional<EvalRun> run, store_.FindEvalRun(run_id));
  if (!run) return absl::NotFoundError(fmt::format("no evaluation run with id '{}'", run_id));
  absl::MutexLock lock(&mu_);
  if (finalizing_.contains(run_id)) run->state = EvalRunState::kRunning;
  return *std::move(run);
}

absl::StatusOr<EvalRun> EvalService::Execute(EvalRun run, const evals::Suite& suite,
                                             const std::function<void(const evals::Progress&)>& progress,
                                             const std::atomic<bool>* cancel) {
  ASSIGN_OR_RETURN(std::optional<Model> model, store_.FindModel(run.model_id));
  if (!model) return absl::NotFoundError(fmt::format("no model with id '{}'", run.model_id));
  absl::Status registered = scheduler_.RegisterModel(model->id, model->path);
  if (!registered.ok() && !absl::IsAlreadyExists(registered)) return registered;
  ASSIGN_OR_RETURN(auto stored, store_.ListEvalItems(run.id));
  std::vector<evals::ItemResult> done;
  done.reserve(stored.size());
  for (const auto& [index, text] : stored) {
    ASSIGN_OR_RETURN(Json json, ParseJson(text));
    ASSIGN_OR_RETURN(evals::ItemResult item, evals::ItemResultFromJson(json));
    done.push_back(std::move(item));
  }
  evals::EvalRunner runner(scheduler_);
  auto on_batch = [&](std::span<const evals::ItemResult> items) -> absl::Status {
    std::vector<std::pair<int64_t, std::string>> rows;
    for (const evals::ItemResult& r : items) rows.emplace_back(r.index, CanonicalJson(evals::ItemResultToJson(r)));
    return store_.AddEvalItems(run.id, rows);
  };
  absl::StatusOr<evals::RunResult> result = runner.Run(
      run.model_id, suite, std::move(done), on_batch, progress ? progress : [](const evals::Progress&) {}, cancel);
  if (absl::IsCancelled(result.status())) return result.status();  // stays running: resumable
  if (!result.ok()) {
    run.state = EvalRunState::kFailed;
    run.finished_at = clock_.NowSeconds();
    run.error = std::string(result.status().message());
    RETURN_IF_ERROR(store_.FinishEvalRun(run));
    return result.status();
  }
  return Finish(std::move(run), suite, *result);
}

absl::StatusOr<EvalRun> EvalService::Finish(EvalRun run, const evals::Suite& suite, const evals::RunResult& result) {
  std::shared_ptr<const policy::Policy> p = release_.policy();
  Json metrics = Json::object();
  for (const auto& [name, value] : result.metrics) metrics[name] = value;
  // The tier this run puts its domain at, under the policy in force.
  Json tiers = Json::object();
  for (const policy::Domain& domain : p->domains) {
    for (const policy::SuiteRule& rule : domain.suites) {
      if (rule.name != suite.info.name) continue;
      auto it = result.metrics.find(rule.metric);
      if (it != result.metrics.end()) tiers[domain.name] = policy::RiskTierName(policy::TierFor(rule, it->second));
    }
  }
  run.state = EvalRunState::kFinished;
  run.done_items = static_cast<int64_t>(result.items.size());
  run.metrics = CanonicalJson(metrics);
  run.tiers = CanonicalJson(tiers);
  run.results_sha256 = result.results_sha256;
  run.finished_at = clock_.NowSeconds();
  {
    absl::MutexLock lock(&mu_);
    finalizing_.insert(run.id);
  }
  absl::Status recorded = Record(run, metrics, tiers);
  absl::MutexLock lock(&mu_);
  finalizing_.erase(run.id);
  RETURN_IF_ERROR(recorded);
  return run;
}

absl::Status EvalService::Record(const EvalRun& run, const Json& metrics, const Json& tiers) {
  RETURN_IF_ERROR(store_.FinishEvalRun(run));
  LogEvent e;
  e.type = "eval.recorded";
  e.time = run.finished_at;
  e.actor = run.started_by;
  e.model = run.model_id;
  e.outcome = "ok";
  e.reason = "ok";
  e.details = CanonicalJson({{"run", run.id},
                             {"suite", run.suite_name},
                             {"suite_version", run.suite_version},
                             {"suite_domain", run.suite_domain},
                             {"suite_sha256", run.suite_sha256},
                             {"results_sha256", run.results_sha256},
                             {"items", run.done_items},
                             {"metrics", metrics},
                             {"tiers", tiers}});
  RETURN_IF_ERROR(recorder_.RecordDurably(std::move(e)));
  return release_.Refresh(run.model_id).status();
}

}  // namespace aperture
