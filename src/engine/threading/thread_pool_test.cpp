#include "engine/threading/thread_pool.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(ThreadPoolTest, ParallelForCoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      for (int rep = 0; rep < 50; ++rep) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> bad_thread{0};
        pool.ParallelFor(n, [&](int t, int64_t b, int64_t e) {
          if (t < 0 || t >= threads) bad_thread.fetch_add(1);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (auto& h : hits) ASSERT_EQ(h.load(), 1);
        EXPECT_EQ(bad_thread.load(), 0);
      }
    }
  }
}

TEST(ThreadPoolTest, MinChunkLimitsTheSplit) {
  ThreadPool pool(2);
  std::atomic<int> chunks{0};
  pool.ParallelFor(
      10, [&](int, int64_t b, int64_t e) { chunks.fetch_add(1); }, /*min_chunk=*/10);
  EXPECT_EQ(chunks.load(), 1);
}

TEST(ThreadPoolTest, WorkersJoinAndSleepingWorkersWake) {
  ThreadPool pool(2, /*spin_us=*/10);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers go to sleep
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 5; ++rep) {
    pool.ParallelFor(100, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(sum.load(), 5 * 4950);
}

// Rest() sends the workers to sleep at once (spin_us is long here); the next
// region wakes them, and work still spreads over every thread.
TEST(ThreadPoolTest, RestingWorkersWakeForTheNextRegion) {
  ThreadPool pool(3, /*spin_us=*/1000000);
  for (int rep = 0; rep < 200; ++rep) {
    pool.Rest();
    if (rep % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let them fall asleep
    std::set<int> threads;
    std::mutex mu;
    std::atomic<int64_t> sum{0};
    pool.ParallelFor(1200, [&](int t, int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(t);
    });
    ASSERT_EQ(sum.load(), 1200 * 1199 / 2);
    ASSERT_FALSE(threads.empty());
  }
}

}  // namespace
}  // namespace aperture::engine
