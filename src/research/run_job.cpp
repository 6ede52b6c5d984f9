#include "research/run_job.h"

#include <algorithm>

#include "fmt/format.h"

namespace aperture::research {

struct RunJob::InputState {
  InputPlan* plan = nullptr;
  int index = 0;
  bool started = false;
  std::unique_ptr<engine::Sequence> seq;
  engine::Hooks hooks;
  std::vector<std::unique_ptr<Capturer>> capturers;
  std::map<std::string, std::unique_ptr<SiteValues>> sources;  // by site name
  std::vector<float> lens_resid;                               // [layer][lens position][dim]
  std::vector<int> lens_slot;                                  // per position: its lens slot, or -1
  int fed = 0;
  bool prompt_done = false;
  // Generation.
  std::optional<engine::Sampler> sampler;
  int32_t pending = -1;
  bool generating = false;
  // Logit lens rows done (layer-major).
  int64_t lens_done = 0;
  InputResult result;

  int n() const { return static_cast<int>(plan->tokens.size()); }
  int64_t lens_rows(int layers) const { return static_cast<int64_t>(layers) * plan->lens_positions.size(); }
};

RunJob::RunJob(RunPlan plan, std::function<void(absl::StatusOr<RunResult>)> done)
    : plan_(std::move(plan)), done_(std::move(done)) {
  for (size_t i = 0; i < plan_.inputs.size(); ++i) {
    auto in = std::make_unique<InputState>();
    in->plan = &plan_.inputs[i];
    in->index = static_cast<int>(i);
    in->result.tokens = in->plan->tokens;
    inputs_.push_back(std::move(in));
  }
}

RunJob::~RunJob() = default;

// Allocates the input's sequence and builds its hooks: interventions first,
// in request order, then the reads (they see what the model computes on).
void RunJob::Start(InputState& in) {
  const engine::LlamaConfig& c = plan_.model->model->config();
  const int gen = plan_.generate ? plan_.generate->max_tokens : 0;
  in.seq = std::make_unique<engine::Sequence>(c, in.n() + gen);
  in.started = true;
  for (const SiteIntervention& iv : in.plan->interventions) {
    const SiteValues* source = nullptr;
    if (iv.op == Op::kPatch) source = inputs_[iv.from]->sources.at(iv.site.name).get();
    in.hooks.Add(iv.site.point, iv.site.layer,
                 [&iv, source, dims = DimsOf(iv.site.shape(), c)](const engine::ActivationView& v) {
                   ApplyIntervention(iv, dims, v, source);
                 });
  }
  for (const SiteRef& site : in.plan->sources) {
    auto values = std::make_unique<SiteValues>(site, c, in.n());
    SiteValues* raw = values.get();
    in.sources[site.name] = std::move(values);
    in.hooks.Add(site.point, site.layer, [raw](const engine::ActivationView& v) { raw->Take(v); });
  }
  for (const SiteCapture& cap : in.plan->captures) {
    in.capturers.push_back(std::make_unique<Capturer>(cap, c, in.n()));
    Capturer* raw = in.capturers.back().get();
    in.hooks.Add(cap.site.point, cap.site.layer, [raw](const engine::ActivationView& v) { raw->Take(v); });
  }
  if (plan_.lens_top_k > 0) {
    const int P = static_cast<int>(in.plan->lens_positions.size());
    in.lens_resid.assign(static_cast<size_t>(c.n_layers) * P * c.dim, 0.f);
    in.lens_slot.assign(in.n(), -1);
    for (int s = 0; s < P; ++s) in.lens_slot[in.plan->lens_positions[s]] = s;
    for (int l = 0; l < c.n_layers; ++l) {
      in.hooks.Add(engine::HookPoint::kResidPost, l, [&in, l, P, dim = c.dim](const engine::ActivationView& v) {
        for (int r = 0; r < v.rows; ++r) {
          const int p = v.position[r];
          if (p >= static_cast<int>(in.lens_slot.size()) || in.lens_slot[p] < 0) continue;
          std::copy_n(v.row(r), dim, &in.lens_resid[(static_cast<size_t>(l) * P + in.lens_slot[p]) * dim]);
        }
      });
    }
    in.result.lens_positions = in.plan->lens_positions;
    in.result.lens.assign(c.n_layers, std::vector<std::vector<engine::TokenLogprob>>(P));
  }
}

bool RunJob::SourcesReady() const {
  for (const auto& in : inputs_)
    if (in->plan->phase == 0 && !in->prompt_done) return false;
  return true;
}

void RunJob::PromptDone(InputState& in, std::span<const float> logits) {
  in.prompt_done = true;
  const int vocab = static_cast<int>(logits.size());
  if (plan_.top_k > 0) in.result.top_logprobs = TopLogprobs(logits.data(), vocab, plan_.top_k);
  for (int32_t t : plan_.target_tokens) {
    in.result.target_logprobs.push_back(static_cast<float>(LogSoftmaxAt(logits.data(), vocab, t)));
  }
  if (!plan_.generate) return;
  engine::SamplingParams params;
  params.temperature = static_cast<float>(plan_.generate->temperature);
  params.seed = plan_.generate->seed.value_or(0x5EED ^ static_cast<uint64_t>(in.index));
  auto sampler = engine::Sampler::Create(params, vocab);
  if (!sampler.ok()) return;  // the parameters were checked when parsed
  in.sampler.emplace(std::move(*sampler));
  in.generating = true;
  in.result.generating = true;
  Sample(in, logits);
}

void RunJob::Sample(InputState& in, std::span<const float> logits) {
  absl::StatusOr<engine::SampleResult> r = in.sampler->Sample(logits, in.result.generated);
  if (!r.ok() || plan_.model->tokenizer->IsEndOfGeneration(r->token)) {
    in.generating = false;
    return;
  }
  in.result.generated.push_back(r->token);
  in.pending = r->token;
  if (static_cast<int>(in.result.generated.size()) >= plan_.generate->max_tokens) in.generating = false;
}

void RunJob::Plan(int budget, std::vector<Entry>& entries) {
  // Sources first; the others once every source's prompt is in (with the
  // means over them computed).
  const bool sources_ready = SourcesReady();
  if (sources_ready && !second_phase_started_) {
    second_phase_started_ = true;
    for (auto& in : inputs_) {
      for (SiteIntervention& iv : in->plan->interventions) {
        if (iv.mean_over.empty()) continue;
        std::vector<double> sum;
        int64_t count = 0;
        for (int k : iv.mean_over) inputs_[k]->sources.at(iv.site.name)->AddRows(sum, count);
        iv.mean.resize(sum.size());
        for (size_t i = 0; i < sum.size(); ++i) iv.mean[i] = static_cast<float>(sum[i] / std::max<int64_t>(count, 1));
      }
    }
  }
  for (auto& holder : inputs_) {
    InputState& in = *holder;
    if (budget <= 0) break;
    if (in.plan->phase == 1 && !sources_ready) continue;
    if (!in.started) Start(in);
    Entry e;
    e.hooks = &in.hooks;
    if (!in.prompt_done) {
      const int k = std::min(budget, in.n() - in.fed);
      if (k <= 0) continue;
      e.batch = {in.seq.get(), std::span<const int32_t>(in.plan->tokens).subspan(in.fed, k)};
      e.on_logits = [this, &in, k](const engine::Runner& runner, int index) {
        in.fed += k;
        if (in.fed == in.n()) PromptDone(in, runner.Logits(index));
      };
    } else if (in.generating) {
      e.batch = {in.seq.get(), std::span<const int32_t>(&in.pending, 1)};
      e.on_logits = [this, &in](const engine::Runner& runner, int index) { Sample(in, runner.Logits(index)); };
    } else {
      continue;
    }
    budget -= static_cast<int>(e.batch.tokens.size());
    entries.push_back(std::move(e));
  }
}

void RunJob::Work(engine::Runner& runner, int budget) {
  if (plan_.lens_top_k == 0) return;
  const engine::LlamaConfig& c = plan_.model->model->config();
  // An Unembed row costs about a quarter of a token's forward pass.
  int64_t rows_left = std::max(1, budget) * int64_t{4};
  for (auto& holder : inputs_) {
    InputState& in = *holder;
    if (!in.prompt_done || rows_left <= 0) continue;
    const int P = static_cast<int>(in.plan->lens_positions.size());
    const int64_t total = in.lens_rows(c.n_layers);
    while (in.lens_done < total && rows_left > 0) {
      const int rows = static_cast<int>(std::min({rows_left, total - in.lens_done, int64_t{64}}));
      lens_logits_.resize(static_cast<size_t>(rows) * c.vocab_size);
      runner.Unembed(&in.lens_resid[static_cast<size_t>(in.lens_done) * c.dim], rows, lens_logits_.data());
      for (int r = 0; r < rows; ++r) {
        const int64_t row = in.lens_done + r;
        in.result.lens[row / P][row % P] =
            TopLogprobs(&lens_logits_[static_cast<size_t>(r) * c.vocab_size], c.vocab_size, plan_.lens_top_k);
      }
      in.lens_done += rows;
      rows_left -= rows;
    }
  }
}

bool RunJob::Done() const {
  const int layers = plan_.model->model->config().n_layers;
  for (const auto& in : inputs_) {
    if (!in->prompt_done || in->generating) return false;
    if (plan_.lens_top_k > 0 && in->lens_done < in->lens_rows(layers)) return false;
  }
  return true;
}

void RunJob::Finish(absl::Status status) {
  auto done = std::move(done_);
  if (!done) return;
  if (!status.ok()) {
    inputs_.clear();
    done(status);
    return;
  }
  RunResult result;
  for (auto& in : inputs_) {
    for (auto& cap : in->capturers) {
      Tensor t;
      t.name = cap->capture().site.name;
      t.shape = cap->capture().shape;
      t.data = cap->Finish();
      in->result.captures.push_back(std::move(t));
    }
    result.inputs.push_back(std::move(in->result));
  }
  inputs_.clear();  // the sequences go before the result is formatted
  done(std::move(result));
}

}  // namespace aperture::research
