// ThreadPool: a fixed set of worker threads that stays warm between the
// many short parallel regions of a forward pass (about fifty per token).
// Workers spin briefly after each region, so the next one starts without a
// system call, and then sleep on a futex until woken.
//
// Work is split statically: Run(fn) calls fn(i, n) once on every thread i of
// n (the caller is thread 0), so a given index range always goes to the same
// code path and results never depend on timing.
//
// Thread-safety: Run must be called from one thread at a time (the owner);
// the pool itself synchronises its workers.
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

  // Runs fn(thread_index, n_threads) on every thread and returns when all
  // have finished.
  void Run(absl::FunctionRef<void(int, int)> fn);

  // Splits [0, n) into size() contiguous chunks and runs fn(begin, end) on
  // each (empty chunks are skipped).
  void ParallelFor(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn);

  // Number of hardware threads this process may use (at least 1).
  static int DefaultThreads();

 private:
  void WorkerLoop(int index);

  const int n_threads_;
  const int spin_us_;
  std::vector<std::thread> workers_;
  // Bumped for each region; workers run the task when it changes.
  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<int> pending_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  const absl::FunctionRef<void(int, int)>* task_ = nullptr;
};

}  // namespace aperture::engine
