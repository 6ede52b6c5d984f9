// Engine jobs (engine_job.h): admission, and their share of a step (the
// entries resumed at a layer, run in forward calls of their own, and the
// jobs' own engine work). Their layer-0 entries join the serving batch in
// scheduler.cpp.
#include <map>

#include "core/status_macros.h"
#include "scheduler/work.h"

namespace aperture::scheduler {

absl::StatusOr<RequestId> Scheduler::SubmitJob(JobRequest request) {
  if (request.job == nullptr) return absl::InvalidArgumentError("a job request needs a job");
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedModel> model, models_.Get(request.model));
  auto w = std::make_unique<Work>();
  w->job = std::move(request.job);
  w->slots = 1;
  w->deadline_micros = request.deadline_micros;
  w->model = std::move(model);
  return Enqueue(std::move(w));
}

std::vector<Scheduler::JobEntry> Scheduler::PlanJobs(const LoadedModel& model, int budget) {
  std::vector<JobEntry> out;
  for (auto& w : active_) {
    if (budget <= 0) break;
    if (!w->job || w->finished || w->model.get() != &model) continue;
    std::vector<EngineJob::Entry> planned;
    w->job->Plan(budget, planned);
    for (EngineJob::Entry& e : planned) {
      budget -= static_cast<int>(e.batch.tokens.size());
      out.push_back({w.get(), std::move(e)});
    }
  }
  return out;
}

void Scheduler::RunJobs(const LoadedModel& model, engine::Runner& runner, std::vector<JobEntry>& resumed, int budget) {
  std::map<int, std::vector<JobEntry*>> by_layer;
  for (JobEntry& je : resumed) by_layer[je.entry.batch.first_layer].push_back(&je);
  for (auto& [layer, group] : by_layer) {
    std::vector<engine::BatchEntry> batch;
    std::vector<const engine::Hooks*> hooks;
    for (JobEntry* je : group) {
      if (je->work->finished) continue;
      batch.push_back(je->entry.batch);
      hooks.push_back(je->entry.hooks);
    }
    if (batch.empty()) continue;
    const auto start = std::chrono::steady_clock::now();
    const engine::Hooks per_entry = engine::PerEntryHooks(hooks, model.model->config().n_layers);
    const absl::Status status = Forward(runner, batch, &per_entry);
    step_engine_seconds_ += SecondsSince(start);
    int index = 0;
    for (JobEntry* je : group) {
      if (je->work->finished) continue;
      if (!status.ok()) {
        FinishRequest(*je->work, FinishReason::kError, status);
      } else {
        step_job_tokens_ += je->entry.batch.tokens.size();
        if (je->entry.on_logits) je->entry.on_logits(runner, index);
      }
      ++index;
    }
  }
  for (auto& w : active_) {
    if (!w->job || w->finished || w->model.get() != &model) continue;
    const auto start = std::chrono::steady_clock::now();
    w->job->Work(runner, budget);
    step_engine_seconds_ += SecondsSince(start);
    if (w->job->Done()) FinishRequest(*w, FinishReason::kStop, {});
  }
}

}  // namespace aperture::scheduler
