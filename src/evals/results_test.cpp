#include "evals/results.h"

#include "core/hash.h"
#include "gtest/gtest.h"

namespace aperture::evals {
namespace {

ItemResult Mc(int index, bool correct, int predicted, int predicted_norm, bool correct_norm,
              std::vector<double> loglik) {
  ItemResult r;
  r.index = index;
  r.correct = correct;
  r.predicted = predicted;
  r.predicted_norm = predicted_norm;
  r.correct_norm = correct_norm;
  r.loglik = std::move(loglik);
  return r;
}

ItemResult Gen(int index, bool correct, std::string output) {
  ItemResult r;
  r.index = index;
  r.correct = correct;
  r.output = std::move(output);
  return r;
}

Suite McSuite() {
  Suite s;
  s.info.name = "mc";
  s.info.domain = "d";
  s.info.version = "1";
  s.info.kind = SuiteKind::kMultipleChoice;
  s.info.items = 2;
  s.mc = {{"q1", {"a", "b"}, 0}, {"q2", {"a", "b"}, 1}};
  return s;
}

TEST(ResultsTest, MultipleChoiceMetricsAreTheFractionsRight) {
  const Suite s = McSuite();
  std::vector<ItemResult> items(2);
  items[0] = Mc(0, true, 0, 1, false, {-1, -2});
  items[1] = Mc(1, false, 0, 1, true, {-1, -2});
  const auto m = ComputeMetrics(s, items);
  EXPECT_EQ(m.at("acc"), 0.5);
  EXPECT_EQ(m.at("acc_norm"), 0.5);
  EXPECT_EQ(m.size(), 2u);
  Suite g;
  g.info.kind = SuiteKind::kGeneration;
  EXPECT_EQ(ComputeMetrics(g, {Gen(0, true, "")}).at("accuracy"), 1.0);
  EXPECT_EQ(ComputeMetrics(g, {}).at("accuracy"), 0.0);
}

TEST(ResultsTest, ResultsJsonIsCanonicalAndIndependentOfCompletionOrder) {
  RunResult r;
  r.suite = McSuite().info;
  r.model = "tiny";
  r.items.push_back(Mc(1, true, 1, 1, true, {-3.25, -0.1}));
  r.items.push_back(Mc(0, false, 1, 0, true, {-2.5, -1.0}));
  r.metrics = {{"acc", 0.5}, {"acc_norm", 1.0}};
  const std::string json = ResultsJson(r);
  std::swap(r.items[0], r.items[1]);
  EXPECT_EQ(ResultsJson(r), json);
  EXPECT_EQ(json.find(' '), std::string::npos);
  EXPECT_LT(json.find("\"index\":0"), json.find("\"index\":1"));
  EXPECT_NE(json.find("\"loglik\":[-3.25,-0.1]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"model\":\"tiny\""), std::string::npos);
  r.items[0].loglik[0] = -3.2500001;
  EXPECT_NE(ResultsJson(r), json);
}

TEST(ResultsTest, ItemResultsRoundTripThroughJson) {
  const ItemResult mc = Mc(3, true, 2, 0, false, {-1.0 / 3, -12.75, -0.000123456789012345});
  absl::StatusOr<ItemResult> back = ItemResultFromJson(ItemResultToJson(mc));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->index, 3);
  EXPECT_EQ(back->loglik, mc.loglik);  // exactly
  EXPECT_EQ(back->predicted, 2);
  EXPECT_FALSE(back->correct_norm);
  // Through text too.
  absl::StatusOr<Json> parsed = ParseJson(CanonicalJson(ItemResultToJson(mc)));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ItemResultFromJson(*parsed)->loglik, mc.loglik);

  const ItemResult gen = Gen(0, false, " 42");
  back = ItemResultFromJson(ItemResultToJson(gen));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->output, " 42");
  EXPECT_EQ(back->predicted, -1);

  EXPECT_FALSE(ItemResultFromJson(Json::array()).ok());
  EXPECT_FALSE(ItemResultFromJson(Json{{"index", -1}, {"correct", true}, {"output", ""}}).ok());
  EXPECT_FALSE(ItemResultFromJson(Json{{"index", 0}, {"correct", 1}, {"output", ""}}).ok());
  EXPECT_FALSE(ItemResultFromJson(Json{{"index", 0}, {"correct", true}}).ok());
}

}  // namespace
}  // namespace aperture::evals
