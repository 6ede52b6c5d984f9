#include "access/rate_limiter.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <iostream>
#include <string>

#include "fmt/format.h"

namespace aperture {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMallocIsReal = false;  // the sanitizer's allocator: mallinfo2 does not see it
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMallocIsReal = false;
#else
constexpr bool kMallocIsReal = true;
#endif
#else
constexpr bool kMallocIsReal = true;
#endif

size_t HeapInUse() { return mallinfo2().uordblks; }

TEST(RateLimiterTest, BurstThenRefill) {
  FakeClock clock;
  RateLimiter limiter(clock);
  for (int i = 0; i < 60; ++i) EXPECT_TRUE(limiter.Acquire("a", 60).allowed) << i;
  auto v = limiter.Acquire("a", 60);
  ASSERT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_seconds, 1);
  EXPECT_FALSE(v.table_full);
  EXPECT_TRUE(limiter.Acquire("b", 60).allowed);  // buckets are per key
  clock.AdvanceSeconds(1);
  EXPECT_TRUE(limiter.Acquire("a", 60).allowed);
  EXPECT_FALSE(limiter.Acquire("a", 60).allowed);
}

TEST(RateLimiterTest, CostUnlimitedAndSettle) {
  FakeClock clock;
  RateLimiter limiter(clock);
  EXPECT_TRUE(limiter.Acquire("t", 100, 80).allowed);
  auto v = limiter.Acquire("t", 100, 80);
  ASSERT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_seconds, 36);  // 60 tokens missing at 100/min
  EXPECT_TRUE(limiter.Acquire("t", 0, 1'000'000).allowed);
  limiter.Settle("t", 100, /*charged=*/80, /*used=*/10);  // 20 left + 70 back
  EXPECT_TRUE(limiter.Acquire("t", 100, 90).allowed);
  EXPECT_FALSE(limiter.Acquire("t", 100, 1).allowed);
}

TEST(RateLimiterTest, UseBeyondTheChargeIsOwed) {
  FakeClock clock;
  RateLimiter limiter(clock);
  EXPECT_TRUE(limiter.Acquire("e", 60, 10).allowed);
  limiter.Settle("e", 60, /*charged=*/10, /*used=*/100);  // 50 - 90 = -40: in debt
  auto v = limiter.Acquire("e", 60, 1);
  ASSERT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_seconds, 41);
  // The debt is at most one minute's worth.
  limiter.Settle("e", 60, 0, 1'000'000);
  EXPECT_EQ(limiter.Acquire("e", 60, 1).retry_after_seconds, 61);
}

// Each bucket is judged by its own rate: a slow caller's drained bucket is
// kept (evicting it would hand that caller a full one) and a fast caller's
// refilled bucket goes, whatever the rate of the newcomer asking for room.
TEST(RateLimiterTest, EvictionJudgesEachBucketByItsOwnRate) {
  FakeClock clock;
  RateLimiter limiter(clock, {.max_buckets = 2, .shards = 1});
  ASSERT_TRUE(limiter.Acquire("slow", 6, 6).allowed);  // drained: refills in 60 s
  ASSERT_TRUE(limiter.Acquire("fast", 600).allowed);   // 1 of 600: refills in 0.1 s
  clock.AdvanceSeconds(1);
  EXPECT_TRUE(limiter.Acquire("newcomer", 600'000).allowed);  // room made by evicting "fast"
  EXPECT_FALSE(limiter.Acquire("slow", 6).allowed);           // "slow" kept its state
  // Now "slow" (59 s to go) and "newcomer" (1 of 600,000: 0.1 ms) fill the
  // table; the next newcomer waits for "newcomer", the sooner of the two.
  auto v = limiter.Acquire("another", 6);
  EXPECT_FALSE(v.allowed);
  EXPECT_TRUE(v.table_full);
  EXPECT_EQ(v.retry_after_seconds, 1);
  clock.AdvanceSeconds(1);
  EXPECT_TRUE(limiter.Acquire("another", 6).allowed);
  EXPECT_FALSE(limiter.Acquire("slow", 6).allowed);
  EXPECT_EQ(limiter.size(), 2u);
}

// 1,000,000 distinct callers (addresses) arrive within a minute: the table
// never holds more than its cap, memory stays bounded, every caller with a
// bucket keeps its exact limit, and newcomers are refused only while every
// tracked bucket is still refilling.
TEST(RateLimiterTest, AMillionDistinctCallersStayWithinTheMemoryCap) {
  FakeClock clock;
  constexpr size_t kCap = 100'000;
  const size_t heap_before = HeapInUse();
  RateLimiter limiter(clock, {.max_buckets = kCap});
  ASSERT_EQ(limiter.max_buckets(), kCap);
  // A heavy caller drains its bucket first (120 requests per minute).
  const std::string heavy = "addr:198.51.100.7/m";
  for (int i = 0; i < 120; ++i) ASSERT_TRUE(limiter.Acquire(heavy, 120).allowed);
  ASSERT_FALSE(limiter.Acquire(heavy, 120).allowed);

  size_t admitted = 0, table_full = 0, peak = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    if (i % 1000 == 0) clock.AdvanceMicros(50'000);  // 1,000,000 callers over 50 s
    const std::string key = fmt::format("addr:10.{}.{}.{}/m", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    RateLimiter::Verdict v = limiter.Acquire(key, 120);
    if (v.allowed) {
      ++admitted;
    } else {
      ASSERT_TRUE(v.table_full) << i;  // a first request is never over its own rate
      ASSERT_GE(v.retry_after_seconds, 1);
      ASSERT_LE(v.retry_after_seconds, 120);
      ++table_full;
    }
    if (i % 10'000 == 0) peak = std::max(peak, limiter.size());
  }
  peak = std::max(peak, limiter.size());
  EXPECT_LE(peak, kCap);
  // One request each leaves a bucket 1/120 short, refilled within 0.5 s, so
  // nearly every newcomer finds room.
  EXPECT_GT(admitted, 990'000u);
  EXPECT_EQ(admitted + table_full, 1'000'000u);
  // About 150 bytes a bucket: the cap holds in bytes too.
  const size_t bytes = limiter.ApproximateBytes();
  EXPECT_LT(bytes, kCap * 200) << bytes;
  const size_t grown = HeapInUse() - std::min(HeapInUse(), heap_before);
  if (kMallocIsReal) EXPECT_LT(grown, kCap * 200) << "the heap grew by " << grown << " bytes";
  std::cout << fmt::format(
      "1,000,000 callers: peak {} buckets (cap {}), {} admitted, {} refused (table full), "
      "~{} bytes held, heap grown {} bytes\n",
      peak, kCap, admitted, table_full, bytes, kMallocIsReal ? grown : 0);
  // The heavy caller, tracked all along, is still limited exactly: its
  // bucket refills at 2 per second since it drained it.
  EXPECT_FALSE(limiter.Acquire(heavy, 120, 120).allowed);
  EXPECT_TRUE(limiter.Acquire(heavy, 120, 99).allowed);  // 50 s x 2/s = 100 back
  EXPECT_FALSE(limiter.Acquire(heavy, 120, 2).allowed);
}

// A table full of buckets that are all still refilling refuses newcomers
// (as nginx's limit_req does) rather than reset anyone's limit.
TEST(RateLimiterTest, AFullTableOfDrainedBucketsRefusesNewcomersUntilOneRefills) {
  FakeClock clock;
  RateLimiter limiter(clock, {.max_buckets = 64});
  int drained = 0;
  for (int i = 0; drained < 64 && i < 10'000; ++i) {
    const std::string key = fmt::format("caller{}", i);
    if (limiter.Acquire(key, 60, 60).allowed) ++drained;
  }
  ASSERT_EQ(limiter.size(), 64u);
  auto v = limiter.Acquire("newcomer", 60);
  EXPECT_FALSE(v.allowed);
  EXPECT_TRUE(v.table_full);
  EXPECT_EQ(v.retry_after_seconds, 60);
  clock.AdvanceSeconds(60);
  EXPECT_TRUE(limiter.Acquire("newcomer", 60).allowed);
  EXPECT_LE(limiter.size(), 64u);
}

// Two replicas split each limit: each allows half the rate, refills at half
// the speed, and a cost above its share takes the whole share.
TEST(RateLimiterTest, ReplicasSplitEveryLimit) {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.SetReplicas(2);
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(limiter.Acquire("a", 60).allowed) << i;
  RateLimiter::Verdict v = limiter.Acquire("a", 60);
  ASSERT_FALSE(v.allowed);
  EXPECT_EQ(v.retry_after_seconds, 2);  // 30 per minute here: one token every 2 s
  clock.AdvanceSeconds(2);
  EXPECT_TRUE(limiter.Acquire("a", 60).allowed);
  EXPECT_TRUE(limiter.Acquire("t", 100, 80).allowed);  // 80 > 50: takes the 50 there are
  EXPECT_FALSE(limiter.Acquire("t", 100, 1).allowed);
  limiter.SetReplicas(1);  // the other replica left: the whole rate again
  clock.AdvanceSeconds(60);
  for (int i = 0; i < 60; ++i) EXPECT_TRUE(limiter.Acquire("b", 60).allowed) << i;
  limiter.SetReplicas(0);  // never below one
  EXPECT_EQ(limiter.replicas(), 1);
}

}  // namespace
}  // namespace aperture
