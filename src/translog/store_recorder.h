// StoreRecorder: the Recorder that writes events as rows of the store, in
// batches (one transaction every few milliseconds), until the transparency
// log takes over the same interface.
#pragma once

#include <cstdint>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "aperture/recorder.h"
#include "aperture/store.h"

namespace aperture {

// Thread-safe. A background thread commits queued events; the destructor
// commits what is left.
class StoreRecorder final : public Recorder {
 public:
  explicit StoreRecorder(Store& store);
  ~StoreRecorder() override;

  void Record(LogEvent event) override;
  absl::Status RecordDurably(LogEvent event) override;
  void Flush() override;

  // Events that failed to commit (the store refused the batch).
  int64_t failed() const;

 private:
  void Run();

  Store& store_;
  mutable absl::Mutex mu_;
  std::vector<LogEvent> queue_ ABSL_GUARDED_BY(mu_);
  int64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;   // events ever queued
  int64_t committed_ ABSL_GUARDED_BY(mu_) = 0;  // events ever handled (committed or failed)
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace aperture
