// Engine jobs and steering hooks in the scheduler: a job's slices join the
// serving steps within their budget without changing the streams' tokens,
// see only their own rows, resume at a layer, and end on cancel and deadline.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/clock.h"
#include "engine/model/hooks.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler_test_util.h"

namespace aperture::scheduler {
namespace {

// Prefills `tokens` into its own sequence, a slice per step, recording the
// residual it sees leaving layer 0 and the last logits; then, if asked,
// reruns the last position resumed at layer 1 from that residual.
class PrefillJob : public EngineJob {
 public:
  PrefillJob(const LoadedModel& model, std::vector<int32_t> tokens, bool resume)
      : config_(model.model->config()), tokens_(std::move(tokens)), resume_(resume) {
    seq_ = std::make_unique<engine::Sequence>(config_, static_cast<int>(tokens_.size()));
    resid_.assign(tokens_.size() * config_.dim, 0.f);
    hooks_.Add(engine::HookPoint::kResidPost, 0, [this](const engine::ActivationView& v) {
      for (int r = 0; r < v.rows; ++r) {
        positions_seen.push_back(v.position[r]);
        std::copy_n(v.row(r), v.cols, &resid_[static_cast<size_t>(v.position[r]) * config_.dim]);
      }
    });
  }
  void Plan(int budget, std::vector<Entry>& entries) override {
    budgets.push_back(budget);
    const int n = static_cast<int>(tokens_.size());
    if (fed_ < n) {
      const int k = std::min(budget, n - fed_);
      Entry e;
      e.batch = {seq_.get(), std::span<const int32_t>(tokens_).subspan(fed_, k)};
      e.hooks = &hooks_;
      e.on_logits = [this, k](const engine::Runner& r, int index) {
        fed_ += k;
        if (fed_ == static_cast<int>(tokens_.size())) logits.assign(r.Logits(index).begin(), r.Logits(index).end());
      };
      entries.push_back(std::move(e));
      return;
    }
    if (resume_ && resumed_logits.empty()) {
      seq_->Truncate(n - 1);
      Entry e;
      e.batch = {seq_.get(), std::span<const int32_t>(tokens_).subspan(n - 1), false, 1,
                 std::span<const float>(resid_).subspan(static_cast<size_t>(n - 1) * config_.dim)};
      e.on_logits = [this](const engine::Runner& r, int index) {
        resumed_logits.assign(r.Logits(index).begin(), r.Logits(index).end());
      };
      entries.push_back(std::move(e));
    }
  }
  bool Done() const override {
    return fed_ == static_cast<int>(tokens_.size()) && (!resume_ || !resumed_logits.empty());
  }
  void Finish(absl::Status status) override {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
    final_status = status;
    cv.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return finished; });
  }

  std::vector<int> budgets, positions_seen;
  std::vector<float> logits, resumed_logits;
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  absl::Status final_status;

 private:
  const engine::LlamaConfig& config_;
  std::vector<int32_t> tokens_;
  bool resume_;
  int fed_ = 0;
  std::unique_ptr<engine::Sequence> seq_;
  std::vector<float> resid_;
  engine::Hooks hooks_;
};

std::vector<int32_t> LongPrompt(int n) {
  std::vector<int32_t> t = {1};
  for (int i = 1; i < n; ++i) t.push_back(10 + (i * 37) % 400);
  return t;
}

TEST_F(SchedulerTest, AJobSharesStepsWithStreamsWithinItsBudget) {
  auto s = Make({.job_tokens_per_step = 4});
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> prompt = LongPrompt(40);
  Collected alone;
  GenerateRequest a = Greedy("Hello", 30);
  a.ignore_eos = true;
  Run(*s, std::move(a), &alone);

  // A stream decoding ("Hello", held after its first token), then the job.
  Gate gate;
  Collected stream;
  GenerateRequest r = Greedy("Hello", 30);
  r.ignore_eos = true;
  Attach(r, &stream, [&gate](const TokenEvent&) { gate.WaitInside(); });
  ASSERT_TRUE(s->Submit(std::move(r)).ok());
  gate.WaitUntilEntered();
  auto job = std::make_shared<PrefillJob>(**model, prompt, /*resume=*/true);
  ASSERT_TRUE(s->SubmitJob({.model = "stories", .job = job}).ok());
  gate.Open();
  job->Wait();
  stream.Wait();
  EXPECT_TRUE(job->final_status.ok()) << job->final_status;
  // The stream's tokens are those it gets alone.
  EXPECT_EQ(stream.Tokens(0), alone.Tokens(0));
  // While the stream decoded, the job got 4 tokens a step.
  ASSERT_GE(job->budgets.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(job->budgets[i], 4);
  // Its hook saw its own 40 positions, once each, in order.
  ASSERT_EQ(job->positions_seen.size(), prompt.size());
  for (int i = 0; i < 40; ++i) EXPECT_EQ(job->positions_seen[i], i);
  // Its logits are the runner's own for the prompt, and so are those resumed at layer 1.
  engine::Runner runner(*(*model)->model, {.threads = 1});
  engine::Sequence seq((*model)->model->config(), 64);
  ASSERT_TRUE(runner.Forward({{engine::BatchEntry{&seq, prompt}}}).ok());
  const std::vector<float> want(runner.Logits(0).begin(), runner.Logits(0).end());
  EXPECT_EQ(job->logits, want);
  EXPECT_EQ(job->resumed_logits, want);
  EXPECT_GT(s->metrics().job_tokens_processed, 40u);
  EXPECT_EQ(s->metrics().active_sequences, 0);
}

TEST_F(SchedulerTest, AJobAloneUsesTheWholePromptBudget) {
  auto s = Make({.prefill_tokens_per_step = 16, .job_tokens_per_step = 4});
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  auto job = std::make_shared<PrefillJob>(**model, LongPrompt(40), false);
  ASSERT_TRUE(s->SubmitJob({.model = "stories", .job = job}).ok());
  job->Wait();
  EXPECT_TRUE(job->final_status.ok());
  ASSERT_GE(job->budgets.size(), 3u);
  EXPECT_EQ(job->budgets[0], 16);
}

TEST_F(SchedulerTest, CancelAndDeadlineEndAJob) {
  FakeClock clock;
  auto s = Make({.max_active = 1, .clock = &clock});
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  Gate gate;
  Collected held;
  Hold(*s, gate, &held);
  auto cancelled = std::make_shared<PrefillJob>(**model, LongPrompt(40), false);
  auto expired = std::make_shared<PrefillJob>(**model, LongPrompt(40), false);
  absl::StatusOr<RequestId> id = s->SubmitJob({.model = "stories", .job = cancelled});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(s->SubmitJob({.model = "stories", .job = expired, .deadline_micros = clock.NowMicros() + 10}).ok());
  EXPECT_TRUE(s->Cancel(*id));
  clock.AdvanceSeconds(1);
  gate.Open();
  cancelled->Wait();
  expired->Wait();
  EXPECT_EQ(cancelled->final_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(expired->final_status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s->SubmitJob({.model = "nope", .job = cancelled}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->SubmitJob({.model = "stories"}).status().code(), absl::StatusCode::kInvalidArgument);
}

// Steering: a request's hooks run at every forward of its prompt and its
// generated tokens, and the stream is what the engine gives with them.
TEST_F(SchedulerTest, GenerationWithHooksEqualsTheRunnerWithThem) {
  auto s = Make();
  auto model = s->GetModel("stories");
  ASSERT_TRUE(model.ok());
  auto steer = std::make_shared<engine::Hooks>();
  steer->Add(engine::HookPoint::kResidPost, 2, [](const engine::ActivationView& v) {
    for (int r = 0; r < v.rows; ++r)
      for (int i = 0; i < v.cols; i += 3) v.row(r)[i] += 0.8f;
  });
  const std::vector<int32_t> prompt = (*model)->tokenizer->Encode("Once upon a time", true, false);
  engine::Runner runner(*(*model)->model, {.threads = 1});
  engine::Sequence seq((*model)->model->config(), 64);
  ASSERT_TRUE(runner.Forward({{engine::BatchEntry{&seq, prompt}}}, steer.get()).ok());
  std::vector<int32_t> want;
  for (int i = 0; i < 20; ++i) {
    std::span<const float> l = runner.Logits(0);
    int32_t t = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    if ((*model)->tokenizer->IsEndOfGeneration(t)) break;
    want.push_back(t);
    engine::Sequence* p = &seq;
    ASSERT_TRUE(runner.Decode({&p, 1}, {&t, 1}, steer.get()).ok());
  }
  Collected plain, steered, other;
  Run(*s, Greedy("Once upon a time", 20), &plain);
  EXPECT_NE(plain.Tokens(0), want);
  // Alongside an unsteered stream, which stays as it is alone.
  GenerateRequest r = Greedy("Once upon a time", 20);
  r.hooks = steer;
  Attach(r, &steered);
  GenerateRequest o = Greedy("Once upon a time", 20);
  Attach(o, &other);
  ASSERT_TRUE(s->Submit(std::move(r)).ok());
  ASSERT_TRUE(s->Submit(std::move(o)).ok());
  steered.Wait();
  other.Wait();
  EXPECT_EQ(steered.Tokens(0), want);
  EXPECT_EQ(other.Tokens(0), plain.Tokens(0));
}

}  // namespace
}  // namespace aperture::scheduler
