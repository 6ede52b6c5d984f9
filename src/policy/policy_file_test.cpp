#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/random.h"
#include "policy/policy.h"

namespace aperture::policy {
namespace {

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-policy-" + NewId("t"));
    std::filesystem::create_directories(dir_ / "suites");
    std::ofstream(dir_ / "suites" / "wmdp.jsonl") << "{}\n";
    std::ofstream(dir_ / "suites" / "cyber.jsonl") << "{}\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<Policy> Parse(const std::string& text) { return ParsePolicy(text, "policy.toml", dir_.string()); }

  // The error for `text`, which must not parse.
  std::string ErrorOf(const std::string& text) {
    auto p = Parse(text);
    EXPECT_FALSE(p.ok()) << text;
    EXPECT_TRUE(p.ok() || absl::IsInvalidArgument(p.status())) << p.status();
    return p.ok() ? "" : std::string(p.status().message());
  }

  std::filesystem::path dir_;
};

constexpr char kGood[] = R"(
unknown_ceiling = "staged"

[ceilings]
low = "open"
medium = "download"
high = "research"
critical = "closed"

[[domains]]
name = "bio"
[[domains.suites]]
name = "wmdp-bio"
file = "suites/wmdp.jsonl"
thresholds = { medium = 0.3, high = 0.5, critical = 0.7 }

[[domains]]
name = "cyber"
[[domains.suites]]
name = "cyber-proxy"
file = "suites/cyber.jsonl"
metric = "acc_norm"
thresholds = { medium = 0.4, high = 0.6, critical = 0.8 }

[[stages]]
level = "staged"

[[stages]]
level = "api"
approval = "automatic"
min_time_at_previous = "14d"
fresh_evals = [{ suite = "wmdp-bio", max_age = "30d" }]
no_open_findings_at = "high"

[[rollback]]
severity = "critical"
ceiling = "closed"
)";

TEST_F(PolicyFileTest, AGoodFileParsesCompletely) {
  auto p = Parse(kGood);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->unknown_ceiling, Level::kStaged);
  EXPECT_EQ(p->tier_ceiling[static_cast<int>(RiskTier::kHigh)], Level::kResearch);
  ASSERT_EQ(p->domains.size(), 2u);
  const SuiteRule* cyber = p->FindSuite("cyber-proxy");
  ASSERT_NE(cyber, nullptr);
  EXPECT_EQ(cyber->metric, "acc_norm");
  EXPECT_DOUBLE_EQ(cyber->high, 0.6);
  EXPECT_EQ(cyber->file, (dir_ / "suites" / "cyber.jsonl").string());
  EXPECT_EQ(p->FindSuite("wmdp-bio")->metric, "acc");
  ASSERT_EQ(p->stages.size(), 2u);
  EXPECT_FALSE(p->stages[0].automatic);
  EXPECT_TRUE(p->stages[1].automatic);
  EXPECT_EQ(p->stages[1].min_seconds_at_previous, 14 * 86400);
  ASSERT_EQ(p->stages[1].fresh_evals.size(), 1u);
  EXPECT_EQ(p->stages[1].fresh_evals[0].max_age_seconds, 30 * 86400);
  EXPECT_EQ(p->stages[1].blocking_severity, Severity::kHigh);
  ASSERT_EQ(p->rollback.size(), 1u);
  EXPECT_EQ(p->rollback[0].ceiling, Level::kClosed);
  EXPECT_EQ(p->sha256.size(), 64u);
}

TEST_F(PolicyFileTest, TheShippedExamplePolicyLoads) {
  auto p = LoadPolicy(APERTURE_SOURCE_DIR "/examples/policy.toml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->domains.size(), 2u);
  ASSERT_EQ(p->stages.size(), 6u);
  EXPECT_EQ(p->stages.back().level, Level::kOpen);
  EXPECT_EQ(p->rollback.size(), 2u);
}

TEST_F(PolicyFileTest, AnUnknownLevelIsNamedWithItsLineAndKey) {
  std::string e = ErrorOf("[[stages]]\nlevel = \"staged\"\n[[stages]]\nlevel = \"apii\"\n");
  EXPECT_NE(e.find("policy.toml:4: stages[1].level"), std::string::npos) << e;
  EXPECT_NE(e.find("\"apii\""), std::string::npos) << e;
  e = ErrorOf("[ceilings]\nhigh = \"reserch\"\n");
  EXPECT_NE(e.find("policy.toml:2: ceilings.high"), std::string::npos) << e;
}

TEST_F(PolicyFileTest, ThresholdsOutOfOrderAreRefused) {
  std::string e = ErrorOf(R"([[domains]]
name = "bio"
[[domains.suites]]
name = "wmdp-bio"
file = "suites/wmdp.jsonl"
thresholds = { medium = 0.5, high = 0.4, critical = 0.7 }
)");
  EXPECT_NE(e.find("domains[0].suites[0].thresholds.high (0.4) is below medium (0.5)"), std::string::npos) << e;
  EXPECT_NE(e.find("policy.toml:6:"), std::string::npos) << e;
  e = ErrorOf(R"([[domains]]
name = "bio"
[[domains.suites]]
name = "wmdp-bio"
file = "suites/wmdp.jsonl"
thresholds = { medium = 0.5, high = 0.6 }
)");
  EXPECT_NE(e.find("thresholds.critical is required"), std::string::npos) << e;
}

TEST_F(PolicyFileTest, AStageCycleOrRepeatIsRefused) {
  std::string e = ErrorOf("[[stages]]\nlevel = \"api\"\n[[stages]]\nlevel = \"staged\"\n");
  EXPECT_NE(e.find("policy.toml:4: stages[1].level staged does not come after api"), std::string::npos) << e;
  e = ErrorOf("[[stages]]\nlevel = \"api\"\n[[stages]]\nlevel = \"api\"\n");
  EXPECT_NE(e.find("stages must rise"), std::string::npos) << e;
  e = ErrorOf("[[stages]]\nlevel = \"closed\"\n");
  EXPECT_NE(e.find("stages[0].level is closed"), std::string::npos) << e;
}

TEST_F(PolicyFileTest, AMissingSuiteFileIsNamedWithWhereItWasLookedFor) {
  std::string e = ErrorOf(R"([[domains]]
name = "bio"
[[domains.suites]]
name = "x"
file = "suites/missing.jsonl"
thresholds = { medium = 0.1, high = 0.2, critical = 0.3 }
)");
  EXPECT_NE(e.find("policy.toml:5: domains[0].suites[0].file names no such file \"suites/missing.jsonl\""),
            std::string::npos)
      << e;
  EXPECT_NE(e.find((dir_ / "suites/missing.jsonl").string()), std::string::npos) << e;
}

TEST_F(PolicyFileTest, EveryOtherMistakeIsPrecise) {
  struct Case {
    std::string text, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"unknown_ceilng = \"api\"\n", "policy.toml:1: unknown_ceilng is not a known setting"},
           {"[ceilings]\nlow = \"api\"\nmedium = \"open\"\n",
            "ceilings.medium (open) is above the ceiling of the less"},
           {"[[stages]]\nlevel = \"api\"\napproval = \"sometimes\"\n", "stages[0].approval must be"},
           {"[[stages]]\nlevel = \"api\"\nmin_time_at_previous = \"2 weeks\"\n", "stages[0].min_time_at_previous must"},
           {"[[stages]]\nlevel = \"api\"\nfresh_evals = [{ suite = \"nope\", max_age = \"3d\" }]\n",
            "stages[0].fresh_evals[0].suite names \"nope\", which no domain declares"},
           {"[[stages]]\nlevel = \"api\"\nno_open_findings_at = \"severe\"\n", "unknown severity \"severe\""},
           {"[[rollback]]\nseverity = \"high\"\n", "rollback[0].ceiling is required"},
           {"[[rollback]]\nseverity = \"high\"\nceiling = \"api\"\n[[rollback]]\nseverity = \"high\"\nceiling = "
            "\"closed\"\n",
            "rollback[1].severity repeats the severity high"},
           {"[[domains]]\nname = \"bio\"\n", "domains[0].suites is required"},
           {"domains = 3\n", "domains must be an array of tables"},
           {"[[domains]]\nname = \"bio\"\n[[domains.suites]]\nname = \"wmdp-bio\"\nfile = "
            "\"suites/wmdp.jsonl\"\nthresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n[[domains]]\nname = "
            "\"bio\"\n",
            "domains[1].name repeats the domain \"bio\""},
           {"x = [\n", "policy.toml:"},
           {"name = \"\xc3\xa9\"\n", "only ASCII"},
       }) {
    std::string e = ErrorOf(c.text);
    EXPECT_NE(e.find(c.expect), std::string::npos) << "text:\n" << c.text << "\nerror: " << e;
  }
}

TEST_F(PolicyFileTest, TheDefaultPolicyAllowsEverything) {
  Policy p = DefaultPolicy();
  EXPECT_TRUE(p.domains.empty());
  EXPECT_TRUE(p.stages.empty());
  EXPECT_EQ(ComputeCeiling(p, {}).level, Level::kOpen);
}

}  // namespace
}  // namespace aperture::policy
