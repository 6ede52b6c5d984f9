// StdMutex: a std::mutex carrying the capability annotations that clang's
// -Wthread-safety checks (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED),
// for state that cannot use absl::Mutex: Debian's abseil is not built for
// ThreadSanitizer, which then cannot see its locks, so the code TSan must
// follow (the scheduler, the model registry, their callers' threads) locks
// a std::mutex. StdMutexLock holds it for a scope and can wait on a
// std::condition_variable, releasing it meanwhile.
//
// Usage:
//   StdMutex mu_;
//   int queued_ ABSL_GUARDED_BY(mu_) = 0;
//   std::condition_variable cv_;
//   ...
//   StdMutexLock lock(&mu_);
//   while (queued_ == 0) lock.Wait(cv_);  // a loop: wake-ups may be spurious
//
// Thread-safety: a mutex (thread-safe); a StdMutexLock belongs to one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace aperture {

class ABSL_LOCKABLE StdMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }

 private:
  friend class StdMutexLock;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE StdMutexLock {
 public:
  explicit StdMutexLock(StdMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : lock_(mu->mu_) {}
  ~StdMutexLock() ABSL_UNLOCK_FUNCTION() {}
  StdMutexLock(const StdMutexLock&) = delete;
  StdMutexLock& operator=(const StdMutexLock&) = delete;

  // Releases the mutex until `cv` is notified (or a spurious wake-up), then
  // holds it again.
  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  // The same, for at most `timeout`.
  void WaitFor(std::condition_variable& cv, std::chrono::milliseconds timeout) { cv.wait_for(lock_, timeout); }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace aperture
