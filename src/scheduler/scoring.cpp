// Embedding and scoring requests: admission checks, and their share of a
// step (embedding chunks with a hook on the final norm; continuations scored
// from the rows' logits). The generation loop is in scheduler.cpp.
#include <cmath>

#include "core/status_macros.h"
#include "engine/model/hooks.h"
#include "scheduler/work.h"

namespace aperture::scheduler {

absl::StatusOr<RequestId> Scheduler::SubmitEmbed(EmbedRequest request) {
  if (!request.on_done) return absl::InvalidArgumentError("an embedding request needs an on_done callback");
  if (request.tokens.empty() == request.text.empty()) {
    return absl::InvalidArgumentError("an embedding request needs exactly one input: tokens or text");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedModel> model, models_.Get(request.model));
  auto w = std::make_unique<Work>();
  w->embed = true;
  w->prompt = request.tokens.empty()
                  ? model->tokenizer->Encode(request.text, /*add_special=*/true, /*parse_special=*/false)
                  : std::move(request.tokens);
  if (w->prompt.empty()) return absl::InvalidArgumentError("the input encodes to no tokens");
  RETURN_IF_ERROR(CheckTokens(w->prompt, model->vocab_size()));
  if (static_cast<int>(w->prompt.size()) > model->context_length) {
    return absl::InvalidArgumentError(
        fmt::format("the input ({} tokens) is longer than the model's context of {} tokens", w->prompt.size(),
                    model->context_length));
  }
  w->deadline_micros = request.deadline_micros;
  w->embed_done = std::move(request.on_done);
  w->model = std::move(model);
  return Enqueue(std::move(w));
}

absl::StatusOr<RequestId> Scheduler::SubmitScore(ScoreRequest request) {
  if (!request.on_done) return absl::InvalidArgumentError("a scoring request needs an on_done callback");
  if (request.context.empty())
    return absl::InvalidArgumentError("a scoring request needs a context of 1 or more tokens");
  const int k = static_cast<int>(request.continuations.size());
  if (k < 1 || k > kMaxContinuations) {
    return absl::InvalidArgumentError(fmt::format(
        "a scoring request has {} continuations; this server scores 1 to {} per request", k, kMaxContinuations));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedModel> model, models_.Get(request.model));
  RETURN_IF_ERROR(CheckTokens(request.context, model->vocab_size()));
  const int context_len = static_cast<int>(request.context.size());
  for (int i = 0; i < k; ++i) {
    const std::vector<int32_t>& cont = request.continuations[i];
    if (cont.empty()) return absl::InvalidArgumentError(fmt::format("continuation {} has no tokens", i));
    RETURN_IF_ERROR(CheckTokens(cont, model->vocab_size()));
    // The last continuation token is never run, so the sequence holds one position less.
    if (static_cast<int64_t>(context_len) + static_cast<int64_t>(cont.size()) - 1 > model->context_length) {
      return absl::InvalidArgumentError(
          fmt::format("the context ({} tokens) plus continuation {} ({} tokens) is more than the model's context of "
                      "{} tokens",
                      context_len, i, cont.size(), model->context_length));
    }
  }
  auto w = std::make_unique<Work>();
  w->score = true;
  w->prompt = std::move(request.context);
  w->conts.resize(k);
  for (int i = 0; i < k; ++i) {
    w->conts[i].tokens = std::move(request.continuations[i]);
    w->conts[i].score.tokens = static_cast<int>(w->conts[i].tokens.size());
  }
  w->slots = 1;
  w->deadline_micros = request.deadline_micros;
  w->score_done = std::move(request.on_done);
  w->model = std::move(model);
  return Enqueue(std::move(w));
}

void Scheduler::RunEmbedChunk(Work& w, int tokens, engine::Runner& runner) {
  if (w.finished) return;
  const engine::LlamaModel& model = *w.model->model;
  const std::vector<float>& gain = model.output_norm();
  const int dim = model.config().dim;
  // The pooled activation is the final RMSNorm's output: the hook sees it before the gain.
  engine::Hooks hooks;
  hooks.Add(engine::HookPoint::kLnFinalNormalized, -1, [&](const engine::ActivationView& v) {
    for (int r = 0; r < v.rows; ++r) {
      const float* row = v.row(r);
      for (int d = 0; d < dim; ++d) w.pool_sum[d] += static_cast<double>(row[d]) * gain[d];
    }
  });
  const engine::BatchEntry entry{w.embed_seq.get(), std::span<const int32_t>(w.prompt.data() + w.prefilled, tokens),
                                 false};
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = Forward(runner, {&entry, 1}, &hooks);
  step_engine_seconds_ += SecondsSince(start);
  if (!status.ok()) {
    FinishRequest(w, FinishReason::kError, status);
    return;
  }
  w.prefilled += tokens;
  step_prompt_tokens_ += tokens;
  if (w.prefilling()) return;

  EmbedResult result;
  result.prompt_tokens = static_cast<int>(w.prompt.size());
  double norm = 0;
  for (double& x : w.pool_sum) {
    x /= static_cast<double>(w.prompt.size());
    norm += x * x;
  }
  norm = std::sqrt(norm);
  result.embedding.resize(dim);
  for (int d = 0; d < dim; ++d) result.embedding[d] = static_cast<float>(norm > 0 ? w.pool_sum[d] / norm : 0.0);
  w.embed_seq.reset();
  w.finished = true;
  ReleaseSlots(1);
  MarkDone(w.id);
  w.embed_done(std::move(result));
}

void Scheduler::ScoreAll(engine::Runner& runner, const std::vector<Slot>& slots) {
  struct Row {
    Work::Continuation* cont;
    std::span<const float> logits;
    int32_t target;
    double logprob = 0;
    bool greedy = false;
  };
  std::vector<Row> rows;
  std::vector<Work*> touched;
  for (size_t e = 0; e < slots.size(); ++e) {
    const Slot& s = slots[e];
    Work& w = *s.work;
    if (w.finished || !w.score) continue;
    if (touched.empty() || touched.back() != &w) touched.push_back(&w);
    step_prompt_tokens_ += s.tokens;
    w.score_processed += s.tokens;
    if (s.choice >= 0) {
      // Row r of a continuation chunk scores the token after it.
      Work::Continuation& c = w.conts[s.choice];
      for (int r = 0; r < s.tokens; ++r) {
        rows.push_back({&c, runner.Logits(static_cast<int>(e), r), c.tokens[c.fed + r + 1]});
      }
      c.fed += s.tokens;
      continue;
    }
    w.prefilled += s.tokens;
    if (w.prefilling()) continue;
    // The context is in: its last logits score every continuation's first token.
    const std::span<const float> logits = runner.Logits(static_cast<int>(e));
    for (Work::Continuation& c : w.conts) rows.push_back({&c, logits, c.tokens[0]});
  }
  // log softmax(logits)[target], in a fixed order per row (double sums), rows in parallel.
  runner.pool().ParallelFor(static_cast<int64_t>(rows.size()), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      Row& row = rows[j];
      const std::span<const float> x = row.logits;
      size_t argmax = 0;
      for (size_t v = 1; v < x.size(); ++v) {
        if (x[v] > x[argmax]) argmax = v;
      }
      const double max = x[argmax];
      double sum = 0;
      for (float v : x) sum += std::exp(static_cast<double>(v) - max);
      row.logprob = static_cast<double>(x[row.target]) - max - std::log(sum);
      row.greedy = static_cast<int32_t>(argmax) == row.target;
    }
  });
  // Summed in row order (continuation token order), so the sums do not depend on the threads.
  for (const Row& row : rows) {
    row.cont->score.logprob += row.logprob;
    row.cont->score.is_greedy = row.cont->score.is_greedy && row.greedy;
  }
  for (Work* w : touched) {
    if (w->finished || !w->scored()) continue;
    ScoreResult result;
    result.context_tokens = static_cast<int>(w->prompt.size());
    result.processed_tokens = w->score_processed;
    for (const Work::Continuation& c : w->conts) result.continuations.push_back(c.score);
    w->score_seq.reset();
    w->finished = true;
    if (w->admitted) ReleaseSlots(w->slots);
    MarkDone(w->id);
    w->score_done(std::move(result));
  }
}

}  // namespace aperture::scheduler
