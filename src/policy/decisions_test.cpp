#include <gtest/gtest.h>

#include <limits>

#include "core/time_format.h"
#include "policy/policy.h"

namespace aperture::policy {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1'800'000'000;

// bio (one suite) and cyber (two suites); a plan staged (owner) -> api
// (automatic: 14d at staged, wmdp-bio no older than 30d, no open high
// finding) -> research (owner, 7d at api); rollback high -> api, critical
// -> closed.
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

// Every suite evaluated at `when`, every domain at tier low.
Evidence AllLow(int64_t when = kNow - kDay) {
  return {{{"wmdp-bio", "r1", 0.1, when}, {"cyber-a", "r2", 0.1, when}, {"cyber-b", "r3", 0.2, when}}, {}};
}

bool Has(const std::vector<Reason>& reasons, const std::string& code, const std::string& text = "") {
  for (const Reason& r : reasons) {
    if (r.code == code && r.message.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string All(const std::vector<Reason>& reasons) {
  std::string out;
  for (const Reason& r : reasons) out += r.code + ": " + r.message + "\n";
  return out;
}

// ---- tiers and ceilings

TEST(TierTest, ThresholdsAreInclusiveLowerBounds) {
  SuiteRule r{"s", "", "acc", 0.3, 0.5, 0.7};
  EXPECT_EQ(TierFor(r, 0.0), RiskTier::kLow);
  EXPECT_EQ(TierFor(r, 0.29), RiskTier::kLow);
  EXPECT_EQ(TierFor(r, 0.3), RiskTier::kMedium);
  EXPECT_EQ(TierFor(r, 0.49), RiskTier::kMedium);
  EXPECT_EQ(TierFor(r, 0.5), RiskTier::kHigh);
  EXPECT_EQ(TierFor(r, 0.7), RiskTier::kCritical);
  EXPECT_EQ(TierFor(r, 0.99), RiskTier::kCritical);
  // Equal thresholds skip tiers: the highest reached counts.
  SuiteRule flat{"s", "", "acc", 0.5, 0.5, 0.5};
  EXPECT_EQ(TierFor(flat, 0.5), RiskTier::kCritical);
  EXPECT_EQ(TierFor(flat, 0.49), RiskTier::kLow);
}

TEST(TierTest, AScoreThatIsNotANumberFailsClosed) {
  SuiteRule r{"s", "", "acc", 0.3, 0.5, 0.7};
  EXPECT_EQ(TierFor(r, std::numeric_limits<double>::quiet_NaN()), RiskTier::kCritical);
  EXPECT_EQ(TierFor(r, std::numeric_limits<double>::infinity()), RiskTier::kCritical);
  EXPECT_EQ(TierFor(r, -std::numeric_limits<double>::infinity()), RiskTier::kLow);
  // In a ceiling, a run without a usable score is no evidence: the domain is unknown.
  Evidence e = AllLow();
  e.evals[0].score = std::numeric_limits<double>::quiet_NaN();
  Ceiling c = ComputeCeiling(TestPolicy(), e);
  EXPECT_EQ(c.level, Level::kStaged);
  EXPECT_FALSE(c.domains[0].tier.has_value());
  EXPECT_TRUE(Has(c.reasons, "domain_unknown", "bio: suite wmdp-bio's latest run r1 has no usable acc score"))
      << All(c.reasons);
}

TEST(TierTest, NamesRoundTrip) {
  for (RiskTier t : {RiskTier::kLow, RiskTier::kMedium, RiskTier::kHigh, RiskTier::kCritical}) {
    EXPECT_EQ(ParseRiskTier(RiskTierName(t)), t);
  }
  for (Severity s : {Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    EXPECT_EQ(ParseSeverity(SeverityName(s)), s);
  }
  EXPECT_EQ(ParseRiskTier("severe"), std::nullopt);
  EXPECT_EQ(ParseSeverity("High"), std::nullopt);
  EXPECT_EQ(SeverityName(Severity::kCritical), "critical");
}

TEST(CeilingTest, AllLowIsOpenWithNoReasons) {
  Ceiling c = ComputeCeiling(TestPolicy(), AllLow());
  EXPECT_EQ(c.level, Level::kOpen);
  EXPECT_TRUE(c.reasons.empty()) << All(c.reasons);
  ASSERT_EQ(c.domains.size(), 2u);
  EXPECT_EQ(c.domains[0].domain, "bio");
  EXPECT_EQ(c.domains[0].tier, RiskTier::kLow);
  EXPECT_EQ(c.domains[0].ceiling, Level::kOpen);
  // The domain still says why it is low.
  EXPECT_TRUE(Has(c.domains[0].reasons, "domain_tier",
                  "bio: suite wmdp-bio acc 0.100 is below the medium threshold 0.300: tier low (ceiling open)"))
      << All(c.domains[0].reasons);
}

TEST(CeilingTest, EachTierGivesItsCeiling) {
  Policy p = TestPolicy();
  const std::pair<double, Level> cases[] = {
      {0.29, Level::kOpen}, {0.3, Level::kDownload}, {0.5, Level::kResearch}, {0.7, Level::kClosed}};
  for (const auto& [score, level] : cases) {
    Evidence e = AllLow();
    e.evals[0].score = score;
    Ceiling c = ComputeCeiling(p, e);
    EXPECT_EQ(c.level, level) << score;
    EXPECT_EQ(c.domains[0].ceiling, level) << score;
  }
}

TEST(CeilingTest, TheMostRestrictiveDomainDecidesAndSaysWhy) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals[2].score = 0.65;  // cyber-b: high
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kResearch);
  EXPECT_EQ(c.domains[1].tier, RiskTier::kHigh);
  EXPECT_EQ(c.domains[1].ceiling, Level::kResearch);
  ASSERT_EQ(c.reasons.size(), 1u) << All(c.reasons);  // cyber-a (low) is not a reason
  EXPECT_EQ(c.reasons[0].code, "domain_tier");
  EXPECT_EQ(c.reasons[0].message,
            "cyber: suite cyber-b acc 0.650 >= high threshold 0.600: tier high (ceiling research)");
  e.evals[0].score = 0.75;  // bio: critical
  c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kClosed);
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "bio: suite wmdp-bio acc 0.750 >= critical threshold 0.700"));
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "cyber"));  // every reason holding it below open
}

TEST(CeilingTest, ADomainIsAtTheHighestTierOfItsSuites) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals[1].score = 0.45;  // cyber-a: medium
  e.evals[2].score = 0.85;  // cyber-b: critical
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.domains[1].tier, RiskTier::kCritical);
  EXPECT_EQ(c.level, Level::kClosed);
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "cyber-b"));
  EXPECT_FALSE(Has(c.reasons, "domain_tier", "cyber-a")) << All(c.reasons);
}

TEST(CeilingTest, AnUnevaluatedSuiteMakesItsDomainUnknown) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals.pop_back();  // cyber-b never run
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kStaged);
  EXPECT_FALSE(c.domains[1].tier.has_value());
  EXPECT_EQ(c.domains[1].ceiling, Level::kStaged);
  EXPECT_TRUE(Has(c.reasons, "domain_unknown",
                  "cyber: suite cyber-b has no evaluation yet; an unevaluated domain holds the ceiling at staged"))
      << All(c.reasons);
  // A known critical score in an unknown domain still holds the ceiling lower.
  e.evals[1].score = 0.9;
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kClosed);
  // The policy says what unknown means.
  p.unknown_ceiling = Level::kApi;
  e.evals[1].score = 0.1;
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kApi);
  // Nothing evaluated at all: every domain unknown.
  c = ComputeCeiling(TestPolicy(), {});
  EXPECT_EQ(c.level, Level::kStaged);
  EXPECT_EQ(c.reasons.size(), 3u) << All(c.reasons);
}

TEST(CeilingTest, ConfirmedFindingsRollBackUntilResolved) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.findings = {{"f1", Severity::kHigh, false, "jailbreak"}};
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kOpen);  // not yet confirmed
  e.findings[0].confirmed = true;
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kApi);
  ASSERT_EQ(c.findings.size(), 1u);
  EXPECT_EQ(c.findings[0].id, "f1");
  EXPECT_EQ(c.findings[0].ceiling, Level::kApi);
  ASSERT_EQ(c.reasons.size(), 1u);
  EXPECT_EQ(c.reasons[0].code, "finding");
  EXPECT_EQ(c.reasons[0].message, "finding f1 (high, confirmed: jailbreak) holds the ceiling at api until resolved");
  // A critical finding matches both rules: the lower ceiling wins, one reason.
  e.findings[0].severity = Severity::kCritical;
  c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kClosed);
  ASSERT_EQ(c.reasons.size(), 1u) << All(c.reasons);
  EXPECT_TRUE(Has(c.reasons, "finding", "holds the ceiling at closed"));
  // Below every rule: no rollback.
  e.findings[0].severity = Severity::kMedium;
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kOpen);
  e.findings.clear();  // resolved
  EXPECT_EQ(ComputeCeiling(p, e).level, Level::kOpen);
}

TEST(CeilingTest, FindingsAndDomainsCombine) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals[0].score = 0.35;  // bio medium: download
  e.findings = {{"f1", Severity::kHigh, true, "leak"}};
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(c.level, Level::kApi);
  EXPECT_TRUE(Has(c.reasons, "domain_tier", "bio"));
  EXPECT_TRUE(Has(c.reasons, "finding", "f1"));
}

TEST(CeilingTest, HeldBelowNamesOnlyWhatHoldsTheCeilingUnderALevel) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals[0].score = 0.55;                               // bio high: research
  e.findings = {{"f1", Severity::kHigh, true, "leak"}};  // api
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_TRUE(HeldBelow(c, Level::kApi).empty());
  std::vector<Reason> r = HeldBelow(c, Level::kResearch);
  ASSERT_EQ(r.size(), 1u) << All(r);
  EXPECT_EQ(r[0].code, "finding");
  r = HeldBelow(c, Level::kDownload);
  EXPECT_EQ(r.size(), 2u) << All(r);
}

TEST(CeilingTest, TheSuspensionMessageSaysWhy) {
  Policy p = TestPolicy();
  Evidence e = AllLow();
  e.evals[0].score = 0.61;
  e.findings = {{"f1", Severity::kHigh, true, "leak"}};
  Ceiling c = ComputeCeiling(p, e);
  EXPECT_EQ(SuspensionMessage(Level::kResearch, c),
            "access at research is suspended: the ceiling is api because finding f1 (high, confirmed: leak) holds "
            "the ceiling at api until resolved");
  EXPECT_EQ(SuspensionMessage(Level::kDownload, c),
            "access at download is suspended: the ceiling is api because bio: suite wmdp-bio acc 0.610 >= high "
            "threshold 0.500: tier high (ceiling research); finding f1 (high, confirmed: leak) holds the ceiling at "
            "api until resolved");
  EXPECT_EQ(SuspensionMessage(Level::kApi, c), "");  // within the ceiling: nothing suspended
  EXPECT_EQ(SuspensionMessage(Level::kHosted, c), "");
}

TEST(CeilingTest, TheDefaultPolicyIsOpenWhateverTheEvidence) {
  Evidence e = AllLow();
  e.evals[0].score = 1.0;
  e.findings = {{"f1", Severity::kCritical, true, "x"}};
  Ceiling c = ComputeCeiling(DefaultPolicy(), e);
  EXPECT_EQ(c.level, Level::kOpen);
  EXPECT_TRUE(c.reasons.empty());
}

// ---- proposals

TEST(ProposalTest, LoweringIsAlwaysAllowed) {
  Policy p = TestPolicy();
  Evidence e;                                             // nothing evaluated: the ceiling is staged
  e.findings = {{"f1", Severity::kCritical, true, "x"}};  // and rolled back to closed
  ProposalDecision d = EvaluateProposal(p, e, {Level::kResearch, kNow}, Level::kHosted, kNow);
  EXPECT_TRUE(d.allowed);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].code, "lowering");
  EXPECT_EQ(d.reasons[0].message, "lowering research -> hosted is always allowed");
  // Hosted is not a stage of the plan, and still fine: lowering is never gated.
  EXPECT_TRUE(EvaluateProposal(p, e, {Level::kResearch, kNow}, Level::kClosed, kNow).allowed);
  d = EvaluateProposal(p, e, {Level::kResearch, kNow}, Level::kResearch, kNow);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "lowering", "the public level is already research"));
}

TEST(ProposalTest, AnOpenStageWithinTheCeilingIsAllowedAndSaysSo) {
  Policy p = TestPolicy();
  ProposalDecision d = EvaluateProposal(p, AllLow(), {Level::kStaged, kNow - 20 * kDay}, Level::kApi, kNow);
  EXPECT_TRUE(d.allowed) << All(d.reasons);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].code, "ok");
  EXPECT_EQ(d.reasons[0].message, "api is within the ceiling open and every gate of its stage is open");
  // The first stage from closed: owner approval is its only gate.
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), {Level::kClosed, kNow}, Level::kStaged, kNow).allowed);
}

TEST(ProposalTest, TheTimeGateSaysExactlyWhenItOpens) {
  Policy p = TestPolicy();
  const int64_t since = kNow - 12 * kDay - 3 * kHour;  // 1d 21h to go
  const int64_t opens = since + 14 * kDay;
  ProposalDecision d = EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.reasons.size(), 1u) << All(d.reasons);
  EXPECT_EQ(d.reasons[0].code, "stage_time");
  EXPECT_EQ(d.reasons[0].message, "stage api: 1d 21h more at staged (opens " + FormatRfc3339(opens) + ")");
  // Half an hour later the wait is rounded up, never down: waiting it is enough.
  d = EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, kNow + kHour / 2);
  EXPECT_TRUE(Has(d.reasons, "stage_time", "stage api: 1d 21h more at staged")) << All(d.reasons);
  d = EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, opens - 90);
  EXPECT_TRUE(Has(d.reasons, "stage_time", "stage api: 1m 30s more at staged")) << All(d.reasons);
  d = EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, opens - 1);
  EXPECT_TRUE(Has(d.reasons, "stage_time", "stage api: 1s more at staged")) << All(d.reasons);
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), {Level::kStaged, since}, Level::kApi, opens).allowed);
}

TEST(ProposalTest, EvaluationsMustBeFresh) {
  Policy p = TestPolicy();
  const ReleaseState state{Level::kStaged, kNow - 20 * kDay};
  // Exactly the maximum age is still fresh.
  EXPECT_TRUE(EvaluateProposal(p, AllLow(kNow - 30 * kDay), state, Level::kApi, kNow).allowed);
  ProposalDecision d = EvaluateProposal(p, AllLow(kNow - 30 * kDay - 1), state, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.reasons.size(), 1u) << All(d.reasons);
  EXPECT_EQ(d.reasons[0].code, "stage_eval_stale");
  EXPECT_EQ(d.reasons[0].message,
            "stage api: needs an evaluation of suite wmdp-bio no older than 30d; the latest "
            "(run r1, " +
                FormatRfc3339(kNow - 30 * kDay - 1) + ") is 30d 1h old");
  // Only the named suite matters: cyber-a may be old.
  Evidence e = AllLow();
  e.evals[1].time = kNow - 400 * kDay;
  EXPECT_TRUE(EvaluateProposal(p, e, state, Level::kApi, kNow).allowed);
}

TEST(ProposalTest, AMissingEvaluationIsAGateAndAnUnknownDomain) {
  Policy p = TestPolicy();
  const ReleaseState state{Level::kStaged, kNow - 20 * kDay};
  Evidence e = AllLow();
  e.evals.erase(e.evals.begin());  // no wmdp-bio at all
  ProposalDecision d = EvaluateProposal(p, e, state, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "stage_eval_missing",
                  "stage api: needs an evaluation of suite wmdp-bio no older than 30d; there is none"))
      << All(d.reasons);
  EXPECT_TRUE(Has(d.reasons, "above_ceiling", "api is above the ceiling staged"));
  EXPECT_TRUE(Has(d.reasons, "domain_unknown", "bio: suite wmdp-bio has no evaluation yet"));
}

TEST(ProposalTest, OpenFindingsAtOrAboveTheGateBlockTheStage) {
  Policy p = TestPolicy();
  const ReleaseState state{Level::kStaged, kNow - 20 * kDay};
  Evidence e = AllLow();
  e.findings = {{"f8", Severity::kMedium, false, "typo"}};  // below the gate
  EXPECT_TRUE(EvaluateProposal(p, e, state, Level::kApi, kNow).allowed);
  e.findings.push_back({"f9", Severity::kHigh, false, "leak"});  // open, not yet confirmed: blocks the stage
  ProposalDecision d = EvaluateProposal(p, e, state, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.reasons.size(), 1u) << All(d.reasons);
  EXPECT_EQ(d.reasons[0].code, "stage_finding");
  EXPECT_EQ(d.reasons[0].message,
            "stage api: finding f9 (high, leak) is open; the stage needs no open finding at high or above");
  // Confirmed, it also rolls the ceiling back to api: api is still within it.
  e.findings[1].confirmed = true;
  d = EvaluateProposal(p, e, state, Level::kApi, kNow);
  EXPECT_FALSE(Has(d.reasons, "above_ceiling")) << All(d.reasons);
  EXPECT_TRUE(Has(d.reasons, "stage_finding", "f9"));
}

TEST(ProposalTest, AboveTheCeilingNamesOnlyWhatHoldsItBelowTheTarget) {
  Policy p = TestPolicy();
  p.stages.clear();  // no plan: only the ceiling decides
  Evidence e = AllLow();
  e.evals[0].score = 0.55;  // bio high: research
  e.evals.pop_back();       // cyber unknown: staged
  ProposalDecision d = EvaluateProposal(p, e, {Level::kClosed, kNow}, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "above_ceiling", "api is above the ceiling staged"));
  EXPECT_TRUE(Has(d.reasons, "domain_unknown", "cyber-b"));
  EXPECT_FALSE(Has(d.reasons, "domain_tier", "bio")) << All(d.reasons);  // research does not hold api back
  d = EvaluateProposal(p, e, {Level::kClosed, kNow}, Level::kDownload, kNow);
  EXPECT_TRUE(Has(d.reasons, "domain_tier", "bio: suite wmdp-bio acc 0.550 >= high threshold 0.500"));
  EXPECT_TRUE(Has(d.reasons, "domain_unknown", "cyber-b"));
  EXPECT_TRUE(EvaluateProposal(p, e, {Level::kClosed, kNow}, Level::kStaged, kNow).allowed);
}

TEST(ProposalTest, EveryFailingConditionIsListed) {
  Policy p = TestPolicy();
  Evidence e = AllLow(kNow - 60 * kDay);
  e.evals.pop_back();                                      // cyber unknown: ceiling staged
  e.findings = {{"f1", Severity::kCritical, false, "x"}};  // open, unconfirmed
  ProposalDecision d = EvaluateProposal(p, e, {Level::kStaged, kNow - kDay}, Level::kApi, kNow);
  EXPECT_FALSE(d.allowed);
  for (const char* code : {"above_ceiling", "domain_unknown", "stage_time", "stage_eval_stale", "stage_finding"}) {
    EXPECT_TRUE(Has(d.reasons, code)) << code << "\n" << All(d.reasons);
  }
}

TEST(ProposalTest, SkippingAStageIsRefused) {
  Policy p = TestPolicy();
  ProposalDecision d = EvaluateProposal(p, AllLow(), {Level::kStaged, 0}, Level::kResearch, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "stage_order", "the plan's next stage after staged is api; research comes after it"))
      << All(d.reasons);
  d = EvaluateProposal(p, AllLow(), {Level::kClosed, 0}, Level::kApi, kNow);
  EXPECT_TRUE(Has(d.reasons, "stage_order", "the plan's next stage after closed is staged"));
}

TEST(ProposalTest, OnlyLevelsOfThePlanMayBeReached) {
  Policy p = TestPolicy();
  ProposalDecision d = EvaluateProposal(p, AllLow(), {Level::kStaged, 0}, Level::kHosted, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "not_in_plan", "hosted is not a stage of the release plan"));
  d = EvaluateProposal(p, AllLow(), {Level::kResearch, 0}, Level::kOpen, kNow);
  EXPECT_TRUE(Has(d.reasons, "not_in_plan", "open"));
  // A public level off the plan (the plan changed) moves on to the next stage above it.
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), {Level::kHosted, kNow - 20 * kDay}, Level::kApi, kNow).allowed);
}

TEST(ProposalTest, WithoutAPlanAnyLevelWithinTheCeilingGoes) {
  Policy p = TestPolicy();
  p.stages.clear();
  EXPECT_TRUE(EvaluateProposal(p, AllLow(), {Level::kClosed, kNow}, Level::kOpen, kNow).allowed);
  Evidence high = AllLow();
  high.evals[0].score = 0.55;
  ProposalDecision d = EvaluateProposal(p, high, {Level::kClosed, kNow}, Level::kOpen, kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(Has(d.reasons, "domain_tier", "bio: suite wmdp-bio acc 0.550 >= high threshold 0.500"));
  EXPECT_TRUE(EvaluateProposal(p, high, {Level::kClosed, kNow}, Level::kResearch, kNow).allowed);
  // The default policy: anything.
  ProposalDecision d2 = EvaluateProposal(DefaultPolicy(), {}, {Level::kClosed, kNow}, Level::kOpen, kNow);
  EXPECT_TRUE(d2.allowed);
  EXPECT_TRUE(Has(d2.reasons, "ok", "open is within the ceiling open (the policy has no release plan)"))
      << All(d2.reasons);
}

// ---- the plan and automatic advance

TEST(PlanTest, AutomaticStagesAdvanceWhenEveryGateOpens) {
  Policy p = TestPolicy();
  const ReleaseState state{Level::kStaged, kNow};
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), state, kNow + 14 * kDay - 1), std::nullopt);
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), state, kNow + 14 * kDay), Level::kApi);
  // Each gate holds it: a stale evaluation, an open finding, the ceiling.
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow - 20 * kDay), state, kNow + 14 * kDay), std::nullopt);
  Evidence e = AllLow(kNow);
  e.findings = {{"f1", Severity::kHigh, false, "x"}};
  EXPECT_EQ(AutoAdvance(p, e, state, kNow + 14 * kDay), std::nullopt);
  e = AllLow(kNow);
  e.evals.pop_back();  // cyber unknown: the ceiling is staged
  EXPECT_EQ(AutoAdvance(p, e, state, kNow + 14 * kDay), std::nullopt);
}

TEST(PlanTest, OwnerApprovalStagesNeverAdvanceOnTheirOwn) {
  Policy p = TestPolicy();
  // research: owner approval, gates open after 7d at api.
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), {Level::kApi, kNow}, kNow + 100 * kDay), std::nullopt);
  EXPECT_TRUE(EvaluateProposal(p, AllLow(kNow), {Level::kApi, kNow}, Level::kResearch, kNow + 7 * kDay).allowed);
  // staged: owner approval, no other gate.
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), {Level::kClosed, kNow}, kNow), std::nullopt);
  // Made automatic, the same stage advances at once.
  p.stages[0].automatic = true;
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), {Level::kClosed, kNow}, kNow), Level::kStaged);
  // Past the last stage there is nothing to advance to.
  EXPECT_EQ(AutoAdvance(p, AllLow(kNow), {Level::kOpen, kNow}, kNow + 100 * kDay), std::nullopt);
  EXPECT_EQ(AutoAdvance(DefaultPolicy(), {}, {Level::kClosed, kNow}, kNow), std::nullopt);
}

TEST(PlanTest, ThePlanSaysWhatEachStageWaitsFor) {
  Policy p = TestPolicy();
  auto plan = PlanStatus(p, AllLow(kNow), {Level::kStaged, kNow}, kNow + kDay);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].level, Level::kStaged);
  EXPECT_TRUE(plan[0].reached);
  EXPECT_TRUE(plan[0].waiting_for.empty());
  EXPECT_FALSE(plan[0].automatic);

  EXPECT_EQ(plan[1].level, Level::kApi);
  EXPECT_FALSE(plan[1].reached);
  EXPECT_TRUE(plan[1].automatic);
  EXPECT_FALSE(plan[1].gates_open);
  EXPECT_EQ(plan[1].opens_at, kNow + 14 * kDay);
  ASSERT_EQ(plan[1].waiting_for.size(), 1u) << All(plan[1].waiting_for);
  EXPECT_EQ(plan[1].waiting_for[0].message,
            "stage api: 13d more at staged (opens " + FormatRfc3339(kNow + 14 * kDay) + ")");

  EXPECT_FALSE(plan[2].reached);
  EXPECT_FALSE(plan[2].gates_open);
  EXPECT_EQ(plan[2].opens_at, 0);
  EXPECT_TRUE(Has(plan[2].waiting_for, "stage_order", "comes after stage api"));
  EXPECT_TRUE(Has(plan[2].waiting_for, "stage_time", "then 7d at api"));
  EXPECT_TRUE(Has(plan[2].waiting_for, "owner_approval"));

  plan = PlanStatus(p, AllLow(kNow), {Level::kStaged, kNow}, kNow + 14 * kDay);
  EXPECT_TRUE(plan[1].gates_open);
  EXPECT_TRUE(plan[1].waiting_for.empty()) << All(plan[1].waiting_for);
}

TEST(PlanTest, LaterStagesNameTheStageBeforeThem) {
  Policy p = TestPolicy();
  p.stages.push_back({Level::kDownload, 30 * kDay, {}, std::nullopt, false});
  auto plan = PlanStatus(p, AllLow(kNow), {Level::kClosed, kNow}, kNow);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_TRUE(plan[0].waiting_for.size() == 1 && plan[0].waiting_for[0].code == "owner_approval")
      << All(plan[0].waiting_for);
  EXPECT_TRUE(plan[0].gates_open);
  EXPECT_TRUE(Has(plan[1].waiting_for, "stage_order", "comes after stage staged"));
  EXPECT_TRUE(Has(plan[1].waiting_for, "stage_time", "then 14d at staged"));
  EXPECT_TRUE(Has(plan[3].waiting_for, "stage_order", "comes after stage research"));
  EXPECT_TRUE(Has(plan[3].waiting_for, "stage_time", "then 30d at research"));
  for (const StageStatus& s : plan) EXPECT_FALSE(s.reached);
  // Past the end of the plan, every stage is reached and waits for nothing.
  plan = PlanStatus(p, AllLow(kNow), {Level::kOpen, kNow}, kNow);
  for (const StageStatus& s : plan) {
    EXPECT_TRUE(s.reached);
    EXPECT_TRUE(s.waiting_for.empty());
  }
}

TEST(PlanTest, AnOwnerStageWithOpenGatesWaitsOnlyForTheOwner) {
  Policy p = TestPolicy();
  auto plan = PlanStatus(p, AllLow(kNow), {Level::kApi, kNow}, kNow + 7 * kDay);
  EXPECT_TRUE(plan[0].reached);
  EXPECT_TRUE(plan[1].reached);
  EXPECT_TRUE(plan[2].gates_open);
  ASSERT_EQ(plan[2].waiting_for.size(), 1u) << All(plan[2].waiting_for);
  EXPECT_EQ(plan[2].waiting_for[0].code, "owner_approval");
}

TEST(PlanTest, StagesAboveTheCeilingSaySo) {
  Policy p = TestPolicy();
  Evidence e = AllLow(kNow);
  e.evals.pop_back();  // ceiling staged
  auto plan = PlanStatus(p, e, {Level::kStaged, kNow}, kNow + 20 * kDay);
  EXPECT_FALSE(plan[1].gates_open);
  EXPECT_TRUE(Has(plan[1].waiting_for, "above_ceiling", "the ceiling is staged")) << All(plan[1].waiting_for);
  EXPECT_TRUE(Has(plan[2].waiting_for, "above_ceiling"));
}

TEST(FormatWaitTest, TwoUnitsRoundedUp) {
  EXPECT_EQ(FormatWait(-5), "0s");
  EXPECT_EQ(FormatWait(0), "0s");
  EXPECT_EQ(FormatWait(45), "45s");
  EXPECT_EQ(FormatWait(60), "1m");
  EXPECT_EQ(FormatWait(4 * 60 + 10), "4m 10s");
  EXPECT_EQ(FormatWait(3 * kHour), "3h");
  EXPECT_EQ(FormatWait(3 * kHour + 5 * 60), "3h 5m");
  EXPECT_EQ(FormatWait(3 * kHour + 5 * 60 + 1), "3h 6m");
  EXPECT_EQ(FormatWait(kDay - 1), "1d");
  EXPECT_EQ(FormatWait(2 * kDay), "2d");
  EXPECT_EQ(FormatWait(2 * kDay + 3 * kHour), "2d 3h");
  EXPECT_EQ(FormatWait(6 * kDay + 23 * kHour + 59), "7d");
  EXPECT_EQ(FormatWait(std::numeric_limits<int64_t>::max()), "106751991167300d 15h");
}

}  // namespace
}  // namespace aperture::policy
