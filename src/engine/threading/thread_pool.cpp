#include "engine/threading/thread_pool.h"

#include <sched.h>

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define APERTURE_CPU_RELAX() _mm_pause()
#else
#define APERTURE_CPU_RELAX() ((void)0)
#endif

namespace aperture::engine {

ThreadPool::ThreadPool(int n_threads, int spin_us)
    : n_threads_(n_threads < 1 ? 1 : n_threads), spin_us_(spin_us) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::DefaultThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void ThreadPool::Run(absl::FunctionRef<void(int, int)> fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  task_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
  fn(0, n_threads_);
  // Spin briefly, then yield: on an oversubscribed machine the worker we
  // wait for may need this very core.
  for (int polls = 0; pending_.load(std::memory_order_acquire) != 0; ++polls) {
    if (polls < 4096) {
      APERTURE_CPU_RELAX();
    } else {
      sched_yield();
    }
  }
  task_ = nullptr;
}

void ThreadPool::ParallelFor(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  Run([&](int i, int nt) {
    const int64_t begin = n * i / nt;
    const int64_t end = n * (i + 1) / nt;
    if (begin < end) fn(begin, end);
  });
}

void ThreadPool::WorkerLoop(int index) {
  uint32_t seen = 0;  // the value before any Run, even if one started already
  for (;;) {
    // Spin, checking the clock only every few hundred polls.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
    uint32_t now_gen = generation_.load(std::memory_order_acquire);
    for (int polls = 0; now_gen == seen; ++polls) {
      // Pause-spin first (fastest wake-up), then yield the core while polling.
      if (polls < 4096) {
        APERTURE_CPU_RELAX();
      } else {
        sched_yield();
      }
      if ((polls & 255) == 255 && std::chrono::steady_clock::now() > deadline) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        // Re-check after announcing ourselves so a Run that missed the
        // announcement cannot leave us asleep.
        now_gen = generation_.load(std::memory_order_seq_cst);
        if (now_gen == seen) {
          generation_.wait(seen, std::memory_order_acquire);
        }
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
      }
      now_gen = generation_.load(std::memory_order_acquire);
    }
    seen = now_gen;
    if (stop_.load(std::memory_order_acquire)) return;
    (*task_)(index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace aperture::engine
