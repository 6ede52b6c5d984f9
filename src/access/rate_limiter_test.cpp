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

}  // namespace
}  // namespace aperture
