// Evaluation runs as the CLI and the server make them: stored item by item,
// resumable after an interruption with the same results as an uninterrupted
// run, recorded in the log with the suite's and results' hashes; and the
// `aperture eval run` command with its progress bar.
#include <gtest/gtest.h>

#include <atomic>

#include "fmt/format.h"
#include "release/eval_service.h"
#include "tests/integration/test_server.h"
#include "translog/entry.h"

namespace aperture::testing {
namespace {

constexpr char kSuite[] = APERTURE_SOURCE_DIR "/examples/suites/reading.jsonl";

class EvalRunTest : public ::testing::Test {
 protected:
  EvalRunTest() : scheduler_({.threads = 2}) {
    server_.AddModel("m", Level::kClosed);
    server_.AddModel("m2", Level::kClosed);
    Services& s = server_.services();
    evals_ = std::make_unique<EvalService>(*s.store, *s.recorder, s.clock, *s.release, scheduler_);
  }

  std::map<int64_t, std::string> Items(const std::string& run_id) {
    auto items = server_.services().store->ListEvalItems(run_id);
    EXPECT_TRUE(items.ok());
    return {items->begin(), items->end()};
  }

  TestServer server_;
  scheduler::Scheduler scheduler_;
  std::unique_ptr<EvalService> evals_;
};

TEST_F(EvalRunTest, AnInterruptedRunResumesToTheSameResults) {
  const Caller op = AccessService::Operator();
  std::atomic<bool> cancel{false};
  size_t seen = 0;
  auto interrupted = evals_->RunNow(
      op, "m", kSuite,
      [&](const evals::Progress& p) {
        seen = p.done;
        if (p.done > 0) cancel = true;  // stop after the first stored batch
      },
      &cancel);
  ASSERT_TRUE(absl::IsCancelled(interrupted.status())) << interrupted.status();
  auto runs = *server_.services().store->ListEvalRuns("m");
  ASSERT_EQ(runs.size(), 1u);
  const EvalRun partial = runs[0];
  EXPECT_EQ(partial.state, EvalRunState::kRunning);
  EXPECT_GT(partial.done_items, 0);
  EXPECT_LT(partial.done_items, partial.total_items);
  EXPECT_GE(static_cast<int64_t>(seen), partial.done_items);

  // The same command again resumes that run.
  auto resumed = evals_->RunNow(op, "m", kSuite, {});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->id, partial.id);
  EXPECT_EQ(resumed->state, EvalRunState::kFinished);
  EXPECT_EQ(resumed->done_items, 25);

  // An uninterrupted run of the same suite on the same weights agrees item by item.
  auto whole = evals_->RunNow(op, "m2", kSuite, {});
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(Items(resumed->id), Items(whole->id));
  EXPECT_EQ(resumed->metrics, whole->metrics);
  EXPECT_NE(resumed->metrics, "{}");

  // The log has the run's hashes, never the items' text.
  server_.services().recorder->Flush();
  auto head = *server_.services().log_store->Head();
  auto entries = *server_.services().log_store->Entries(0, head->size);
  int recorded = 0;
  for (const std::string& e : entries) {
    auto event = translog::EventFromEntry(e);
    if (!event.ok() || event->type != "eval.recorded" || event->model != "m") continue;
    ++recorded;
    Json details = *ParseJson(event->details);
    EXPECT_EQ(details["results_sha256"], resumed->results_sha256);
    EXPECT_EQ(details["suite_sha256"], resumed->suite_sha256);
    EXPECT_EQ(details["items"], 25);
    EXPECT_EQ(e.find("Lily"), std::string::npos);  // no suite text in the log
  }
  EXPECT_EQ(recorded, 1);
}

TEST_F(EvalRunTest, BadSuitesAndModelsChangeNothing) {
  const Caller op = AccessService::Operator();
  EXPECT_TRUE(absl::IsNotFound(evals_->RunNow(op, "m", "/nonexistent/suite.jsonl", {}).status()));
  EXPECT_TRUE(absl::IsNotFound(evals_->RunNow(op, "nope", kSuite, {}).status()));
  EXPECT_EQ(server_.services().store->ListEvalRuns("")->size(), 0u);
}

TEST_F(EvalRunTest, TheCliRunsASuiteWithAProgressBar) {
  auto [rc, out] = RunCommand(
      fmt::format("{} eval run --data {} --model m --suite {}", APERTURE_BINARY, server_.dir().path, kSuite));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("25/25 items"), std::string::npos) << out;
  EXPECT_NE(out.find("finished"), std::string::npos) << out;
  EXPECT_NE(out.find("acc_norm"), std::string::npos) << out;
  auto [rc2, out2] = RunCommand(
      fmt::format("{} eval run --data {} --model m --suite /nonexistent.jsonl", APERTURE_BINARY, server_.dir().path));
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("nonexistent"), std::string::npos) << out2;
  // The run is the server's evidence at once: the CLI and the server share the store.
  EXPECT_EQ(server_.services().store->ListEvalRuns("m")->size(), 1u);
}

}  // namespace
}  // namespace aperture::testing
