#include <cmath>
#include <future>
#include <string>
#include <vector>

#include "engine/model/hooks.h"
#include "engine/model/runner.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_test_util.h"

namespace aperture::scheduler {
namespace {

// ---- embeddings ----

absl::StatusOr<EmbedResult> Embed(Scheduler& s, std::string text) {
  std::promise<absl::StatusOr<EmbedResult>> p;
  EmbedRequest r;
  r.model = "stories";
  r.text = std::move(text);
  r.on_done = [&p](absl::StatusOr<EmbedResult> e) { p.set_value(std::move(e)); };
  absl::StatusOr<RequestId> id = s.SubmitEmbed(std::move(r));
  if (!id.ok()) return id.status();
  return p.get_future().get();
}

TEST_F(SchedulerTest, EmbeddingsAreUnitLengthDeterministicAndTheMeanOfTheFinalNorm) {
  auto s = Make({.prefill_tokens_per_step = 3});  // the input runs in several chunks
  absl::StatusOr<EmbedResult> a = Embed(*s, "Once upon a time there was a cat");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<EmbedResult> again = Embed(*s, "Once upon a time there was a cat");
  absl::StatusOr<EmbedResult> other = Embed(*s, "The dog ran to the park");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(other.ok());
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const int dim = (*model)->embedding_size();
  ASSERT_EQ(static_cast<int>(a->embedding.size()), dim);
  double norm = 0;
  for (float x : a->embedding) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
  EXPECT_EQ(a->embedding, again->embedding);
  EXPECT_NE(a->embedding, other->embedding);

  // The same pooling done directly: RMSNorm output (with gain) of every position, averaged.
  const std::vector<int32_t> ids = (*model)->tokenizer->Encode("Once upon a time there was a cat", true, false);
  EXPECT_EQ(a->prompt_tokens, static_cast<int>(ids.size()));
  engine::Runner runner(*(*model)->model, {.threads = 1});
  engine::Sequence seq((*model)->model->config(), static_cast<int>(ids.size()));
  std::vector<double> sum(dim, 0.0);
  const std::vector<float>& gain = (*model)->model->output_norm();
  engine::Hooks hooks;
  hooks.Add(engine::HookPoint::kLnFinalNormalized, -1, [&](const engine::ActivationView& v) {
    for (int r = 0; r < v.rows; ++r)
      for (int d = 0; d < dim; ++d) sum[d] += v.row(r)[d] * gain[d];
  });
  ASSERT_TRUE(runner.Forward({{engine::BatchEntry{&seq, ids}}}, &hooks).ok());
  double n2 = 0;
  for (double& x : sum) n2 += x * x;
  for (int d = 0; d < dim; ++d) EXPECT_NEAR(a->embedding[d], sum[d] / std::sqrt(n2), 1e-5) << d;
}

// ---------------------------------------------------------------- scoring

absl::StatusOr<ScoreResult> Score(Scheduler& s, ScoreRequest r) {
  std::promise<absl::StatusOr<ScoreResult>> p;
  r.on_done = [&p](absl::StatusOr<ScoreResult> result) { p.set_value(std::move(result)); };
  absl::StatusOr<RequestId> id = s.SubmitScore(std::move(r));
  if (!id.ok()) return id.status();
  return p.get_future().get();
}

ScoreRequest ScoreOf(const LoadedModel& m, std::string_view context, const std::vector<std::string>& continuations) {
  ScoreRequest r;
  r.model = "stories";
  r.context = m.tokenizer->Encode(context, /*add_special=*/true, /*parse_special=*/false);
  for (const std::string& c : continuations) {
    r.continuations.push_back(m.tokenizer->Encode(c, /*add_special=*/false, /*parse_special=*/false));
  }
  return r;
}

// By hand: context + continuation through the Runner in one entry with every
// row's logits, then log softmax of each continuation token, summed.
ContinuationScore DirectScore(const LoadedModel& m, const std::vector<int32_t>& context,
                              const std::vector<int32_t>& cont) {
  std::vector<int32_t> all = context;
  all.insert(all.end(), cont.begin(), cont.end());
  engine::Runner runner(*m.model, {.threads = 1});
  engine::Sequence seq(m.model->config(), static_cast<int>(all.size()));
  EXPECT_TRUE(runner.Forward({{engine::BatchEntry{&seq, all, /*all_logits=*/true}}}).ok());
  ContinuationScore out;
  out.tokens = static_cast<int>(cont.size());
  for (size_t j = 0; j < cont.size(); ++j) {
    const std::span<const float> logits = runner.Logits(0, static_cast<int>(context.size() + j) - 1);
    float max = logits[0];
    for (float x : logits) max = std::max(max, x);
    double z = 0;
    for (float x : logits) z += std::exp(static_cast<double>(x) - max);
    out.logprob += logits[cont[j]] - max - std::log(z);
    const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    out.is_greedy = out.is_greedy && best == cont[j];
  }
  return out;
}

TEST_F(SchedulerTest, ScoresAreTheSummedLogSoftmaxOfTheRunnerDirectly) {
  auto s = Make();
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const std::vector<std::string> choices = {" the cat sat on the mat", " dog", " a", " Lily was happy and played"};
  ScoreRequest r = ScoreOf(**model, "Once upon a time, there was a little", choices);
  const ScoreRequest copy = r;
  absl::StatusOr<ScoreResult> result = Score(*s, std::move(r));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->continuations.size(), choices.size());
  EXPECT_EQ(result->context_tokens, static_cast<int>(copy.context.size()));
  int processed = static_cast<int>(copy.context.size());
  bool any_greedy = false, any_not = false;
  for (size_t i = 0; i < choices.size(); ++i) {
    const ContinuationScore expected = DirectScore(**model, copy.context, copy.continuations[i]);
    const ContinuationScore& got = result->continuations[i];
    EXPECT_EQ(got.tokens, expected.tokens) << i;
    EXPECT_NEAR(got.logprob, expected.logprob, 1e-5) << i;
    EXPECT_LT(got.logprob, 0) << i;
    EXPECT_EQ(got.is_greedy, expected.is_greedy) << i;
    (got.is_greedy ? any_greedy : any_not) = true;
    processed += expected.tokens - 1;
  }
  EXPECT_EQ(result->processed_tokens, processed);  // the context once
  EXPECT_TRUE(any_not);

  // A continuation that is the model's own greedy text is greedy.
  Collected g;
  Run(*s, Greedy("Once upon a time", 4), &g);
  ScoreRequest greedy;
  greedy.model = "stories";
  greedy.context = (*model)->tokenizer->Encode("Once upon a time", true, false);
  greedy.continuations = {g.Tokens(0)};
  absl::StatusOr<ScoreResult> gr = Score(*s, std::move(greedy));
  ASSERT_TRUE(gr.ok()) << gr.status();
  EXPECT_TRUE(gr->continuations[0].is_greedy);
  (void)any_greedy;
}

TEST_F(SchedulerTest, ASharedContextScoresExactlyAsEachContinuationFromScratch) {
  // Small prompt budget: the context and the longer continuations run in several chunks.
  auto s = Make({.max_active = 16, .max_waiting = 64, .prefill_tokens_per_step = 5});
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const std::vector<std::string> contexts = {"Tom had a red ball. He", "The sun was hot, so the girl",
                                             "Once upon a time there was a big"};
  const std::vector<std::string> choices = {" ran", " went to the park to play", " was sad", " tree"};
  std::vector<std::vector<ContinuationScore>> shared, alone;
  for (const std::string& ctx : contexts) {
    absl::StatusOr<ScoreResult> r = Score(*s, ScoreOf(**model, ctx, choices));
    ASSERT_TRUE(r.ok()) << r.status();
    shared.push_back(r->continuations);
    std::vector<ContinuationScore> one_by_one;
    for (const std::string& choice : choices) {
      absl::StatusOr<ScoreResult> a = Score(*s, ScoreOf(**model, ctx, {choice}));
      ASSERT_TRUE(a.ok()) << a.status();
      one_by_one.push_back(a->continuations[0]);
    }
    alone.push_back(one_by_one);
  }
  for (size_t c = 0; c < contexts.size(); ++c) {
    for (size_t i = 0; i < choices.size(); ++i) {
      EXPECT_EQ(shared[c][i].logprob, alone[c][i].logprob) << c << " " << i;
      EXPECT_EQ(shared[c][i].is_greedy, alone[c][i].is_greedy);
      EXPECT_EQ(shared[c][i].tokens, alone[c][i].tokens);
    }
  }

  // All at once, batched together with a generation stream: the same scores, and the same tokens.
  Collected alone_gen;
  Run(*s, Greedy("Lily and Tom went to the park", 20), &alone_gen);
  Gate gate;
  Collected gate_c;
  ASSERT_NO_FATAL_FAILURE(Hold(*s, gate, &gate_c));
  std::vector<std::promise<absl::StatusOr<ScoreResult>>> promises(contexts.size());
  for (size_t c = 0; c < contexts.size(); ++c) {
    ScoreRequest r = ScoreOf(**model, contexts[c], choices);
    r.on_done = [&promises, c](absl::StatusOr<ScoreResult> result) { promises[c].set_value(std::move(result)); };
    ASSERT_TRUE(s->SubmitScore(std::move(r)).ok());
  }
  Collected together_gen;
  GenerateRequest gen = Greedy("Lily and Tom went to the park", 20);
  Attach(gen, &together_gen);
  ASSERT_TRUE(s->Submit(std::move(gen)).ok());
  gate.Open();
  for (size_t c = 0; c < contexts.size(); ++c) {
    absl::StatusOr<ScoreResult> r = promises[c].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    for (size_t i = 0; i < choices.size(); ++i) EXPECT_EQ(r->continuations[i].logprob, shared[c][i].logprob);
  }
  together_gen.Wait();
  EXPECT_EQ(together_gen.Tokens(0), alone_gen.Tokens(0));
  EXPECT_EQ(s->metrics().active_sequences, 0);
}

TEST_F(SchedulerTest, BadScoreRequestsAreRefusedBeforeQueueing) {
  auto s = Make({.max_active = 4});
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  auto submit = [&](ScoreRequest r) {
    r.on_done = [](absl::StatusOr<ScoreResult>) { ADD_FAILURE() << "a refused request was called back"; };
    return s->SubmitScore(std::move(r)).status();
  };
  const ScoreRequest good = ScoreOf(**model, "Once upon a time", {" there", " a"});
  ScoreRequest unknown = good;
  unknown.model = "nope";
  EXPECT_EQ(submit(unknown).code(), absl::StatusCode::kNotFound);
  ScoreRequest no_context = good;
  no_context.context.clear();
  EXPECT_EQ(submit(no_context).code(), absl::StatusCode::kInvalidArgument);
  ScoreRequest no_continuations = good;
  no_continuations.continuations.clear();
  EXPECT_EQ(submit(no_continuations).code(), absl::StatusCode::kInvalidArgument);
  ScoreRequest empty_continuation = good;
  empty_continuation.continuations[1].clear();
  absl::Status st = submit(empty_continuation);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("continuation 1"), std::string_view::npos) << st;
  ScoreRequest bad_token = good;
  bad_token.continuations[0].push_back(100000);
  EXPECT_EQ(submit(bad_token).code(), absl::StatusCode::kInvalidArgument);
  ScoreRequest too_many = good;
  too_many.continuations.assign(1025, {1});
  EXPECT_EQ(submit(too_many).code(), absl::StatusCode::kInvalidArgument);
  ScoreRequest too_long = good;
  too_long.continuations[0].assign((*model)->context_length, 1);
  EXPECT_EQ(submit(too_long).code(), absl::StatusCode::kInvalidArgument);
  ScoreRequest no_done = good;
  EXPECT_EQ(s->SubmitScore(std::move(no_done)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->metrics().active_sequences, 0);
}

TEST_F(SchedulerTest, ACancelledScoreRequestIsCalledBackCancelledAndFreesItsSlots) {
  auto s = Make({.max_active = 4, .max_waiting = 4});
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  Gate gate;
  Collected hold_c;
  ASSERT_NO_FATAL_FAILURE(Hold(*s, gate, &hold_c, 2));
  std::promise<absl::StatusOr<ScoreResult>> p;
  ScoreRequest r = ScoreOf(**model, "Once upon a time", {" there", " a", " the"});
  r.on_done = [&p](absl::StatusOr<ScoreResult> result) { p.set_value(std::move(result)); };
  absl::StatusOr<RequestId> id = s->SubmitScore(std::move(r));
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(s->Cancel(*id));
  gate.Open();
  absl::StatusOr<ScoreResult> result = p.get_future().get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  hold_c.Wait();
  EXPECT_EQ(s->metrics().active_sequences, 0);
  // The scheduler goes on scoring.
  EXPECT_TRUE(Score(*s, ScoreOf(**model, "Once upon a time", {" there"})).ok());
}

}  // namespace
}  // namespace aperture::scheduler
