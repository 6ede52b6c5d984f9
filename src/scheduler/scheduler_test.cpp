#include "scheduler/scheduler.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/model/hooks.h"
#include "engine/model/runner.h"
#include "engine/sampling/sampler.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"

namespace aperture::scheduler {
namespace {

const std::string kStories = std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf";
const std::string kTinyLlama2 = std::string(APERTURE_SHARED_DIR) + "/models/llama-2-tiny-random.gguf";

// Everything one request delivered, filled from the scheduler thread.
struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<TokenEvent> tokens;
  std::vector<ChoiceEnd> ends;
  bool done = false;
  GenerateDone final;

  std::vector<int32_t> Tokens(int choice) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<int32_t> out;
    for (const TokenEvent& e : tokens)
      if (e.choice == choice) out.push_back(e.token);
    return out;
  }
  std::string Text(int choice) {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (const TokenEvent& e : tokens)
      if (e.choice == choice) out += e.text;
    for (const ChoiceEnd& e : ends)
      if (e.choice == choice) out += e.text;
    return out;
  }
  FinishReason Reason(int choice) {
    std::lock_guard<std::mutex> lock(mu);
    for (const ChoiceEnd& e : ends)
      if (e.choice == choice) return e.reason;
    ADD_FAILURE() << "choice " << choice << " did not end";
    return FinishReason::kError;
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
};

// Attaches callbacks that fill `c`; `on_token` (optional) runs first for each token.
void Attach(GenerateRequest& r, Collected* c, std::function<void(const TokenEvent&)> on_token = nullptr) {
  r.callbacks.on_token = [c, on_token](const TokenEvent& e) {
    if (on_token) on_token(e);
    std::lock_guard<std::mutex> lock(c->mu);
    c->tokens.push_back(e);
  };
  r.callbacks.on_choice_end = [c](const ChoiceEnd& e) {
    std::lock_guard<std::mutex> lock(c->mu);
    c->ends.push_back(e);
  };
  r.callbacks.on_done = [c](const GenerateDone& d) {
    // Notify under the lock: the waiter may destroy `c` as soon as it sees `done`.
    std::lock_guard<std::mutex> lock(c->mu);
    c->done = true;
    c->final = d;
    c->cv.notify_all();
  };
}

// Blocks the scheduler thread (from inside a callback) until the test opens it,
// so the test can arrange the queue while no step runs.
class Gate {
 public:
  void WaitInside() {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void WaitUntilEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, open_ = false;
};

GenerateRequest Greedy(std::string prompt, int max_tokens) {
  GenerateRequest r;
  r.model = "stories";
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

class SchedulerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Scheduler> Make(SchedulerOptions options = {}) {
    if (options.threads == 0) options.threads = 2;
    auto s = std::make_unique<Scheduler>(options);
    EXPECT_TRUE(s->RegisterModel("stories", kStories).ok());
    EXPECT_TRUE(s->RegisterModel("tiny-llama2", kTinyLlama2).ok());
    return s;
  }
  static void Run(Scheduler& s, GenerateRequest r, Collected* c) {
    Attach(r, c);
    absl::StatusOr<RequestId> id = s.Submit(std::move(r));
    ASSERT_TRUE(id.ok()) << id.status();
    c->Wait();
  }
};

// The same generation done directly with the engine: prefill, then one token at a time.
std::vector<int32_t> DirectRun(const LoadedModel& m, const std::vector<int32_t>& prompt, engine::SamplingParams params,
                               int max_tokens) {
  engine::Runner runner(*m.model, {.threads = 1});
  engine::Sequence seq(m.model->config(), static_cast<int>(prompt.size()) + max_tokens);
  EXPECT_TRUE(runner.Forward({{engine::BatchEntry{&seq, prompt}}}).ok());
  auto sampler = engine::Sampler::Create(params, m.vocab_size());
  EXPECT_TRUE(sampler.ok());
  std::vector<int32_t> out;
  for (int i = 0; i < max_tokens; ++i) {
    auto r = sampler->Sample(runner.Logits(0), out);
    EXPECT_TRUE(r.ok());
    if (m.tokenizer->IsEndOfGeneration(r->token)) break;
    out.push_back(r->token);
    engine::Sequence* s = &seq;
    EXPECT_TRUE(runner.Decode({&s, 1}, {&r->token, 1}).ok());
  }
  return out;
}

TEST_F(SchedulerTest, GreedyGenerationEqualsTheRunnerDirectly) {
  auto s = Make();
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> prompt = (*model)->tokenizer->Encode("Once upon a time", true, false);
  engine::SamplingParams greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> expected = DirectRun(**model, prompt, greedy, 60);
  ASSERT_FALSE(expected.empty());

  Collected c;
  Run(*s, Greedy("Once upon a time", 60), &c);
  EXPECT_EQ(c.Tokens(0), expected);
  EXPECT_EQ(c.final.prompt_tokens, static_cast<int>(prompt.size()));
  EXPECT_EQ(c.final.completion_tokens, static_cast<int>(expected.size()));
  EXPECT_TRUE(c.final.status.ok());
  EXPECT_EQ(c.Reason(0), expected.size() == 60 ? FinishReason::kLength : FinishReason::kStop);
  // The streamed text is the decoded continuation.
  EXPECT_EQ(c.Text(0), (*model)->tokenizer->Decode(expected, {.strip_leading_space = false}));
  EXPECT_NE(c.Text(0).find(' '), std::string::npos);  // stories260K writes words
}

// after_events runs after every round of callbacks: each token event is
// followed by a flush before the next one, and the final callback by one too.
TEST_F(SchedulerTest, AfterEventsFollowsEveryRoundOfCallbacks) {
  std::mutex mu;
  std::vector<std::string> order;
  auto note = [&](const char* what) {
    std::lock_guard<std::mutex> lock(mu);
    if (order.empty() || order.back() != what) order.push_back(what);  // flushes of idle rounds fold into one
  };
  SchedulerOptions options;
  options.after_events = [&] { note("flush"); };
  auto s = Make(options);
  Collected c;
  GenerateRequest r = Greedy("Once upon a time", 5);
  r.ignore_eos = true;
  Attach(r, &c, [&](const TokenEvent&) { note("token"); });
  const auto done = r.callbacks.on_done;
  r.callbacks.on_done = [&, done](const GenerateDone& d) {
    note("done");
    done(d);
  };
  ASSERT_TRUE(s->Submit(std::move(r)).ok());
  c.Wait();
  s.reset();  // the scheduler's thread has finished its last round
  std::vector<std::string> want;
  for (int i = 0; i < 4; ++i) want.insert(want.end(), {"token", "flush"});
  want.insert(want.end(), {"token", "done", "flush"});
  ASSERT_GE(order.size(), want.size());
  std::vector<std::string> tail(order.end() - static_cast<std::ptrdiff_t>(want.size()), order.end());
  EXPECT_EQ(tail, want);
}

TEST_F(SchedulerTest, ConcurrentRequestsBatchedTogetherGiveTheSameTokensAsAlone) {
  const std::vector<std::string> prompts = {"Once upon a time", "The cat", "Lily and Tom went to the park", "One day"};
  auto make = [&](size_t i) {
    GenerateRequest r = Greedy(prompts[i], 40);
    if (i % 2 == 1) {  // a mix of greedy and seeded sampling
      r.sampling.temperature = 0.9f;
      r.sampling.top_p = 0.95f;
      r.sampling.seed = 100 + i;
    }
    r.ignore_eos = true;  // every stream runs all 40 steps, so they overlap throughout
    return r;
  };
  auto s = Make({.max_active = 8});
  std::vector<std::vector<int32_t>> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Collected c;
    Run(*s, make(i), &c);
    alone.push_back(c.Tokens(0));
    EXPECT_EQ(alone.back().size(), 40u);
  }

  // Hold the scheduler inside a callback while all four are queued, so they start in the same step.
  Gate gate;
  Collected gate_c;
  GenerateRequest g = Greedy("Hello", 1);
  Attach(g, &gate_c, [&](const TokenEvent&) { gate.WaitInside(); });
  ASSERT_TRUE(s->Submit(std::move(g)).ok());
  gate.WaitUntilEntered();
  std::vector<Collected> together(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest r = make(i);
    Attach(r, &together[i]);
    ASSERT_TRUE(s->Submit(std::move(r)).ok());
  }
  const uint64_t steps_before = s->metrics().steps;
  gate.Open();
  for (auto& c : together) c.Wait();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].Tokens(0), alone[i]) << "request " << i;
  // 4 x 40 tokens in about 40 steps (a few more for the gate request): they ran as one batch.
  EXPECT_LE(s->metrics().steps - steps_before, 45u);
}

TEST_F(SchedulerTest, AStopSequenceSpanningTwoTokensIsCutExactly) {
  auto s = Make();
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const engine::Tokenizer& tok = *(*model)->tokenizer;
  Collected full;
  Run(*s, Greedy("Once upon a time", 60), &full);
  const std::string text = full.Text(0);
  const std::vector<int32_t> ids = full.Tokens(0);

  // A stop string made of the last two bytes of one token and the first two of the next.
  std::string stop;
  size_t boundary = 0;
  for (size_t k = 0; k + 1 < ids.size() && stop.empty(); ++k) {
    boundary += tok.TokenToPiece(ids[k]).size();
    const std::string a = tok.TokenToPiece(ids[k]), b = tok.TokenToPiece(ids[k + 1]);
    if (a.size() < 2 || b.size() < 2 || k < 3) continue;
    const std::string candidate = a.substr(a.size() - 2) + b.substr(0, 2);
    if (text.find(candidate) == boundary - 2) stop = candidate;
  }
  ASSERT_FALSE(stop.empty()) << text;

  GenerateRequest r = Greedy("Once upon a time", 60);
  r.stop = {"never appears", stop};
  Collected c;
  Run(*s, std::move(r), &c);
  EXPECT_EQ(c.Text(0), text.substr(0, text.find(stop)));
  EXPECT_EQ(c.Reason(0), FinishReason::kStop);
}

// Two byte-fallback tokens make "é" (C3 A9). Logit bias leaves only those two
// and a frequency penalty over the last token makes them alternate.
TEST_F(SchedulerTest, MultiByteCharactersSplitAcrossTokensArriveWhole) {
  auto s = Make();
  auto model = s->GetModel("tiny-llama2");
  ASSERT_TRUE(model.ok());
  const engine::Tokenizer& tok = *(*model)->tokenizer;
  const int32_t c3 = tok.vocab().Find("<0xC3>"), a9 = tok.vocab().Find("<0xA9>");
  ASSERT_GE(c3, 0);
  ASSERT_GE(a9, 0);
  GenerateRequest r;
  r.model = "tiny-llama2";
  r.prompt_tokens = {tok.bos_id()};
  r.max_tokens = 12;
  r.sampling.temperature = 0;
  r.sampling.logit_bias = {{c3, 100.f}, {a9, 100.f}};
  r.sampling.frequency_penalty = 50.f;
  r.sampling.penalty_last_n = 1;
  Collected c;
  Run(*s, std::move(r), &c);
  ASSERT_EQ(c.tokens.size(), 12u);
  int whole = 0;
  for (size_t i = 0; i < c.tokens.size(); ++i) {
    const TokenEvent& e = c.tokens[i];
    ASSERT_TRUE(e.token == c3 || e.token == a9);
    EXPECT_TRUE(engine::IsValidUtf8(e.text)) << i;
    if (e.token == c3) {
      EXPECT_EQ(e.text, "") << i;  // the first byte is held back
    }
    if (e.token == a9 && i > 0 && c.tokens[i - 1].token == c3) {
      EXPECT_EQ(e.text, "\xC3\xA9") << i;  // the character arrives whole with its second byte
      ++whole;
    }
  }
  EXPECT_GE(whole, 5);
}

TEST_F(SchedulerTest, CancelFreesTheSlotForTheNextRequest) {
  auto s = Make({.max_active = 1, .max_waiting = 4});
  Gate gate;
  Collected a, b;
  std::mutex order_mu;
  std::vector<std::string> order;
  GenerateRequest ra = Greedy("Once upon a time", 200);
  ra.ignore_eos = true;
  bool first = true;
  Attach(ra, &a, [&](const TokenEvent&) {
    if (first) {
      first = false;
      gate.WaitInside();
    }
  });
  ra.callbacks.on_done = [&, done = ra.callbacks.on_done](const GenerateDone& d) {
    {
      std::lock_guard<std::mutex> lock(order_mu);
      order.push_back("a done");
    }
    done(d);
  };
  absl::StatusOr<RequestId> id_a = s->Submit(std::move(ra));
  ASSERT_TRUE(id_a.ok());
  gate.WaitUntilEntered();

  GenerateRequest rb = Greedy("The cat", 5);
  Attach(rb, &b, [&](const TokenEvent&) {
    std::lock_guard<std::mutex> lock(order_mu);
    order.push_back("b token");
  });
  ASSERT_TRUE(s->Submit(std::move(rb)).ok());
  EXPECT_EQ(s->metrics().waiting_requests, 1);
  EXPECT_TRUE(s->Cancel(*id_a));
  gate.Open();
  a.Wait();
  b.Wait();
  EXPECT_EQ(a.Reason(0), FinishReason::kCancelled);
  EXPECT_LT(a.final.completion_tokens, 200);
  EXPECT_EQ(b.final.completion_tokens, static_cast<int>(b.Tokens(0).size()));
  EXPECT_GT(b.final.completion_tokens, 0);
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), "a done");
  EXPECT_FALSE(s->Cancel(*id_a));  // already finished
  EXPECT_EQ(s->metrics().active_sequences, 0);
}

TEST_F(SchedulerTest, AFullQueueRefusesWithUnavailable) {
  auto s = Make({.max_active = 1, .max_waiting = 1});
  Gate gate;
  Collected a, b;
  GenerateRequest ra = Greedy("Once upon a time", 3);
  bool first = true;
  Attach(ra, &a, [&](const TokenEvent&) {
    if (first) {
      first = false;
      gate.WaitInside();
    }
  });
  ASSERT_TRUE(s->Submit(std::move(ra)).ok());
  gate.WaitUntilEntered();
  GenerateRequest rb = Greedy("The cat", 3);
  Attach(rb, &b);
  ASSERT_TRUE(s->Submit(std::move(rb)).ok());  // waits

  Collected never;
  GenerateRequest rc = Greedy("One day", 3);
  Attach(rc, &never);
  absl::StatusOr<RequestId> refused = s->Submit(std::move(rc));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s->metrics().requests_rejected, 1u);
  gate.Open();
  a.Wait();
  b.Wait();
  EXPECT_FALSE(never.done);
}

TEST_F(SchedulerTest, APromptLongerThanTheContextIsInvalidArgument) {
  auto s = Make();
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const int ctx = (*model)->context_length;
  Collected c;
  GenerateRequest r = Greedy("Once upon a time", ctx);
  Attach(r, &c);
  absl::StatusOr<RequestId> id = s->Submit(std::move(r));
  ASSERT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find(std::to_string(ctx)), std::string_view::npos) << id.status();

  GenerateRequest long_prompt;
  long_prompt.model = "stories";
  long_prompt.prompt_tokens.assign(ctx, 1);
  long_prompt.max_tokens = 0;
  Attach(long_prompt, &c);
  EXPECT_EQ(s->Submit(std::move(long_prompt)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(c.done);
}

TEST_F(SchedulerTest, BadRequestsAreRefusedBeforeQueueing) {
  auto s = Make({.max_active = 4});
  auto submit = [&](GenerateRequest r) {
    Collected c;
    Attach(r, &c);
    return s->Submit(std::move(r)).status().code();
  };
  GenerateRequest unknown = Greedy("x", 3);
  unknown.model = "nope";
  EXPECT_EQ(submit(unknown), absl::StatusCode::kNotFound);
  GenerateRequest none = Greedy("", 3);
  EXPECT_EQ(submit(none), absl::StatusCode::kInvalidArgument);
  GenerateRequest bad_token = Greedy("", 3);
  bad_token.prompt_tokens = {1, 100000};
  EXPECT_EQ(submit(bad_token), absl::StatusCode::kInvalidArgument);
  GenerateRequest bad_top_p = Greedy("x", 3);
  bad_top_p.sampling.top_p = 0;
  EXPECT_EQ(submit(bad_top_p), absl::StatusCode::kInvalidArgument);
  GenerateRequest too_many = Greedy("x", 3);
  too_many.n = 5;
  EXPECT_EQ(submit(too_many), absl::StatusCode::kInvalidArgument);
  GenerateRequest no_done = Greedy("x", 3);
  EXPECT_EQ(s->Submit(std::move(no_done)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, NGreaterThanOneGivesNCompletionsOfOnePrefill) {
  auto s = Make();
  GenerateRequest r = Greedy("Once upon a time", 30);
  r.n = 3;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 7;
  r.sampling.logprobs = true;
  r.sampling.top_logprobs = 2;
  Collected c;
  Run(*s, r, &c);
  ASSERT_EQ(c.ends.size(), 3u);
  int total = 0;
  for (const ChoiceEnd& e : c.ends) total += e.completion_tokens;
  EXPECT_EQ(c.final.completion_tokens, total);
  EXPECT_EQ(c.final.prompt_tokens, 5);  // counted once: BOS + 4 words
  EXPECT_NE(c.Tokens(0), c.Tokens(1));
  for (const TokenEvent& e : c.tokens) {
    EXPECT_LE(e.logprob, 0.0f);
    EXPECT_EQ(e.top_logprobs.size(), 2u);
  }

  // Choice 0 is the n = 1 stream with the same seed.
  GenerateRequest one = r;
  one.n = 1;
  Collected c1;
  Run(*s, one, &c1);
  EXPECT_EQ(c1.Tokens(0), c.Tokens(0));
}

TEST_F(SchedulerTest, ChatMessagesUseTheModelsTemplate) {
  auto s = Make();
  GenerateRequest r;
  r.model = "stories";
  r.messages = {{"user", "Tell me a story."}};
  r.max_tokens = 20;
  r.sampling.temperature = 0;
  Collected c;
  Run(*s, r, &c);
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  // Plain fallback: "User: Tell me a story.\nAssistant:" with BOS.
  const auto prompt = (*model)->tokenizer->Encode("User: Tell me a story.\nAssistant:", true, false);
  EXPECT_EQ(c.final.prompt_tokens, static_cast<int>(prompt.size()));
  EXPECT_EQ(c.Text(0).find("\nUser:"), std::string::npos);
  EXPECT_FALSE(c.Text(0).starts_with(" "));  // a chat reply drops the leading SentencePiece space
}

TEST_F(SchedulerTest, DeadlinePassedEndsTheRequest) {
  FakeClock clock;
  auto s = Make({.clock = &clock});
  Gate gate;
  Collected c;
  GenerateRequest r = Greedy("Once upon a time", 100);
  r.ignore_eos = true;
  r.deadline_micros = clock.NowMicros() + 1'000'000;
  bool first = true;
  Attach(r, &c, [&](const TokenEvent&) {
    if (first) {
      first = false;
      gate.WaitInside();
    }
  });
  ASSERT_TRUE(s->Submit(std::move(r)).ok());
  gate.WaitUntilEntered();
  clock.AdvanceSeconds(2);
  gate.Open();
  c.Wait();
  EXPECT_EQ(c.Reason(0), FinishReason::kDeadline);
  EXPECT_LT(c.final.completion_tokens, 100);

  Collected late;
  GenerateRequest expired = Greedy("Once upon a time", 10);
  expired.deadline_micros = clock.NowMicros() - 1;
  Run(*s, std::move(expired), &late);
  EXPECT_EQ(late.Reason(0), FinishReason::kDeadline);
  EXPECT_EQ(late.final.completion_tokens, 0);
}

TEST_F(SchedulerTest, ShutdownCancelsRunningAndQueuedRequestsWithFinalCallbacks) {
  auto s = Make({.max_active = 1});
  Gate gate;
  Collected running, queued;
  GenerateRequest r = Greedy("Once upon a time", 400);
  r.ignore_eos = true;
  bool first = true;
  Attach(r, &running, [&](const TokenEvent&) {
    if (first) {
      first = false;
      gate.WaitInside();
    }
  });
  ASSERT_TRUE(s->Submit(std::move(r)).ok());
  gate.WaitUntilEntered();
  GenerateRequest q = Greedy("The cat", 5);
  Attach(q, &queued);
  ASSERT_TRUE(s->Submit(std::move(q)).ok());

  Scheduler* raw = s.get();
  std::thread destroy([&] { s.reset(); });
  // The destructor is waiting for the scheduler thread; once it has asked it
  // to stop, Submit answers Unavailable (the object lives until the join returns).
  for (;;) {
    GenerateRequest probe = Greedy("x", 1);
    probe.callbacks.on_done = [](const GenerateDone&) {};
    absl::StatusOr<RequestId> id = raw->Submit(std::move(probe));
    if (!id.ok() && id.status().message().find("shutting down") != std::string_view::npos) break;
    std::this_thread::yield();
  }
  gate.Open();
  destroy.join();
  EXPECT_TRUE(running.done);
  EXPECT_EQ(running.Reason(0), FinishReason::kCancelled);
  EXPECT_TRUE(queued.done);
  EXPECT_EQ(queued.Reason(0), FinishReason::kCancelled);
  EXPECT_EQ(queued.final.completion_tokens, 0);
}

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
  GenerateRequest hold = Greedy("Hello", 1);
  Attach(hold, &gate_c, [&](const TokenEvent&) { gate.WaitInside(); });
  ASSERT_TRUE(s->Submit(std::move(hold)).ok());
  gate.WaitUntilEntered();
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
  GenerateRequest hold = Greedy("Hello", 2);
  Attach(hold, &hold_c, [&](const TokenEvent& e) { gate.WaitInside(); });
  ASSERT_TRUE(s->Submit(std::move(hold)).ok());
  gate.WaitUntilEntered();
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
