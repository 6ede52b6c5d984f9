#include "access/rate_limiter.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(RateLimiterTest, BurstThenRefill) {
  FakeClock clock;
  RateLimiter limiter(clock);
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(limiter.Acquire("a", 60).has_value()) << i;
  auto wait = limiter.Acquire("a", 60);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 1);
  EXPECT_FALSE(limiter.Acquire("b", 60).has_value());  // buckets are per key
  clock.AdvanceSeconds(1);
  EXPECT_FALSE(limiter.Acquire("a", 60).has_value());
  EXPECT_TRUE(limiter.Acquire("a", 60).has_value());
}

TEST(RateLimiterTest, CostAndUnlimited) {
  FakeClock clock;
  RateLimiter limiter(clock);
  EXPECT_FALSE(limiter.Acquire("t", 100, 80).has_value());
  auto wait = limiter.Acquire("t", 100, 80);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 36);  // 60 tokens missing at 100/min
  EXPECT_FALSE(limiter.Acquire("t", 0, 1'000'000).has_value());
  limiter.Refund("t", 100, 70);  // 20 left + 70 back
  EXPECT_FALSE(limiter.Acquire("t", 100, 90).has_value());
  EXPECT_TRUE(limiter.Acquire("t", 100, 1).has_value());
}

// Two replicas split each limit: each allows half the rate, refills at half
// the speed, and a cost above its share takes the whole share.
TEST(RateLimiterTest, ReplicasSplitEveryLimit) {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.SetReplicas(2);
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(limiter.Acquire("a", 60).has_value()) << i;
  auto wait = limiter.Acquire("a", 60);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 2);  // 30 per minute here: one token every 2 s
  clock.AdvanceSeconds(2);
  EXPECT_FALSE(limiter.Acquire("a", 60).has_value());
  EXPECT_FALSE(limiter.Acquire("t", 100, 80).has_value());  // 80 > 50: takes the 50 there are
  EXPECT_TRUE(limiter.Acquire("t", 100, 1).has_value());
  limiter.SetReplicas(1);  // the other replica left: the whole rate again
  clock.AdvanceSeconds(60);
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(limiter.Acquire("b", 60).has_value()) << i;
  limiter.SetReplicas(0);  // never below one
  EXPECT_EQ(limiter.replicas(), 1);
}

}  // namespace
}  // namespace aperture
