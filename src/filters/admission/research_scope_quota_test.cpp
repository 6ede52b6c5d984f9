#include "filters/admission/research_scope_quota.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/sqlite/sqlite_store.h"

namespace aperture {
namespace {

class ResearchScopeQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("scope-quota-" + std::to_string(::getpid()) + ".db")).string();
    store_ = *store::SqliteStore::Open(path_, /*create=*/true);
    ResearchScope& r = config_.levels[static_cast<int>(Level::kResearch)].research;
    r.inspect_sites = {"blocks.*.hook_resid_post"};
    r.intervene_sites = {};
    r.max_tokens = 100;
    r.tokens_per_minute = 150;
    r.requests_per_day = 3;
    route_.research_demand = [this](RequestContext&) -> absl::StatusOr<std::optional<ResearchDemand>> {
      if (!planned_.ok()) return planned_.status();
      return *planned_;
    };
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove(path_);
  }

  // Runs the quota for a member at `level` (with `grant_scope` on a grant).
  std::optional<http::Response> Apply(Level level, const std::string& grant_scope = "{}", Role role = Role::kMember) {
    http::Request request;
    ctx_ = std::make_unique<RequestContext>(request);
    ctx_->route = &route_;
    ctx_->model_id = "m";
    ctx_->caller.principal = Principal{"prn_1", "ada", role, 0};
    Decision d;
    d.outcome = Outcome::kAllow;
    d.level = level;
    d.grant = Grant{"grt_1", "prn_1", "m", level, 0, "r", "cli", 0, 0, grant_scope};
    ctx_->decision = d;
    ResearchScopeQuota quota(config_, *store_, limiter_, quota_, clock_);
    return quota.Admit(*ctx_);
  }

  std::string path_;
  std::unique_ptr<store::SqliteStore> store_;
  Config config_ = DefaultConfig();
  FakeClock clock_;
  RateLimiter limiter_{clock_};
  ResearchQuota quota_;
  Route route_;
  absl::StatusOr<std::optional<ResearchDemand>> planned_ = std::optional<ResearchDemand>();
  std::unique_ptr<RequestContext> ctx_;
};

TEST_F(ResearchScopeQuotaTest, NotAResearchRequestPasses) {
  EXPECT_FALSE(Apply(Level::kResearch));
  EXPECT_FALSE(ctx_->research.has_value());
}

TEST_F(ResearchScopeQuotaTest, ASiteOutsideTheScopeIsRefusedAndRecordedAsADenial) {
  planned_ = std::optional<ResearchDemand>(ResearchDemand{{"blocks.0.attn.hook_z"}, {}, 10, 10, true});
  auto r = Apply(Level::kResearch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("reads 'blocks.0.attn.hook_z'"), std::string::npos) << r->body;
  EXPECT_EQ(ctx_->outcome, "deny");
  EXPECT_EQ(ctx_->reason, "research_scope_site");
  // Owners are not limited.
  EXPECT_FALSE(Apply(Level::kOpen, "{}", Role::kOwner));
}

TEST_F(ResearchScopeQuotaTest, TheGrantNarrowsAndLimitsApply) {
  planned_ = std::optional<ResearchDemand>(ResearchDemand{{"blocks.1.hook_resid_post"}, {}, 60, 10, true});
  EXPECT_FALSE(Apply(Level::kResearch));
  ASSERT_TRUE(ctx_->research.has_value());
  auto r = Apply(Level::kResearch, R"({"research_max_tokens":50})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(ctx_->reason, "research_scope_limit");
  // 150 tokens a minute: the first request took 60, a second 60 fits, a third does not.
  EXPECT_FALSE(Apply(Level::kResearch));
  r = Apply(Level::kResearch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(ctx_->reason, "research_rate_limited");
  EXPECT_FALSE(r->headers.empty());
  // A minute later the bucket is full again; the day's count is 2 of 3.
  clock_.AdvanceSeconds(60);
  EXPECT_FALSE(Apply(Level::kResearch));
  clock_.AdvanceSeconds(60);
  r = Apply(Level::kResearch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(ctx_->reason, "research_quota_exhausted");
}

TEST_F(ResearchScopeQuotaTest, APlannerErrorIsTheCallersError) {
  planned_ = absl::InvalidArgumentError("'capture[0]' names no site");
  auto r = Apply(Level::kResearch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(ctx_->reason, "bad_request");
}

}  // namespace
}  // namespace aperture
