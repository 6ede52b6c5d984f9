#include "research/patch_job.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aperture::research {

PatchJob::PatchJob(PatchPlan plan, std::function<void(absl::StatusOr<PatchResult>)> done)
    : plan_(std::move(plan)), done_(std::move(done)) {
  const engine::LlamaConfig& c = plan_.model->model->config();
  n_ = static_cast<int>(plan_.clean.size());
  layers_ = c.n_layers;
  for (int m = 0; m < static_cast<int>(plan_.sites.size()); ++m) {
    const PatchSite& ps = plan_.sites[m];
    PatchMatrix matrix;
    matrix.pattern = ps.pattern;
    matrix.per_head = ps.per_head;
    for (int r = 0; r < static_cast<int>(ps.sites.size()); ++r) {
      const SiteRef& site = ps.sites[r];
      matrix.sites.push_back(site.name);
      const int columns = ps.per_head ? DimsOf(site.shape(), c).heads : n_;
      matrix.raw.emplace_back(ps.per_head ? ps.heads : n_, NAN);
      for (int col = 0; col < columns; ++col) {
        Run run{m, r, col, &site, ResumeLayer(site), ps.per_head ? 0 : col, {}};
        run.patch.site = site;
        run.patch.op = Op::kPatch;
        if (ps.per_head) {
          run.patch.heads = {col};
        } else {
          run.patch.at_position.assign(n_, 0);
          run.patch.at_position[col] = 1;
        }
        runs_.push_back(std::move(run));
      }
    }
    result_.matrices.push_back(std::move(matrix));
  }
  // Runs resuming at the same block share forward calls.
  std::stable_sort(runs_.begin(), runs_.end(), [](const Run& a, const Run& b) { return a.layer < b.layer; });

  clean_seq_ = std::make_unique<engine::Sequence>(c, n_);
  corrupted_seq_ = std::make_unique<engine::Sequence>(c, n_);
  AddInterventions(clean_hooks_);
  AddInterventions(corrupted_hooks_);
  for (const PatchSite& ps : plan_.sites) {
    for (const SiteRef& site : ps.sites) {
      if (clean_values_.contains(site.name)) continue;
      auto values = std::make_unique<SiteValues>(site, c, n_);
      SiteValues* raw = values.get();
      clean_values_[site.name] = std::move(values);
      clean_hooks_.Add(site.point, site.layer, [raw](const engine::ActivationView& v) { raw->Take(v); });
    }
  }
  corrupted_resid_.assign(static_cast<size_t>(layers_ + 1) * n_ * c.dim, 0.f);
  auto keep = [this, dim = c.dim](int slot) {
    return [this, slot, dim](const engine::ActivationView& v) {
      for (int r = 0; r < v.rows; ++r) {
        std::copy_n(v.row(r), dim, &corrupted_resid_[(static_cast<size_t>(slot) * n_ + v.position[r]) * dim]);
      }
    };
  };
  for (int l = 0; l < layers_; ++l) corrupted_hooks_.Add(engine::HookPoint::kResidPre, l, keep(l));
  corrupted_hooks_.Add(engine::HookPoint::kResidPost, layers_ - 1, keep(layers_));
  for (int i = 0; i < std::min<int>(kPatchWorkSequences, static_cast<int>(runs_.size())); ++i) {
    auto w = std::make_unique<Worker>();
    w->seq = std::make_unique<engine::Sequence>(c, n_);
    workers_.push_back(std::move(w));
  }
}

PatchJob::~PatchJob() = default;

int PatchJob::ResumeLayer(const SiteRef& site) const {
  if (site.layer >= 0) return site.layer;
  return site.point == engine::HookPoint::kEmbed ? 0 : layers_;
}

void PatchJob::AddInterventions(engine::Hooks& hooks) const {
  const engine::LlamaConfig& c = plan_.model->model->config();
  for (const SiteIntervention& iv : plan_.interventions) {
    hooks.Add(iv.site.point, iv.site.layer, [&iv, dims = DimsOf(iv.site.shape(), c)](const engine::ActivationView& v) {
      ApplyIntervention(iv, dims, v, nullptr);
    });
  }
}

double PatchJob::Metric(std::span<const float> logits) const {
  if (plan_.metric == Metric::kLogitDiff) {
    return static_cast<double>(logits[plan_.metric_tokens[0]]) - static_cast<double>(logits[plan_.metric_tokens[1]]);
  }
  return LogSoftmaxAt(logits.data(), static_cast<int>(logits.size()), plan_.metric_tokens[0]);
}

void PatchJob::PlanBaseRuns(int& budget, std::vector<Entry>& entries) {
  struct Base {
    engine::Sequence* seq;
    engine::Hooks* hooks;
    const std::vector<int32_t>* tokens;
    int* fed;
    bool* done;
    double* metric;
  };
  for (Base b : {Base{clean_seq_.get(), &clean_hooks_, &plan_.clean, &clean_fed_, &clean_done_, &result_.clean},
                 Base{corrupted_seq_.get(), &corrupted_hooks_, &plan_.corrupted, &corrupted_fed_, &corrupted_done_,
                      &result_.corrupted}}) {
    if (*b.done || budget <= 0) continue;
    const int k = std::min(budget, n_ - *b.fed);
    budget -= k;
    Entry e;
    e.batch = {b.seq, std::span<const int32_t>(*b.tokens).subspan(*b.fed, k)};
    e.hooks = b.hooks;
    e.on_logits = [this, b, k](const engine::Runner& runner, int index) {
      *b.fed += k;
      forward_tokens_ += k;
      if (*b.fed < n_) return;
      *b.done = true;
      *b.metric = Metric(runner.Logits(index));
    };
    entries.push_back(std::move(e));
  }
}

// Readies a worker for `run`: the corrupted cache of blocks run.layer.. up
// to run.position, and hooks that apply the interventions and the patch.
void PatchJob::Start(Worker& w, const Run& run) {
  const engine::LlamaConfig& c = plan_.model->model->config();
  const size_t bytes = static_cast<size_t>(run.position) * c.kv_dim() * sizeof(float);
  for (int l = run.layer; l < layers_ && bytes > 0; ++l) {
    std::memcpy(w.seq->key(l, 0), corrupted_seq_->key(l, 0), bytes);
    std::memcpy(w.seq->value(l, 0), corrupted_seq_->value(l, 0), bytes);
  }
  w.seq->Clear();
  w.seq->Advance(run.position);
  w.hooks = engine::Hooks();
  AddInterventions(w.hooks);
  const SiteValues* clean = clean_values_.at(run.site->name).get();
  w.hooks.Add(run.site->point, run.site->layer,
              [&run, clean, dims = DimsOf(run.site->shape(), c)](const engine::ActivationView& v) {
                ApplyIntervention(run.patch, dims, v, clean);
              });
  w.run = &run;
  w.cursor = run.position;
}

void PatchJob::Plan(int budget, std::vector<Entry>& entries) {
  if (!clean_done_ || !corrupted_done_) {
    PlanBaseRuns(budget, entries);
    return;
  }
  const int dim = plan_.model->model->config().dim;
  for (auto& holder : workers_) {
    Worker& w = *holder;
    if (budget <= 0) break;
    if (w.run == nullptr) {
      if (next_run_ >= runs_.size()) continue;
      Start(w, runs_[next_run_++]);
    }
    const Run& run = *w.run;
    const int k = std::min(budget, n_ - w.cursor);
    budget -= k;
    Entry e;
    e.batch.sequence = w.seq.get();
    e.batch.tokens = std::span<const int32_t>(plan_.corrupted).subspan(w.cursor, k);
    if (run.site->point != engine::HookPoint::kEmbed) {  // hook_embed runs from the tokens
      e.batch.first_layer = run.layer;
      e.batch.resid_in =
          std::span<const float>(corrupted_resid_)
              .subspan((static_cast<size_t>(run.layer) * n_ + w.cursor) * dim, static_cast<size_t>(k) * dim);
    }
    e.hooks = &w.hooks;
    e.on_logits = [this, &w, k](const engine::Runner& runner, int index) {
      const Run& r = *w.run;
      w.cursor += k;
      forward_tokens_ += static_cast<double>(k) * std::max(layers_ - r.layer, 1) / layers_;
      if (w.cursor < n_) return;
      result_.matrices[r.matrix].raw[r.row][r.column] = Metric(runner.Logits(index));
      ++runs_done_;
      w.run = nullptr;
    };
    entries.push_back(std::move(e));
  }
}

bool PatchJob::Done() const {
  return clean_done_ && corrupted_done_ && runs_done_ == static_cast<int64_t>(runs_.size());
}

void PatchJob::Finish(absl::Status status) {
  auto done = std::move(done_);
  if (!done) return;
  workers_.clear();
  clean_seq_.reset();
  corrupted_seq_.reset();
  if (!status.ok()) {
    done(status);
    return;
  }
  result_.patched_runs = runs_done_;
  result_.forward_tokens = static_cast<int64_t>(std::ceil(forward_tokens_));
  done(std::move(result_));
}

}  // namespace aperture::research
