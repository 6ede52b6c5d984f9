#include "engine/threading/thread_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadOnce) {
  for (int n : {1, 2, 3}) {
    ThreadPool pool(n);
    for (int rep = 0; rep < 100; ++rep) {
      std::vector<std::atomic<int>> calls(n);
      pool.Run([&](int i, int nt) {
        EXPECT_EQ(nt, n);
        calls[i].fetch_add(1);
      });
      for (int i = 0; i < n; ++i) EXPECT_EQ(calls[i].load(), 1);
    }
  }
}

TEST(ThreadPoolTest, ParallelForCoversRangeExactlyOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  pool.ParallelFor(1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  pool.ParallelFor(1, [&](int64_t b, int64_t e) { EXPECT_EQ(e - b, 1); });
}

TEST(ThreadPoolTest, WakesWorkersAfterTheySleep) {
  ThreadPool pool(2, /*spin_us=*/10);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers go to sleep
  std::atomic<int> sum{0};
  for (int rep = 0; rep < 5; ++rep) {
    pool.Run([&](int i, int) { sum.fetch_add(i + 1); });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(sum.load(), 5 * 3);
}

}  // namespace
}  // namespace aperture::engine
