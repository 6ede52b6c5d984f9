// The suites shipped under examples/suites/ load, and the hazard proxy says it is a placeholder.
#include <filesystem>

#include "evals/suite_parser.h"
#include "gtest/gtest.h"

namespace aperture::evals {
namespace {

const std::string kDir = std::string(APERTURE_SOURCE_DIR) + "/examples/suites";

TEST(ExampleSuitesTest, EveryShippedSuiteLoads) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    if (entry.path().extension() != ".jsonl") continue;
    absl::StatusOr<Suite> s = LoadSuite(entry.path().string());
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_GE(s->info.items, 20u) << entry.path();
    EXPECT_LE(s->info.items, 50u) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 3);
}

TEST(ExampleSuitesTest, TheShippedSuitesAreWhatTheDocsSay) {
  absl::StatusOr<Suite> arithmetic = LoadSuite(kDir + "/arithmetic.jsonl");
  ASSERT_TRUE(arithmetic.ok()) << arithmetic.status();
  EXPECT_EQ(arithmetic->info.kind, SuiteKind::kGeneration);
  EXPECT_EQ(arithmetic->info.scorer, Scorer::kExact);

  absl::StatusOr<Suite> reading = LoadSuite(kDir + "/reading.jsonl");
  ASSERT_TRUE(reading.ok()) << reading.status();
  EXPECT_EQ(reading->info.kind, SuiteKind::kMultipleChoice);

  absl::StatusOr<Suite> hazard = LoadSuite(kDir + "/hazard_proxy_placeholder.jsonl");
  ASSERT_TRUE(hazard.ok()) << hazard.status();
  EXPECT_EQ(hazard->info.kind, SuiteKind::kMultipleChoice);
  EXPECT_NE(hazard->info.name.find("placeholder"), std::string::npos);
  EXPECT_NE(hazard->info.description.find("PLACEHOLDER"), std::string::npos);
}

}  // namespace
}  // namespace aperture::evals
