#include "config/config.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(ConfigTest, DefaultsFollowTheGradient) {
  Config c = DefaultConfig();
  EXPECT_FALSE(c.Limits(Level::kClosed).capabilities.any());
  EXPECT_TRUE(c.Limits(Level::kHosted).Allows(Capability::kChat));
  EXPECT_FALSE(c.Limits(Level::kHosted).Allows(Capability::kLogprobs));
  EXPECT_EQ(c.Limits(Level::kApi).max_top_logprobs, 5);
  EXPECT_EQ(c.Limits(Level::kResearch).max_top_logprobs, 20);
  EXPECT_EQ(*c.LowestLevelWith(Capability::kInspect), Level::kResearch);
  EXPECT_EQ(*c.LowestLevelWith(Capability::kDownload), Level::kDownload);
}

TEST(ConfigTest, ParsesOverrides) {
  auto c = ParseConfig(R"(
[server]
max_body_bytes = 2048
[levels.hosted]
capabilities = ["chat", "embed"]
max_tokens = 64
[access_requests]
retry_wait = "2d"
)",
                       "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.max_body_bytes, 2048);
  EXPECT_TRUE(c->Limits(Level::kHosted).Allows(Capability::kEmbed));
  EXPECT_EQ(c->Limits(Level::kHosted).max_tokens, 64);
  EXPECT_EQ(c->access_request_retry_seconds, 2 * 86400);
  EXPECT_EQ(c->Limits(Level::kApi).max_top_logprobs, 5);  // untouched default
}

TEST(ConfigTest, SessionsAndAZeroRetryWait) {
  auto c = ParseConfig("[sessions]\nttl = \"30m\"\nsecure_cookie = true\n[access_requests]\nretry_wait = \"0s\"\n",
                       "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sessions.ttl_seconds, 1800);
  EXPECT_TRUE(c->sessions.secure_cookie);
  EXPECT_EQ(c->access_request_retry_seconds, 0);
  EXPECT_EQ(DefaultConfig().sessions.ttl_seconds, 12 * 3600);
  EXPECT_FALSE(DefaultConfig().sessions.secure_cookie);
  auto bad = ParseConfig("[sessions]\nttl = \"0s\"\n", "test.toml");
  EXPECT_FALSE(bad.ok());
  bad = ParseConfig("[sessions]\nttl = \"91d\"\n", "test.toml");
  EXPECT_FALSE(bad.ok());
  bad = ParseConfig("[sessions]\ncookie = 1\n", "test.toml");
  EXPECT_FALSE(bad.ok());
}

TEST(ConfigTest, ResearchScopesPerLevel) {
  EXPECT_EQ(DefaultConfig().Limits(Level::kResearch).research.inspect_sites, std::vector<std::string>{"*"});
  EXPECT_EQ(DefaultConfig().Limits(Level::kResearch).research.max_tokens, 16384);
  auto c = ParseConfig(R"(
[levels.research]
inspect_sites = ["blocks.*.hook_resid_post", "blocks.*.attn.hook_pattern"]
intervene_sites = []
research_max_tokens = 2048
research_max_bytes = 1048576
research_tokens_per_minute = 0
research_requests_per_day = 100
)",
                       "test.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const ResearchScope& r = c->Limits(Level::kResearch).research;
  EXPECT_EQ(r.inspect_sites.size(), 2u);
  EXPECT_TRUE(r.intervene_sites.empty());
  EXPECT_EQ(r.max_tokens, 2048);
  EXPECT_EQ(r.max_bytes, 1048576);
  EXPECT_EQ(r.tokens_per_minute, 0);
  EXPECT_EQ(r.requests_per_day, 100);
  auto bad = ParseConfig("[levels.research]\ninspect_sites = [\"blocks 0\"]\n", "t.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("levels.research.inspect_sites"), std::string_view::npos) << bad.status();
  EXPECT_FALSE(ParseConfig("[levels.research]\nresearch_max_tokens = -1\n", "t.toml").ok());
}

TEST(ConfigTest, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (const Case& t : {
           Case{"[server]\nmax_body_bytes = \"big\"\n", "test.toml:2: server.max_body_bytes must be an integer"},
           Case{"[server]\nthreds = 2\n", "test.toml:2: server.threds is not a known setting"},
           Case{"[levels.api]\ncapabilities = [\"fly\"]\n", "unknown capability 'fly'"},
           Case{"[levels.public]\nmax_tokens = 1\n", "levels.public is not a known setting"},
           Case{"[levels.closed]\ncapabilities = [\"chat\"]\n", "owners only"},
           Case{"[levels.api]\nmax_top_logprobs = 50\n", "between 0 and 20"},
           Case{"[access_requests]\nretry_wait = \"7y\"\n", "must end in"},
           Case{"this is not toml", "test.toml:1"},
           Case{"[server]\n# caf\xc3\xa9\xc2\xa1\n", "test.toml:2: only ASCII"},
       }) {
    auto c = ParseConfig(t.text, "test.toml");
    ASSERT_FALSE(c.ok()) << t.text;
    EXPECT_NE(std::string(c.status().message()).find(t.expect), std::string::npos)
        << c.status().message() << " | wanted: " << t.expect;
  }
}

}  // namespace
}  // namespace aperture

namespace aperture {
namespace {

// The shipped example documents every default: parsing it must change nothing.
TEST(ConfigTest, ExampleFileMatchesTheDefaults) {
  auto c = LoadConfigFile(APERTURE_SOURCE_DIR "/examples/config.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  Config d = DefaultConfig();
  for (Level l : kAllLevels) {
    EXPECT_EQ(c->Limits(l).capabilities, d.Limits(l).capabilities) << LevelName(l);
    EXPECT_EQ(c->Limits(l).max_tokens, d.Limits(l).max_tokens) << LevelName(l);
    EXPECT_EQ(c->Limits(l).requests_per_minute, d.Limits(l).requests_per_minute) << LevelName(l);
    EXPECT_EQ(c->Limits(l).tokens_per_minute, d.Limits(l).tokens_per_minute) << LevelName(l);
    EXPECT_EQ(c->Limits(l).max_top_logprobs, d.Limits(l).max_top_logprobs) << LevelName(l);
    EXPECT_EQ(c->Limits(l).max_n, d.Limits(l).max_n) << LevelName(l);
    EXPECT_EQ(c->Limits(l).logit_bias, d.Limits(l).logit_bias) << LevelName(l);
    EXPECT_EQ(c->Limits(l).system_prompt, d.Limits(l).system_prompt) << LevelName(l);
    const ResearchScope &a = c->Limits(l).research, &b = d.Limits(l).research;
    EXPECT_EQ(a.inspect_sites, b.inspect_sites) << LevelName(l);
    EXPECT_EQ(a.intervene_sites, b.intervene_sites) << LevelName(l);
    EXPECT_EQ(a.max_tokens, b.max_tokens) << LevelName(l);
    EXPECT_EQ(a.max_bytes, b.max_bytes) << LevelName(l);
    EXPECT_EQ(a.tokens_per_minute, b.tokens_per_minute) << LevelName(l);
    EXPECT_EQ(a.requests_per_day, b.requests_per_day) << LevelName(l);
  }
  EXPECT_EQ(c->server.max_body_bytes, d.server.max_body_bytes);
  EXPECT_EQ(c->serving.max_active, d.serving.max_active);
  EXPECT_EQ(c->serving.max_waiting, d.serving.max_waiting);
  EXPECT_EQ(c->serving.prefill_tokens_per_step, d.serving.prefill_tokens_per_step);
  EXPECT_EQ(c->serving.research_tokens_per_step, d.serving.research_tokens_per_step);
  EXPECT_EQ(c->serving.request_timeout_ms, d.serving.request_timeout_ms);
  EXPECT_EQ(c->serving.max_context, d.serving.max_context);
  EXPECT_EQ(c->server.header_timeout_ms, d.server.header_timeout_ms);
  EXPECT_EQ(c->server.body_timeout_ms, d.server.body_timeout_ms);
  EXPECT_EQ(c->server.idle_timeout_ms, d.server.idle_timeout_ms);
  EXPECT_EQ(c->server.max_connections, d.server.max_connections);
  EXPECT_EQ(c->principal_requests_per_minute, d.principal_requests_per_minute);
  EXPECT_EQ(c->anonymous_requests_per_minute, d.anonymous_requests_per_minute);
  EXPECT_EQ(c->access_request_retry_seconds, d.access_request_retry_seconds);
  EXPECT_EQ(c->log.name, d.log.name);
  EXPECT_EQ(c->reviewer_grant_limit, d.reviewer_grant_limit);
}

TEST(ConfigTest, ReviewerGrantLimitIsALevel) {
  auto c = ParseConfig("[levels]\nreviewer_grant_limit = \"api\"\n", "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->reviewer_grant_limit, Level::kApi);
  EXPECT_EQ(DefaultConfig().reviewer_grant_limit, Level::kResearch);
  auto bad = ParseConfig("[levels]\nreviewer_grant_limit = \"everything\"\n", "t.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("reviewer_grant_limit"), std::string::npos) << bad.status();
}

TEST(ConfigTest, LogNameMustBeAValidKeyName) {
  auto ok = ParseConfig("[log]\nname = \"models.example.org/log\"\n", "t.toml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->log.name, "models.example.org/log");
  for (const char* bad : {"name = \"\"", "name = \"a b\"", "name = \"a+b\"", "name = 3", "nam = \"x\""}) {
    auto c = ParseConfig(std::string("[log]\n") + bad + "\n", "t.toml");
    EXPECT_FALSE(c.ok()) << bad;
  }
}

}  // namespace
}  // namespace aperture
