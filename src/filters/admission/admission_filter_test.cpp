// The admission filter and its rate quotas, alone with fakes (as Envoy tests
// each filter): the order of quotas, the give-back on a later refusal, the
// request and token rates per caller and model, IPv6 /64 keys, and owners.
#include "filters/admission/admission_filter.h"

#include <gtest/gtest.h>

#include "filters/admission/rate_quotas.h"

namespace aperture {
namespace {

// A quota that charges `cost` into a counter on admission (given back at
// settlement by what was not used) or refuses.
class FakeQuota final : public Quota {
 public:
  FakeQuota(bool refuse, int64_t* balance) : refuse_(refuse), balance_(balance) {}
  std::optional<http::Response> Admit(RequestContext& ctx) override {
    ++asked;
    if (refuse_) {
      ctx.Deny("fake_quota");
      return http::ErrorResponse(429, "no", "fake");
    }
    *balance_ -= 10;
    int64_t* balance = balance_;
    ctx.charges.Add([balance](const Usage& used) { *balance += 10 - used.tokens; });
    return std::nullopt;
  }
  int asked = 0;

 private:
  const bool refuse_;
  int64_t* balance_;
};

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() {
    route_.name = "r";
    model_route_.name = "chat";
    model_route_.token_estimate = [this](const RequestContext&) { return estimate_; };
    principal_.principal = Principal{"prn_a", "a", Role::kMember, 0};
    owner_.principal = Principal{"prn_o", "o", Role::kOwner, 0};
    anonymous_.address = "2001:db8:1:2:aaaa:bbbb:cccc:dddd";
    config_.principal_requests_per_minute = 5;
    config_.anonymous_requests_per_minute = 3;
    config_.levels[static_cast<size_t>(Level::kApi)].requests_per_minute = 4;
    config_.levels[static_cast<size_t>(Level::kApi)].tokens_per_minute = 1000;
  }
  // A request context for `caller`, model-scoped at `level` when set.
  std::unique_ptr<RequestContext> Ctx(const Caller& caller, std::optional<Level> level = std::nullopt) {
    auto ctx = std::make_unique<RequestContext>(request_);
    ctx->caller = caller;
    ctx->route = level ? &model_route_ : &route_;
    if (level) {
      ctx->model_id = "m";
      Decision d;
      d.level = *level;
      ctx->decision = d;
    }
    return ctx;
  }
  AdmissionFilter Rates() {
    std::vector<std::unique_ptr<Quota>> quotas;
    quotas.push_back(std::make_unique<RequestRateQuota>(limiters_, config_));
    quotas.push_back(std::make_unique<TokenRateQuota>(limiters_, config_));
    return AdmissionFilter(std::move(quotas));
  }

  FakeClock clock_;
  Config config_ = DefaultConfig();
  CallerLimiters limiters_{clock_};
  http::Request request_;
  Route route_, model_route_;
  Caller principal_, owner_, anonymous_;
  int64_t estimate_ = 100;
};

TEST_F(AdmissionTest, TheFirstRefusalAnswersAndEarlierChargesAreGivenBack) {
  int64_t balance = 0;
  auto first = std::make_unique<FakeQuota>(false, &balance);
  auto second = std::make_unique<FakeQuota>(true, &balance);
  auto third = std::make_unique<FakeQuota>(false, &balance);
  FakeQuota* third_raw = third.get();
  std::vector<std::unique_ptr<Quota>> quotas;
  quotas.push_back(std::move(first));
  quotas.push_back(std::move(second));
  quotas.push_back(std::move(third));
  AdmissionFilter filter(std::move(quotas));
  auto ctx = Ctx(principal_);
  auto answer = filter.Apply(*ctx);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 429);
  EXPECT_EQ(ctx->reason, "fake_quota");
  EXPECT_EQ(third_raw->asked, 0);
  EXPECT_EQ(balance, 0);  // the first quota's charge came back
}

TEST_F(AdmissionTest, RequestRateIsPerCallerAndModelAtTheLevel) {
  AdmissionFilter filter = Rates();
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(filter.Apply(*Ctx(principal_, Level::kApi)).has_value()) << i;
  auto ctx = Ctx(principal_, Level::kApi);
  auto refused = filter.Apply(*ctx);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(ctx->reason, "rate_limited");
  bool retry_after = false;
  for (const auto& [k, v] : refused->headers) retry_after |= k == "Retry-After" && v == "15";
  EXPECT_TRUE(retry_after) << "4 per minute: one back every 15 s";
  // Routes without a model use the principal's own rate, separately.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(filter.Apply(*Ctx(principal_)).has_value()) << i;
  EXPECT_TRUE(filter.Apply(*Ctx(principal_)).has_value());
  // Owners are not held to level rates on models.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(filter.Apply(*Ctx(owner_, Level::kApi)).has_value()) << i;
}

TEST_F(AdmissionTest, AnIpv6CallerCountsByItsSlash64) {
  AdmissionFilter filter = Rates();
  Caller neighbour = anonymous_;
  neighbour.address = "2001:db8:1:2::1";  // same /64
  Caller elsewhere = anonymous_;
  elsewhere.address = "2001:db8:1:3::1";
  EXPECT_FALSE(filter.Apply(*Ctx(anonymous_)).has_value());
  EXPECT_FALSE(filter.Apply(*Ctx(neighbour)).has_value());
  EXPECT_FALSE(filter.Apply(*Ctx(anonymous_)).has_value());
  EXPECT_TRUE(filter.Apply(*Ctx(neighbour)).has_value());  // the 4th from that /64
  EXPECT_FALSE(filter.Apply(*Ctx(elsewhere)).has_value());
  EXPECT_EQ(CallerRateKey(neighbour), "addr:2001:db8:1:2::/64");
  Caller v4;
  v4.address = "192.0.2.1";
  EXPECT_EQ(CallerRateKey(v4), "addr:192.0.2.1");
}

TEST_F(AdmissionTest, TokensAreChargedOnAdmissionAndSettledToWhatWasUsed) {
  AdmissionFilter filter = Rates();
  estimate_ = 600;
  auto ctx = Ctx(principal_, Level::kApi);
  ASSERT_FALSE(filter.Apply(*ctx).has_value());
  // 600 of 1000 taken: a second request of 600 does not fit...
  auto second = Ctx(principal_, Level::kApi);
  auto refused = filter.Apply(*second);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(second->reason, "token_rate_limited");
  // ...until the first settles at what it used (50).
  ctx->charges.Settle({.tokens = 50});
  ctx->charges.Settle({.tokens = 0});  // only the first settlement counts
  EXPECT_FALSE(filter.Apply(*Ctx(principal_, Level::kApi)).has_value());
  // An estimate above a minute's budget takes the whole budget, and what was
  // used beyond it is owed.
  clock_.AdvanceSeconds(60);
  estimate_ = 5000;
  auto big = Ctx(principal_, Level::kApi);
  ASSERT_FALSE(filter.Apply(*big).has_value());
  big->charges.Settle({.tokens = 1500});
  estimate_ = 1;
  clock_.AdvanceSeconds(60);  // 1000 back, still 500 short of a full bucket
  auto after = Ctx(principal_, Level::kApi);
  EXPECT_FALSE(filter.Apply(*after).has_value());
  // Owners are not charged tokens.
  estimate_ = 1'000'000;
  auto owner = Ctx(owner_, Level::kApi);
  EXPECT_FALSE(filter.Apply(*owner).has_value());
  EXPECT_TRUE(owner->charges.empty());
}

}  // namespace
}  // namespace aperture
