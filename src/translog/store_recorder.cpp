#include "translog/store_recorder.h"

#include "spdlog/spdlog.h"

namespace aperture {
namespace {
constexpr absl::Duration kBatchInterval = absl::Milliseconds(5);
constexpr size_t kMaxBatch = 4096;
}  // namespace

StoreRecorder::StoreRecorder(Store& store) : store_(store), thread_([this] { Run(); }) {}

StoreRecorder::~StoreRecorder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void StoreRecorder::Record(LogEvent event) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(event));
  ++enqueued_;
}

absl::Status StoreRecorder::RecordDurably(LogEvent event) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(event));
  const int64_t mine = ++enqueued_;
  const int64_t failed_before = failed_;
  auto done = [this, mine]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return committed_ >= mine; };
  mu_.Await(absl::Condition(&done));
  if (failed_ != failed_before) return last_error_;
  return absl::OkStatus();
}

void StoreRecorder::Flush() {
  absl::MutexLock lock(&mu_);
  const int64_t target = enqueued_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return committed_ >= target; };
  while (!done()) mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(50));
}

int64_t StoreRecorder::failed() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

void StoreRecorder::Run() {
  for (;;) {
    std::vector<LogEvent> batch;
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
          +[](StoreRecorder* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
            return r->stopping_ || r->queue_.size() >= kMaxBatch;
          }, this), kBatchInterval);
      stop = stopping_;
      batch.swap(queue_);
    }
    if (!batch.empty()) {
      absl::Status s = store_.AppendEvents(batch);
      absl::MutexLock lock(&mu_);
      if (!s.ok()) {
        failed_ += static_cast<int64_t>(batch.size());
        last_error_ = s;
        spdlog::error("could not record {} events: {}", batch.size(), std::string(s.message()));
      }
      committed_ += static_cast<int64_t>(batch.size());
    }
    if (stop) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
    }
  }
}

}  // namespace aperture
