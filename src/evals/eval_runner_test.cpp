#include "evals/eval_runner.h"

#include <algorithm>
#include <cmath>
#include <future>

#include "engine/model/runner.h"
#include "evals/suite_parser.h"
#include "gtest/gtest.h"

namespace aperture::evals {
namespace {

const std::string kStories = std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf";

SuiteInfo Info(std::string name, SuiteKind kind, Scorer scorer) {
  SuiteInfo info;
  info.name = std::move(name);
  info.domain = "test";
  info.version = "1";
  info.kind = kind;
  info.scorer = scorer;
  return info;
}

ItemResult Done(int index, size_t choices) {
  ItemResult r;
  r.index = index;
  r.loglik.assign(choices, 0.0);
  return r;
}

// TinyStories-style reading items (stories260K was trained on such text).
Suite StoriesSuite() {
  Suite s;
  s.info = Info("stories-mc", SuiteKind::kMultipleChoice, Scorer::kLogLikelihood);
  s.mc = {
      {"Once upon a time, there was a little girl named Lily. She loved to play with her",
       {"ball", "rocket engine", "mom and dad in the park", "tax return"},
       0},
      {"Tom saw a big dog in the park. The dog was", {"happy", "a prime number", "very big and friendly"}, 0},
      {"The sun was hot. Lily wanted to drink some", {"water", "gravel"}, 0},
      {"One day, a cat named Tim went to the", {"park", "moon", "store to buy milk", "sea"}, 0},
      {"Sue had a red ball. She threw the ball to her friend. Her friend", {"caught it", "was sad", "ran away"}, 0},
      {"The bird sang a song in the tree. ", {"It was happy.", "It was a car."}, 0},  // trailing space moves
      {"Ben and Mia built a tower of blocks. The tower fell down and they", {"laughed", "cried", "went home"}, 1},
      {"Mom made a cake for the party. Everyone said it was", {"yummy", "blue", "loud", "a dog"}, 0},
      {"The little boy was scared of the dark. His dad gave him a", {"hug", "light", "book"}, 1},
      {"Anna found a shiny stone by the river. She put it in her", {"pocket", "soup"}, 0},
  };
  s.info.items = s.mc.size();
  s.info.sha256 = "test";
  return s;
}

class EvalRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scheduler_ = std::make_unique<scheduler::Scheduler>(
        scheduler::SchedulerOptions{.threads = 2, .max_active = 32, .max_waiting = 64, .prefill_tokens_per_step = 64});
    ASSERT_TRUE(scheduler_->RegisterModel("stories", kStories).ok());
  }
  absl::StatusOr<RunResult> RunAll(const Suite& suite, RunOptions options = {}) {
    EvalRunner runner(*scheduler_, options);
    return runner.Run("stories", suite, {}, nullptr, nullptr);
  }
  std::unique_ptr<scheduler::Scheduler> scheduler_;
};

// By hand, from the engine directly: lm-eval's split of context and
// continuation, one forward pass of the whole text with every row's logits,
// and the log-softmax of each continuation token summed.
double LogLikelihoodByHand(const scheduler::LoadedModel& m, std::string question, const std::string& choice) {
  std::string continuation = " " + choice;
  while (!question.empty() && question.back() == ' ') {
    question.pop_back();
    continuation.insert(continuation.begin(), ' ');
  }
  const std::vector<int32_t> context = m.tokenizer->Encode(question, true, false);
  const std::vector<int32_t> whole = m.tokenizer->Encode(question + continuation, true, false);
  EXPECT_GT(whole.size(), context.size());
  EXPECT_TRUE(std::equal(context.begin(), context.end(), whole.begin()));
  engine::Runner runner(*m.model, {.threads = 1});
  engine::Sequence seq(m.model->config(), static_cast<int>(whole.size()));
  EXPECT_TRUE(runner.Forward({{engine::BatchEntry{&seq, whole, /*all_logits=*/true}}}).ok());
  double sum = 0;
  for (size_t pos = context.size(); pos < whole.size(); ++pos) {
    const std::span<const float> logits = runner.Logits(0, static_cast<int>(pos) - 1);
    const float max = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float x : logits) z += std::exp(static_cast<double>(x - max));
    sum += (logits[whole[pos]] - max) - std::log(z);
  }
  return sum;
}

TEST_F(EvalRunnerTest, MultipleChoiceScoresAgreeWithLogLikelihoodsComputedByHand) {
  const Suite suite = StoriesSuite();
  absl::StatusOr<RunResult> r = RunAll(suite);
  ASSERT_TRUE(r.ok()) << r.status();
  auto model = scheduler_->GetModel("stories");
  ASSERT_TRUE(model.ok());
  ASSERT_EQ(r->items.size(), suite.mc.size());
  double correct = 0, correct_norm = 0;
  for (size_t i = 0; i < suite.mc.size(); ++i) {
    const McItem& item = suite.mc[i];
    const ItemResult& got = r->items[i];
    EXPECT_EQ(got.index, static_cast<int>(i));
    ASSERT_EQ(got.loglik.size(), item.choices.size());
    std::vector<double> by_hand;
    for (size_t c = 0; c < item.choices.size(); ++c) {
      by_hand.push_back(LogLikelihoodByHand(**model, item.question, item.choices[c]));
      EXPECT_NEAR(got.loglik[c], by_hand.back(), 1e-6) << "item " << i << " choice " << c;
    }
    const int best = static_cast<int>(std::max_element(by_hand.begin(), by_hand.end()) - by_hand.begin());
    std::vector<double> per_byte;
    for (size_t c = 0; c < by_hand.size(); ++c) per_byte.push_back(by_hand[c] / item.choices[c].size());
    const int best_norm = static_cast<int>(std::max_element(per_byte.begin(), per_byte.end()) - per_byte.begin());
    EXPECT_EQ(got.predicted, best) << i;
    EXPECT_EQ(got.predicted_norm, best_norm) << i;
    EXPECT_EQ(got.correct, best == item.answer);
    EXPECT_EQ(got.correct_norm, best_norm == item.answer);
    correct += got.correct;
    correct_norm += got.correct_norm;
  }
  EXPECT_DOUBLE_EQ(r->metrics.at("acc"), correct / suite.mc.size());
  EXPECT_DOUBLE_EQ(r->metrics.at("acc_norm"), correct_norm / suite.mc.size());
  // The model read the stories: it does better than chance on them.
  EXPECT_GE(correct, 5) << ResultsJson(*r);
  EXPECT_EQ(r->results_sha256.size(), 64u);
  EXPECT_EQ(r->model, "stories");
}

TEST_F(EvalRunnerTest, TheSharedPrefixPathGivesTheSameScoresAsScoringEachChoiceAlone) {
  const Suite suite = StoriesSuite();
  absl::StatusOr<RunResult> shared = RunAll(suite, {.batch_items = 8, .share_prefix = true});
  absl::StatusOr<RunResult> alone = RunAll(suite, {.batch_items = 1, .share_prefix = false});
  ASSERT_TRUE(shared.ok()) << shared.status();
  ASSERT_TRUE(alone.ok()) << alone.status();
  for (size_t i = 0; i < suite.mc.size(); ++i) EXPECT_EQ(shared->items[i].loglik, alone->items[i].loglik) << i;
  EXPECT_EQ(ResultsJson(*shared), ResultsJson(*alone));
  EXPECT_EQ(shared->results_sha256, alone->results_sha256);

  // A scheduler with few slots (a choice takes none of its own): the same scores.
  auto small = std::make_unique<scheduler::Scheduler>(scheduler::SchedulerOptions{.threads = 2, .max_active = 1});
  ASSERT_TRUE(small->RegisterModel("stories", kStories).ok());
  EvalRunner runner(*small);
  absl::StatusOr<RunResult> few_slots = runner.Run("stories", suite, {}, nullptr, nullptr);
  ASSERT_TRUE(few_slots.ok()) << few_slots.status();
  EXPECT_EQ(few_slots->results_sha256, shared->results_sha256);
}

TEST_F(EvalRunnerTest, ResumingAfterACancelGivesTheSameResultAsOneRun) {
  const Suite suite = StoriesSuite();
  absl::StatusOr<RunResult> whole = RunAll(suite, {.batch_items = 2});
  ASSERT_TRUE(whole.ok()) << whole.status();

  // First run: persist each batch (as JSON, as a store would), cancel about half way.
  std::vector<Json> persisted;
  std::atomic<bool> cancel{false};
  std::vector<Progress> progress;
  EvalRunner runner(*scheduler_, {.batch_items = 2});
  absl::StatusOr<RunResult> first = runner.Run(
      "stories", suite, {},
      [&](std::span<const ItemResult> batch) {
        for (const ItemResult& item : batch) persisted.push_back(ItemResultToJson(item));
        if (persisted.size() >= suite.mc.size() / 2) cancel = true;
        return absl::OkStatus();
      },
      [&](const Progress& p) { progress.push_back(p); }, &cancel);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kCancelled) << first.status();
  ASSERT_GE(persisted.size(), suite.mc.size() / 2);
  ASSERT_LT(persisted.size(), suite.mc.size());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().done, persisted.size());

  // Resume with what was persisted: only the rest runs.
  std::vector<ItemResult> done;
  for (const Json& j : persisted) {
    absl::StatusOr<ItemResult> item = ItemResultFromJson(j);
    ASSERT_TRUE(item.ok()) << item.status();
    done.push_back(*item);
  }
  size_t reported = 0;
  progress.clear();
  absl::StatusOr<RunResult> resumed = runner.Run(
      "stories", suite, done,
      [&](std::span<const ItemResult> batch) {
        for (const ItemResult& item : batch) {
          EXPECT_TRUE(
              std::none_of(done.begin(), done.end(), [&](const ItemResult& d) { return d.index == item.index; }))
              << "item " << item.index << " ran again";
        }
        reported += batch.size();
        return absl::OkStatus();
      },
      [&](const Progress& p) { progress.push_back(p); });
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(reported, suite.mc.size() - done.size());
  EXPECT_EQ(ResultsJson(*resumed), ResultsJson(*whole));
  EXPECT_EQ(resumed->results_sha256, whole->results_sha256);
  EXPECT_EQ(resumed->metrics, whole->metrics);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front().done, done.size());
  EXPECT_EQ(progress.back().done, suite.mc.size());
  EXPECT_EQ(progress.back().total, suite.mc.size());
  EXPECT_EQ(progress.back().eta_seconds, 0);
  EXPECT_EQ(scheduler_->metrics().active_sequences, 0);
}

TEST_F(EvalRunnerTest, GenerationItemsAreGreedyAndScoredByTheSuitesScorer) {
  // The model's own greedy line for a prompt, straight from the scheduler.
  std::promise<std::string> text;
  auto buffer = std::make_shared<std::string>();
  scheduler::GenerateRequest g;
  g.model = "stories";
  g.prompt = "Once upon a time";
  g.max_tokens = 12;
  g.sampling.temperature = 0;
  g.stop = {"\n"};
  g.callbacks.on_token = [buffer](const scheduler::TokenEvent& e) { *buffer += e.text; };
  g.callbacks.on_choice_end = [buffer](const scheduler::ChoiceEnd& e) { *buffer += e.text; };
  g.callbacks.on_done = [&, buffer](const scheduler::GenerateDone&) { text.set_value(*buffer); };
  ASSERT_TRUE(scheduler_->Submit(std::move(g)).ok());
  const std::string greedy = text.get_future().get();
  ASSERT_FALSE(greedy.empty());
  const std::string first_word = greedy.substr(0, greedy.find(' ', 1));

  Suite suite;
  suite.info = Info("gen", SuiteKind::kGeneration, Scorer::kExact);
  suite.gen = {{"Once upon a time", greedy}, {"Once upon a time", "not what it says"}};
  suite.info.items = 2;
  absl::StatusOr<RunResult> r = RunAll(suite, {.max_tokens = 12});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->items[0].output, greedy);
  EXPECT_TRUE(r->items[0].correct);
  EXPECT_FALSE(r->items[1].correct);
  EXPECT_EQ(r->metrics.at("accuracy"), 0.5);

  suite.info.scorer = Scorer::kIncludes;
  suite.gen = {{"Once upon a time", first_word}, {"Once upon a time", "zebra crossing"}};
  r = RunAll(suite, {.max_tokens = 12});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->items[0].correct);
  EXPECT_FALSE(r->items[1].correct);

  suite.info.scorer = Scorer::kRegex;
  suite.gen = {{"Once upon a time", "^.+$"}, {"Once upon a time", "^\\d+$"}};
  r = RunAll(suite, {.max_tokens = 12});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->items[0].correct);
  EXPECT_FALSE(r->items[1].correct);
}

TEST_F(EvalRunnerTest, BadInputsAndCallbackErrorsStopTheRun) {
  const Suite suite = StoriesSuite();
  EvalRunner runner(*scheduler_, {.batch_items = 2});
  EXPECT_EQ(runner.Run("nope", suite, {}, nullptr, nullptr).status().code(), absl::StatusCode::kNotFound);
  const ItemResult out_of_range = Done(10, 2);
  EXPECT_EQ(runner.Run("stories", suite, {out_of_range}, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  const ItemResult twice = Done(0, 4);
  EXPECT_EQ(runner.Run("stories", suite, {twice, twice}, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  const ItemResult wrong_choices = Done(0, 2);
  EXPECT_EQ(runner.Run("stories", suite, {wrong_choices}, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);

  int batches = 0;
  absl::StatusOr<RunResult> r = runner.Run(
      "stories", suite, {},
      [&](std::span<const ItemResult>) {
        ++batches;
        return absl::UnavailableError("the disk is full");
      },
      nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "the disk is full");
  EXPECT_EQ(batches, 1);  // nothing more is reported after a failure

  // An item longer than the model's context is an error naming the item.
  Suite long_suite = suite;
  std::string long_question;
  for (int i = 0; i < 2000; ++i) long_question += "the cat ";
  long_suite.mc[3].question = long_question;
  r = runner.Run("stories", long_suite, {}, nullptr, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("item 3"), std::string_view::npos) << r.status();
  EXPECT_EQ(scheduler_->metrics().active_sequences, 0);
}

}  // namespace
}  // namespace aperture::evals
