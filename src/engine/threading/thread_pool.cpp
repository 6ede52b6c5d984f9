#include "engine/threading/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define APERTURE_CPU_RELAX() _mm_pause()
#else
#define APERTURE_CPU_RELAX() ((void)0)
#endif

namespace aperture::engine {
namespace {

// Pause-spin first (fastest hand-over), then give the core away while polling.
inline void Backoff(int polls) {
  if (polls < 4096) {
    APERTURE_CPU_RELAX();
  } else {
    sched_yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, int spin_us) : n_threads_(n_threads < 1 ? 1 : n_threads), spin_us_(spin_us) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_seq_cst);
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

void ThreadPool::ParallelFor(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  ParallelFor(n, [&](int, int64_t b, int64_t e) { fn(b, e); });
}

void ThreadPool::ParallelFor(int64_t n, absl::FunctionRef<void(int, int64_t, int64_t)> fn, int64_t min_chunk) {
  if (n <= 0) return;
  const int64_t by_size = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const uint32_t chunks = static_cast<uint32_t>(std::min<int64_t>({n, by_size, int64_t{4} * n_threads_}));
  if (n_threads_ == 1 || chunks == 1) {
    fn(0, 0, n);
    return;
  }
  resting_.store(false, std::memory_order_relaxed);
  const uint32_t gen = ++last_gen_;
  Job& job = jobs_[gen & 1];
  job.fn.store(&fn, std::memory_order_relaxed);
  job.n.store(n, std::memory_order_relaxed);
  job.chunks.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  claim_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  generation_.store(gen, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
  Work(gen, 0);
  for (int polls = 0; done_.load(std::memory_order_acquire) != chunks; ++polls) Backoff(polls);
}

void ThreadPool::Work(uint32_t gen, int thread) {
  for (;;) {
    uint64_t v = claim_.load(std::memory_order_acquire);
    if ((v >> 32) != gen) return;
    const uint32_t c = static_cast<uint32_t>(v);
    // A claim only succeeds while `gen` is current, and the job of `gen`
    // stays in place until every chunk of it has finished; so after a
    // successful claim the slot holds this job (the release store of claim_
    // published it).
    const Job& job = jobs_[gen & 1];
    const uint32_t chunks = job.chunks.load(std::memory_order_relaxed);
    if (c >= chunks) return;
    if (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
    const int64_t n = job.n.load(std::memory_order_relaxed);
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
    (*job.fn.load(std::memory_order_relaxed))(thread, begin, end);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::WorkerLoop(int index) {
  uint32_t seen = 0;  // the value before any region, even if one started already
  for (;;) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
    uint32_t now_gen = generation_.load(std::memory_order_acquire);
    for (int polls = 0; now_gen == seen; ++polls) {
      Backoff(polls);
      if (resting_.load(std::memory_order_relaxed) ||
          ((polls & 255) == 255 && std::chrono::steady_clock::now() > deadline)) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        // Re-check after announcing ourselves so a region that missed the
        // announcement cannot leave us asleep.
        if (generation_.load(std::memory_order_seq_cst) == seen) {
          generation_.wait(seen, std::memory_order_acquire);
        }
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
        polls = 0;
      }
      now_gen = generation_.load(std::memory_order_acquire);
    }
    seen = now_gen;
    if (stop_.load(std::memory_order_acquire)) return;
    Work(seen, index);
  }
}

}  // namespace aperture::engine
