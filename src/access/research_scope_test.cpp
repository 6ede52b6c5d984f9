#include "access/research_scope.h"

#include "config/config.h"
#include "core/json.h"
#include "gtest/gtest.h"

namespace aperture {
namespace {

Config TestConfig() {
  Config c = DefaultConfig();
  ResearchScope& r = c.levels[static_cast<int>(Level::kResearch)].research;
  r.inspect_sites = {"blocks.*.hook_resid_post", "blocks.*.attn.hook_pattern"};
  r.intervene_sites = {"blocks.*.hook_resid_post"};
  r.max_tokens = 1000;
  r.max_bytes = 1 << 20;
  r.tokens_per_minute = 5000;
  return c;
}

ResearchDemand Demand(std::vector<std::string> read, std::vector<std::string> written, int64_t tokens = 10,
                      int64_t bytes = 100) {
  return {std::move(read), std::move(written), tokens, bytes, true};
}

TEST(ResearchScopeTest, SitesMustMatchTheLevelAndTheGrant) {
  const Config c = TestConfig();
  const GrantScope none;
  EXPECT_FALSE(CheckScope("m", Level::kResearch, c, none, "", Demand({"blocks.3.hook_resid_post"}, {})));
  EXPECT_FALSE(CheckScope("m", Level::kResearch, c, none, "",
                          Demand({"blocks.0.attn.hook_pattern"}, {"blocks.1.hook_resid_post"})));
  auto r = CheckScope("m", Level::kResearch, c, none, "", Demand({"blocks.3.attn.hook_z"}, {}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "research_scope_site");
  EXPECT_NE(r->message.find("reads 'blocks.3.attn.hook_z'"), std::string::npos) << r->message;
  // download's default scope is every site: the message says so.
  EXPECT_NE(r->message.find("level 'download' allows it"), std::string::npos) << r->message;
  r = CheckScope("m", Level::kResearch, c, none, "", Demand({}, {"blocks.0.attn.hook_pattern"}));
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("writes 'blocks.0.attn.hook_pattern'"), std::string::npos) << r->message;
  EXPECT_NE(r->message.find("intervene_sites"), std::string::npos) << r->message;

  // A grant narrows: only layer 0's residual, and the message names the grant.
  absl::StatusOr<GrantScope> g = ParseGrantScope(R"({"inspect_sites":["blocks.0.*"]})");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(CheckScope("m", Level::kResearch, c, *g, "grt_1", Demand({"blocks.0.hook_resid_post"}, {})));
  r = CheckScope("m", Level::kResearch, c, *g, "grt_1", Demand({"blocks.2.hook_resid_post"}, {}));
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("narrowed by grant grt_1 to [\"blocks.0.*\"]"), std::string::npos) << r->message;
  EXPECT_NE(r->message.find("a grant whose inspect_sites include it"), std::string::npos) << r->message;
  // A grant cannot widen: the level's patterns still apply.
  g = ParseGrantScope(R"({"inspect_sites":["*"]})");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(CheckScope("m", Level::kResearch, c, *g, "grt_2", Demand({"hook_embed"}, {})));
}

TEST(ResearchScopeTest, LimitsAreTheSmallerOfLevelAndGrant) {
  const Config c = TestConfig();
  const GrantScope none;
  EXPECT_FALSE(CheckScope("m", Level::kResearch, c, none, "", Demand({}, {}, 1000, 1 << 20)));
  auto r = CheckScope("m", Level::kResearch, c, none, "", Demand({}, {}, 1001));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "research_scope_limit");
  EXPECT_NE(r->message.find("needs 1001 forward-pass tokens; research_max_tokens on 'm' is 1000 for level 'research'"),
            std::string::npos)
      << r->message;
  EXPECT_NE(r->message.find("(level 'download' has it)"), std::string::npos) << r->message;
  r = CheckScope("m", Level::kResearch, c, none, "", Demand({}, {}, 10, (1 << 20) + 1));
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("research_max_bytes"), std::string::npos);
  absl::StatusOr<GrantScope> g = ParseGrantScope(R"({"research_max_tokens":50,"research_max_bytes":5000000})");
  ASSERT_TRUE(g.ok());
  r = CheckScope("m", Level::kResearch, c, *g, "grt_9", Demand({}, {}, 51));
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("50 for grant grt_9 (level 'research': 1000)"), std::string::npos) << r->message;
  EXPECT_FALSE(CheckScope("m", Level::kResearch, c, *g, "grt_9", Demand({}, {}, 50, 1 << 20)));
  // Chat steering checks sites only.
  ResearchDemand chat = Demand({}, {"blocks.0.hook_resid_post"}, 1 << 30, 1 << 30);
  chat.limits_apply = false;
  EXPECT_FALSE(CheckScope("m", Level::kResearch, c, none, "", chat));
  // The narrowed scope: the smaller limit, a 0 rate being unlimited.
  GrantScope rates;
  rates.tokens_per_minute = 100;
  rates.requests_per_day = 7;
  const ResearchScope s = NarrowScope(c.Limits(Level::kResearch).research, rates);
  EXPECT_EQ(s.tokens_per_minute, 100);
  EXPECT_EQ(s.requests_per_day, 7);  // the level's 10,000 is larger
  EXPECT_EQ(s.max_tokens, 1000);
}

TEST(ResearchScopeTest, GrantScopesAreChecked) {
  EXPECT_TRUE(ParseGrantScope("").ok());
  EXPECT_TRUE(ParseGrantScope("{}")->empty());
  for (const char* bad :
       {"[]", "{\"inspect_sites\":\"*\"}", "{\"inspect_sites\":[\"a b\"]}", "{\"intervene_sites\":[1]}",
        "{\"research_max_tokens\":-1}", "{\"research_max_tokens\":1.5}", "{\"colour\":1}", "{"}) {
    EXPECT_FALSE(ParseGrantScope(bad).ok()) << bad;
  }
  absl::StatusOr<GrantScope> g = ParseGrantScope(R"({"research_requests_per_day":3,"intervene_sites":["blocks.1.*"]})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(GrantScopeJson(*g), R"({"intervene_sites":["blocks.1.*"],"research_requests_per_day":3})");
  EXPECT_EQ(ErrorParam(ParseGrantScope("{\"colour\":1}").status()), "scope.colour");
}

TEST(ResearchScopeTest, TheDefaultConfigLetsResearchReadAndWriteEverySite) {
  const Config c = DefaultConfig();
  for (Level l : {Level::kResearch, Level::kDownload, Level::kOpen}) {
    EXPECT_FALSE(CheckScope("m", l, c, {}, "", Demand({"blocks.7.attn.hook_pattern"}, {"hook_embed"}, 16384)));
  }
  EXPECT_TRUE(c.Limits(Level::kApi).research.inspect_sites.empty());
}

}  // namespace
}  // namespace aperture
