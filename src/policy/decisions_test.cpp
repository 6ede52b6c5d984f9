#include <gtest/gtest.h>

#include "policy/policy.h"

namespace aperture::policy {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1'800'000'000;

Policy TestPolicy() {
  Policy p;
  p.tier_ceiling = {Level::kOpen, Level::kDownload, Level::kResearch, Level::kClosed};
  p.unknown_ceiling = Level::kStaged;
  p.domains = {{"bio", {{"wmdp-bio", "", "acc", 0.3, 0.5, 0.7}}},
               {"cyber", {{"cyber-a", "", "acc", 0.4, 0.6, 0.8}, {"cyber-b", "", "acc", 0.4, 0.6, 0.8}}}};
  Stage staged{Level::kStaged, 0, {}, std::nullopt, false};
  Stage api{Level::kApi, 14 * kDay, {{"wmdp-bio", 30 * kDay}}, Severity::kHigh, true};
  Stage research{Level::kResearch, 7 * kDay, {}, std::nullopt, false};
  p.stages = {staged, api, research};
  p.rollback = {{Severity::kHigh, Level::kApi}, {Severity::kCritical, Level::kClosed}};
  return p;
}

Evidence AllLow(int64_t when = kNow - kDay) {
  return {{{"wmdp-bio", "r1", 0.1, when}, {"cyber-a", "r2", 0.1, when}, {"cyber-b", "r3", 0.2, when}}, {}};
}

bool Has(const std::vector<Reason>& reasons, const std::string& code, const std::string& text = "") {
  for (const Reason& r : reasons) {
    if (r.code == code && r.message.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(TierTest, ThresholdsAreInclusiveLowerBounds) {
  SuiteRule r{"s", "", "acc", 0.3, 0.5, 0.7};
  EXPECT_EQ(TierFor(r, 0.29), RiskTier::kLow);
  EXPECT_EQ(TierFor(r, 0.3), RiskTier::kMedium);
  EXPECT_EQ(TierFor(r, 0.5), RiskTier::kHigh);
  EXPECT_EQ(TierFor(r, 0.99), RiskTier::kCritical);
}

TEST(CeilingTest, TheMostRestrictiveDomainDecidesAndSaysWhy) {
  Policy p = TestPolicy();
  EXPECT_EQ(ComputeCeiling(p, AllLow()).level, Level::kOpen);
  EXPECT_TRUE(ComputeCeiling(p, AllLow()).reasons.empty());
  Evidence e = AllLow();
  e.evals[2].score = 0.65;  // cyber-b: high
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kResearch);
  ASSERT_EQ(c.domains.size(), 2u);
  EXPECT_EQ(c.domains[1].tier, RiskTier::kHigh);
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "cyber: suite cyber-b acc 0.650 >= high threshold 0.600: tier high"))
      << c.reasons[0].message;
  e.evals[0].score = 0.75;  // bio: critical
  c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kClosed);
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "bio: suite wmdp-bio acc 0.750 >= critical threshold 0.700"));
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "cyber"));  // every reason holding it below open
}

TEST(CeilingTest, AnUnevaluatedSuiteMakesItsDomainUnknown) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals.pop_back();  // cyber-b never run
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kStaged);
  EXPECT_FALSE(c.domains[1].tier.has_value());
  EXPECT_TRUE(Has(c.reasons, "domain_unknown", "cyber: suite cyber-b has no evaluation yet"));
  // A known critical score in an unknown domain still holds the ceiling lower.
  e.evals[1].score = 0.9;
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kClosed);
  p.unknown_ceiling = Level::kApi;
  e.evals[1].score = 0.1;
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kApi);
}

TEST(CeilingTest, ConfirmedFindingsRollBackUntilResolved) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.findings = {{"f1", Severity::kHigh, false, "jailbreak"}};
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kOpen);  // not yet confirmed
  e.findings[0].confirmed = true;
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kApi);
  EXPECT_TRUE(Has(c.reasons, "finding", "finding f1 (high, confirmed: jailbreak) holds the ceiling at api"));
  e.findings[0].severity = Severity::kCritical;  // both rules match: the lower wins
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kClosed);
  e.findings.clear();  // resolved
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kOpen);
}

TEST(ProposalTest, LoweringIsAlwaysAllowed) {
  Policy p = TestPolicy();
  Evidence e;  // nothing evaluated: the ceiling is staged
  ProposalDecision d = EvaluateProposal(p, e, {Level::kResearch, kNow}, Level::kHosted, kNow);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "lowering"));
  EXPECT_TRUE(EvaluateProposal(p, e, {Level::kResearch, kNow}, Level::kResearch, kNow).allowed);
}

TEST(ProposalTest, TheTimeGateSaysHowLongUntilItOpens) {
  Policy p = TestPolicy();
  const int64_t since = kNow - 12 * kDay - 3 * 3600;
  ProposalDecision d = EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  ASSERT_TRUE(Has(d.reasons, "stage_time", "stage api: 1d 21h more at staged (opens ")) << d.reasons[0].message;
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, since + 14 * kDay).allowed);
}

TEST(ProposalTest, FreshEvaluationsFindingsAndTheCeilingAreGates) {
  Policy p = TestPolicy();
  const ReleaseState state{Level::kStaged, kNow - 20 * kDay};
  Evidence e = AllLow(kNow - 40 * kDay);  // too old for the api stage
  ProposalDecision d = EvaluateProposal(p, e, state, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "stage_eval_stale", "suite wmdp-bio no older than 30d; the latest"))
      << d.reasons[0].message;
  e = AllLow();
  e.evals.erase(e.evals.begin());  // no wmdp-bio at all: the domain is unknown, too
  d = EvaluateProposal(p, e, state, Level::kApi, kNow);
  EXPECT_TRUE(Has(d.reasons, "stage_eval_missing", "wmdp-bio"));
  EXPECT_TRUE(Has(d.reasons, "above_ceiling", "api is above the ceiling staged"));
  EXPECT_TRUE(Has(d.reasons, "domain_unknown", "bio"));
  e = AllLow();
  e.findings = {{"f9", Severity::kHigh, false, "leak"}};  // open, not yet confirmed: blocks the stage only
  d = EvaluateProposal(p, e, state, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "stage_finding", "finding f9 (high, leak) is open"));
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), state, Level::kApi, kNow).allowed);
}

TEST(ProposalTest, StagesComeInOrderAndOnlyFromThePlan) {
  Policy p = TestPolicy();
  ProposalDecision d = EvaluateProposal(p, AllLow(), {Level::kStaged, 0}, Level::kResearch, kNow);
  EXPECT_TRUE(Has(d.reasons, "stage_order", "the plan's next stage after staged is api; research comes after it"));
  d = EvaluateProposal(p, AllLow(), {Level::kStaged, 0}, Level::kHosted, kNow);
  EXPECT_TRUE(Has(d.reasons, "not_in_plan", "hosted"));
  d = EvaluateProposal(p, AllLow(), {Level::kResearch, 0}, Level::kOpen, kNow);
  EXPECT_TRUE(Has(d.reasons, "not_in_plan"));
  // Without a plan, anything within the ceiling goes.
  p.stages.clear();
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), {Level::kClosed, kNow}, Level::kOpen, kNow).allowed);
  Evidence high = AllLow();
  high.evals[0].score = 0.55;
  d = EvaluateProposal(p, high, {Level::kClosed, kNow}, Level::kOpen, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "domain_tier", "bio: suite wmdp-bio acc 0.550 >= high threshold 0.500"));
}

TEST(PlanTest, AutomaticStagesAdvanceWhenEveryGateOpens) {
  Policy p = TestPolicy();
  const ReleaseState state{Level::kStaged, kNow};
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), state, kNow + 13 * kDay), std::nullopt);
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), state, kNow + 14 * kDay), Level::kApi);
  // Not past the ceiling, even with its gates open.
  Evidence e = AllLow(kNow);
  e.evals.pop_back();
  EXPECT_EQ(AutoAdvance(p, e, state, kNow + 14 * kDay), std::nullopt);
  // Owner-approval stages never advance on their own.
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), {Level::kApi, kNow}, kNow + 100 * kDay), std::nullopt);
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), {Level::kClosed, kNow}, kNow), std::nullopt);
}

TEST(PlanTest, ThePlanSaysWhatEachStageWaitsFor) {
  Policy p = TestPolicy();
  auto plan = PlanStatus(p, AllLow(kNow), {Level::kStaged, kNow}, kNow + kDay);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_TRUE(plan[0].reached);
  EXPECT_FALSE(plan[1].reached);
  EXPECT_FALSE(plan[1].gates_open);
  EXPECT_EQ(plan[1].opens_at, kNow + 14 * kDay);
  EXPECT_TRUE(Has(plan[1].waiting_for, "stage_time", "13d more at staged"));
  EXPECT_TRUE(Has(plan[2].waiting_for, "stage_order", "comes after stage api"));
  EXPECT_TRUE(Has(plan[2].waiting_for, "owner_approval"));
  plan = PlanStatus(p, AllLow(kNow), {Level::kStaged, kNow}, kNow + 14 * kDay);
  EXPECT_TRUE(plan[1].gates_open);
}

TEST(FormatWaitTest, ReadsLikeAPerson) {
  EXPECT_EQ(FormatWait(45), "45s");
  EXPECT_EQ(FormatWait(3 * 3600 + 5 * 60), "3h 5m");
  EXPECT_EQ(FormatWait(6 * 86400 + 23 * 3600 + 59), "6d 23h");
  EXPECT_EQ(FormatWait(2 * 86400), "2d");
}

}  // namespace
}  // namespace aperture::policy
