#include "evals/scoring.h"

#include "evals/regex.h"
#include "gtest/gtest.h"

namespace aperture::evals {
namespace {

TEST(ScoringTest, MultipleChoicePicksTheLargestAndTheLargestPerByte) {
  McItem item{.question = "q", .choices = {"a", "much longer", "bb"}, .answer = 1};
  // Raw: choice 0 wins; per byte: -2/1, -5.5/11 = -0.5, -3/2: choice 1 wins.
  const std::vector<double> loglik = {-2.0, -5.5, -3.0};
  McPrediction p = PredictMultipleChoice(item, loglik);
  EXPECT_EQ(p.predicted, 0);
  EXPECT_EQ(p.predicted_norm, 1);
  // Ties go to the first.
  p = PredictMultipleChoice(item, std::vector<double>{-1.0, -1.0, -1.0 * 2});
  EXPECT_EQ(p.predicted, 0);
}

TEST(ScoringTest, ExactComparesTrimmedText) {
  EXPECT_TRUE(*ScoreGeneration(Scorer::kExact, "12", " 12\n"));
  EXPECT_TRUE(*ScoreGeneration(Scorer::kExact, " 12 ", "12"));
  EXPECT_FALSE(*ScoreGeneration(Scorer::kExact, "12", " 123"));
  EXPECT_FALSE(*ScoreGeneration(Scorer::kExact, "Paris", "paris"));  // case-sensitive
  EXPECT_FALSE(*ScoreGeneration(Scorer::kExact, "1 2", "12"));
}

TEST(ScoringTest, IncludesLooksForTheTargetAnywhere) {
  EXPECT_TRUE(*ScoreGeneration(Scorer::kIncludes, "cat", "the cat sat"));
  EXPECT_FALSE(*ScoreGeneration(Scorer::kIncludes, "dog", "the cat sat"));
  EXPECT_FALSE(*ScoreGeneration(Scorer::kIncludes, "Cat", "the cat sat"));
}

TEST(ScoringTest, RegexSearchesWithPcre2) {
  EXPECT_TRUE(*ScoreGeneration(Scorer::kRegex, "^\\s*4\\b", " 4 apples"));
  EXPECT_FALSE(*ScoreGeneration(Scorer::kRegex, "^\\s*4\\b", " 42 apples"));
  EXPECT_TRUE(*ScoreGeneration(Scorer::kRegex, "(?i)paris", "It is PARIS."));
  EXPECT_TRUE(*ScoreGeneration(Scorer::kRegex, "caf\\x{e9}", "un caf\xc3\xa9"));  // UTF-8 aware
  EXPECT_FALSE(*ScoreGeneration(Scorer::kRegex, "x", "\xff\xfe"));                // invalid UTF-8 is searched safely
  EXPECT_EQ(ScoreGeneration(Scorer::kRegex, "(", "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScoreGeneration(Scorer::kLogLikelihood, "x", "x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ScoringTest, CatastrophicBacktrackingStopsAtTheLimitAsNoMatch) {
  absl::StatusOr<Regex> re = Regex::Compile("^(a+)+$");
  ASSERT_TRUE(re.ok());
  EXPECT_FALSE(re->Search(std::string(40, 'a') + "b"));
  EXPECT_TRUE(re->Search(std::string(40, 'a')));
  EXPECT_EQ(Regex::Compile(std::string(5000, 'a')).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ScoringTest, TrimWhitespace) {
  EXPECT_EQ(TrimWhitespace("  a b \t\n"), "a b");
  EXPECT_EQ(TrimWhitespace(" \n "), "");
  EXPECT_EQ(TrimWhitespace(""), "");
}

}  // namespace
}  // namespace aperture::evals
