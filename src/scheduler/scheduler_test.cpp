#include "scheduler/scheduler.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/utf8.h"
#include "engine/model/hooks.h"
#include "engine/model/runner.h"
#include "engine/sampling/sampler.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler_test_util.h"

namespace aperture::scheduler {
namespace {

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
  ASSERT_NO_FATAL_FAILURE(Hold(*s, gate, &gate_c));
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
    EXPECT_TRUE(IsValidUtf8(e.text)) << i;
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

}  // namespace
}  // namespace aperture::scheduler
