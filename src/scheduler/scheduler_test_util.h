// Shared by the scheduler's tests (scheduler_test.cpp: generation;
// scoring_test.cpp: embedding and scoring): the models, a collector of one
// request's events, a gate that holds the scheduler's thread, the fixture.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "engine/model/runner.h"
#include "engine/sampling/sampler.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler.h"

namespace aperture::scheduler {

inline const std::string kStories = std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf";
inline const std::string kTinyLlama2 = std::string(APERTURE_SHARED_DIR) + "/models/llama-2-tiny-random.gguf";

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
inline void Attach(GenerateRequest& r, Collected* c, std::function<void(const TokenEvent&)> on_token = nullptr) {
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

inline GenerateRequest Greedy(std::string prompt, int max_tokens) {
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
  // Submits a greedy request whose token callback waits at `gate`, and
  // returns once the scheduler's thread is held there: whatever is submitted
  // next is queued for the same step.
  static void Hold(Scheduler& s, Gate& gate, Collected* c, int max_tokens = 1) {
    GenerateRequest hold = Greedy("Hello", max_tokens);
    Attach(hold, c, [&gate](const TokenEvent&) { gate.WaitInside(); });
    ASSERT_TRUE(s.Submit(std::move(hold)).ok());
    gate.WaitUntilEntered();
  }
};

// The same generation done directly with the engine: prefill, then one token at a time.
inline std::vector<int32_t> DirectRun(const LoadedModel& m, const std::vector<int32_t>& prompt,
                                      engine::SamplingParams params, int max_tokens) {
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

}  // namespace aperture::scheduler
