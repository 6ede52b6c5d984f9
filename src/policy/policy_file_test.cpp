#include <gtest/gtest.h>

#include <array>
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
  ASSERT_EQ(p->domains.size(), 2u);
  EXPECT_EQ(p->domains[0].name, "hazard-proxy");
  EXPECT_EQ(p->domains[1].name, "general");
  for (const Domain& d : p->domains) {
    for (const SuiteRule& s : d.suites) EXPECT_TRUE(std::filesystem::is_regular_file(s.file)) << s.file;
  }
  EXPECT_EQ(p->tier_ceiling, (std::array<Level, 4>{Level::kOpen, Level::kDownload, Level::kResearch, Level::kClosed}));
  EXPECT_EQ(p->unknown_ceiling, Level::kStaged);
  ASSERT_EQ(p->stages.size(), 6u);
  EXPECT_EQ(p->stages[0].level, Level::kStaged);
  EXPECT_FALSE(p->stages[0].automatic);
  const Stage& api = p->stages[2];
  EXPECT_EQ(api.level, Level::kApi);
  EXPECT_EQ(api.min_seconds_at_previous, 14 * 86400);
  EXPECT_EQ(api.fresh_evals.size(), 2u);
  EXPECT_EQ(api.blocking_severity, Severity::kHigh);
  EXPECT_FALSE(p->stages[4].automatic);  // download: the owner's approval
  EXPECT_EQ(p->stages.back().level, Level::kOpen);
  ASSERT_EQ(p->rollback.size(), 2u);
  EXPECT_EQ(p->rollback[0].severity, Severity::kHigh);
  EXPECT_EQ(p->rollback[0].ceiling, Level::kApi);
  EXPECT_EQ(p->rollback[1].ceiling, Level::kClosed);
}

TEST_F(PolicyFileTest, TheExamplesCommentedHazardDomainsParseOnceUncommented) {
  std::ifstream in(APERTURE_SOURCE_DIR "/examples/policy.toml");
  std::string line, text;
  int uncommented = 0;
  while (std::getline(in, line)) {
    for (const char* prefix : {"# [[domains", "# name = ", "# file = ", "# metric = ", "# thresholds = "}) {
      if (line.rfind(prefix, 0) == 0) {
        line = line.substr(2);
        ++uncommented;
        break;
      }
    }
    text += line + "\n";
  }
  EXPECT_GT(uncommented, 0);
  for (const char* file :
       {"hazard_proxy_placeholder", "reading", "arithmetic", "wmdp_bio", "wmdp_chem", "wmdp_cyber", "agentic_tasks"}) {
    std::ofstream(dir_ / "suites" / (std::string(file) + ".jsonl")) << "{}\n";
  }
  auto p = Parse(text);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<std::string> names;
  for (const Domain& d : p->domains) names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{"hazard-proxy", "bio", "chem", "cyber", "autonomy", "general"}));
  EXPECT_EQ(p->FindSuite("agentic-tasks")->metric, "accuracy");
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
           // Found by fuzzing: the riskier tier left at its default.
           {"[ceilings]\nmedium = \"api\"\n",
            "policy.toml:2: ceilings.high (research, the default) is above the ceiling of the less risky tier medium "
            "(api)"},
           {"[ceilings]\nhigh = \"open\"\n",
            "policy.toml:2: ceilings.high (open) is above the ceiling of the less risky tier medium (download, the "
            "default)"},
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
           {"[ceilings]\nsevere = \"closed\"\n", "policy.toml:2: ceilings.severe is not a known setting"},
           {"[[stages]]\nlevel = \"api\"\nmin_time_at_previus = \"7d\"\n",
            "policy.toml:3: stages[0].min_time_at_previus is not a known setting"},
           {"[[stages]]\nlevel = \"api\"\nmin_time_at_previous = \"0d\"\n", "stages[0].min_time_at_previous must"},
           {"[[stages]]\nlevel = \"api\"\nmin_time_at_previous = \"5300w\"\n",
            "stages[0].min_time_at_previous is longer than 100 years"},
           {"[[stages]]\nlevel = 3\n", "policy.toml:2: stages[0].level must be a level name: closed, staged"},
           {"[[rollback]]\nseverity = 2\nceiling = \"api\"\n", "rollback[0].severity must be a severity: low"},
           {"[[stages]]\napproval = \"owner\"\n", "policy.toml:1: stages[0].level is required"},
           {"[[stages]]\nlevel = \"api\"\nfresh_evals = \"wmdp-bio\"\n", "stages[0].fresh_evals must be a list"},
           {"[[rollback]]\nseverity = \"high\"\nceiling = \"api\"\n[[rollback]]\nseverity = \"critical\"\n"
            "ceiling = \"research\"\n",
            "policy.toml:6: rollback[1].ceiling (research): a critical finding would leave the model at research but "
            "a high one at api"},
           {"[[rollback]]\nseverity = \"dire\"\nceiling = \"api\"\n", "rollback[0].severity has an unknown severity"},
           {"ceilings = \"open\"\n", "policy.toml:1: ceilings must be a table"},
           {"name = \"\xc3\xa9\"\n", "only ASCII"},
       }) {
    std::string e = ErrorOf(c.text);
    EXPECT_NE(e.find(c.expect), std::string::npos) << "text:\n" << c.text << "\nerror: " << e;
  }
}

TEST_F(PolicyFileTest, SuiteRulesAreChecked) {
  auto suite = [](const std::string& body) {
    return "[[domains]]\nname = \"bio\"\n[[domains.suites]]\nname = \"wmdp-bio\"\nfile = "
           "\"suites/wmdp.jsonl\"\n" +
           body;
  };
  struct Case {
    std::string body, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"", "policy.toml:3: domains[0].suites[0].thresholds is required"},
           {"thresholds = { medium = 0.1, high = 0.2, critical = inf }\n",
            "policy.toml:6: domains[0].suites[0].thresholds.critical must be a finite number"},
           {"thresholds = { medium = nan, high = 0.2, critical = 0.3 }\n", "thresholds.medium must be a number"},
           {"thresholds = { medium = \"0.1\", high = 0.2, critical = 0.3 }\n", "thresholds.medium must be a number"},
           {"thresholds = { medium = 0.1, high = 0.2, critical = 0.3, severe = 0.4 }\n",
            "thresholds.severe is not a known setting"},
           {"thresholds = { medium = 0.3, high = 0.2, critical = 0.3 }\n",
            "thresholds.high (0.2) is below medium (0.3)"},
           {"thresholds = { medium = 0.1, high = 0.3, critical = 0.2 }\n",
            "thresholds.critical (0.2) is below high (0.3)"},
           {"metric = \"\"\nthresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n",
            "policy.toml:6: domains[0].suites[0].metric must not be empty"},
           {"metrc = \"acc\"\nthresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n",
            "domains[0].suites[0].metrc is not a known setting"},
       }) {
    std::string e = ErrorOf(suite(c.body));
    EXPECT_NE(e.find(c.expect), std::string::npos) << "body:\n" << c.body << "\nerror: " << e;
  }
  // Equal thresholds are fine (non-decreasing), and integers are numbers.
  EXPECT_TRUE(Parse(suite("thresholds = { medium = 0, high = 1, critical = 1 }\n")).ok());
  // A suite belongs to one domain.
  std::string e = ErrorOf(suite("thresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n") +
                          "[[domains]]\nname = \"chem\"\n[[domains.suites]]\nname = \"wmdp-bio\"\nfile = "
                          "\"suites/wmdp.jsonl\"\nthresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n");
  EXPECT_NE(e.find("policy.toml:10: domains[1].suites[0].name repeats the suite \"wmdp-bio\""), std::string::npos) << e;
}

TEST_F(PolicyFileTest, SuiteFilesResolveAgainstThePolicyDirectoryOrStayAbsolute) {
  const std::string absolute = (dir_ / "suites" / "cyber.jsonl").string();
  auto p = Parse("[[domains]]\nname = \"cyber\"\n[[domains.suites]]\nname = \"c\"\nfile = \"" + absolute +
                 "\"\nthresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->FindSuite("c")->file, absolute);
  p = Parse(
      "[[domains]]\nname = \"cyber\"\n[[domains.suites]]\nname = \"c\"\nfile = "
      "\"./suites/../suites/cyber.jsonl\"\nthresholds = { medium = 0.1, high = 0.2, critical = 0.3 }\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->FindSuite("c")->file, absolute);
  EXPECT_EQ(p->FindSuite("nope"), nullptr);
  // A directory is not a suite file.
  std::string e = ErrorOf(
      "[[domains]]\nname = \"cyber\"\n[[domains.suites]]\nname = \"c\"\nfile = \"suites\"\nthresholds = "
      "{ medium = 0.1, high = 0.2, critical = 0.3 }\n");
  EXPECT_NE(e.find("file names no such file \"suites\""), std::string::npos) << e;
}

TEST_F(PolicyFileTest, ABadFileOnDiskIsRefusedWithItsPathAndLeavesTheGoodOneAsItWas) {
  const std::string path = (dir_ / "policy.toml").string();
  std::ofstream(path) << kGood;
  auto good = LoadPolicy(path);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->source, path);
  const Policy running = *good;

  std::ofstream(path) << kGood << "\n[[stages]]\nlevel = \"apii\"\n";
  auto bad = LoadPolicy(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().message().find(path + ":40: stages[2].level has an unknown level \"apii\""), std::string::npos)
      << bad.status();
  // Nothing the good policy refers to was touched: it loads again the same.
  std::ofstream(path) << kGood;
  auto again = LoadPolicy(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sha256, running.sha256);
  EXPECT_EQ(again->stages.size(), running.stages.size());

  auto missing = LoadPolicy((dir_ / "nope.toml").string());
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find("nope.toml"), std::string::npos);
}

TEST_F(PolicyFileTest, TheHashIsOfTheBytes) {
  auto a = Parse(kGood);
  auto b = Parse(std::string(kGood) + "# a comment\n");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->sha256, b->sha256);
  EXPECT_EQ(a->sha256, Parse(kGood)->sha256);
  // The SHA-256 of the empty file, and the empty policy is the default one.
  auto empty = Parse("");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(empty->unknown_ceiling, Level::kStaged);
  EXPECT_TRUE(empty->stages.empty());
}

TEST_F(PolicyFileTest, AHugeFileIsRefusedBeforeParsing) {
  std::string e = ErrorOf(std::string(2 << 20, '#'));
  EXPECT_NE(e.find("policy.toml: a policy file is at most 1 MiB"), std::string::npos) << e;
}

TEST_F(PolicyFileTest, TheDefaultPolicyAllowsEverything) {
  Policy p = DefaultPolicy();
  EXPECT_TRUE(p.domains.empty());
  EXPECT_TRUE(p.stages.empty());
  EXPECT_EQ(ComputeCeiling(p, {}).level, Level::kOpen);
}

}  // namespace
}  // namespace aperture::policy
