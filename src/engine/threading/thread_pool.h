// ThreadPool: a fixed set of worker threads that stays warm between the
// many short parallel regions of a forward pass (about fifty per token).
// Workers pause-spin briefly after each region so the next one starts
// without a system call, then yield, then sleep on a futex until woken.
//
// Work is cut into a few contiguous chunks per thread that any thread may
// claim, the caller included: on a busy machine a worker that has not been
// scheduled yet does not hold the region up, the caller takes its chunks.
// Which thread runs a chunk never changes what the chunk computes, so
// results do not depend on timing or on the number of threads.
//
// Thread-safety: ParallelFor must be called from one thread at a time (the
// owner); the pool synchronises its workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"

namespace aperture::engine {

class ThreadPool {
 public:
  // n_threads >= 1 counts the caller; n_threads - 1 workers are started.
  // spin_us: how long an idle worker polls before sleeping.
  explicit ThreadPool(int n_threads, int spin_us = 2000);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into contiguous chunks (about four per thread, at least
  // min_chunk indices each) and calls fn(thread, begin, end) exactly once per
  // chunk; `thread` in [0, size()) names the executing thread (for per-thread
  // scratch). Returns when every chunk has finished.
  void ParallelFor(int64_t n, absl::FunctionRef<void(int, int64_t, int64_t)> fn, int64_t min_chunk = 1);
  // As above without the thread index.
  void ParallelFor(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn);

  // The owner has no region to give for a while (e.g. the serving loop is
  // streaming tokens out): idle workers sleep now instead of spinning, so the
  // threads it wakes find a free core. The next ParallelFor wakes them.
  void Rest() { resting_.store(true, std::memory_order_relaxed); }

  // Number of hardware threads this process may use (at least 1).
  static int DefaultThreads();

 private:
  // Atomic fields: a worker late for one region may read the slot while the
  // owner fills it for the region two later; its claim then fails, but the
  // read itself must not be a data race.
  struct Job {
    std::atomic<const absl::FunctionRef<void(int, int64_t, int64_t)>*> fn{nullptr};
    std::atomic<int64_t> n{0};
    std::atomic<uint32_t> chunks{0};
  };
  void WorkerLoop(int index);
  // Claims and runs chunks of job `gen` until none are left.
  void Work(uint32_t gen, int thread);

  const int n_threads_;
  const int spin_us_;
  std::vector<std::thread> workers_;
  uint32_t last_gen_ = 0;  // owner only
  Job jobs_[2];            // indexed by generation parity
  // Bumped for each region; wakes the workers.
  alignas(64) std::atomic<uint32_t> generation_{0};
  // (generation << 32) | next unclaimed chunk.
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<uint32_t> done_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> resting_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace aperture::engine
