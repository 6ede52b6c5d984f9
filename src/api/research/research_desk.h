// ResearchDesk: where finished research jobs become answers, off the
// scheduler's thread (whose every millisecond delays the streams): on one
// background thread it formats results (JSON or safetensors), records each
// request in the transparency log and waits for the entry to be durable, so
// the answer can carry its receipt (the entry's log index and leaf hash).
// It also keeps the SHA-256 digest of each model file, computed once.
//
// Usage:
//   desk.Post([&] { ... format, RecordWithReceipt(event), push the body ... });
//
// Thread-safety: thread-safe. Tasks run one at a time, in order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "aperture/recorder.h"
#include "core/json.h"
#include "core/std_mutex.h"
#include "translog/log_reader.h"

namespace aperture {

class ResearchDesk {
 public:
  ResearchDesk(Recorder& recorder, translog::LogReader& log);
  // Runs what is queued, then stops.
  ~ResearchDesk();
  ResearchDesk(const ResearchDesk&) = delete;
  ResearchDesk& operator=(const ResearchDesk&) = delete;

  void Post(std::function<void()> task);
  // Runs every queued task and stops the thread; later tasks run on the
  // caller's thread.
  void Stop();

  // Hex SHA-256 of the file at `path`, computed on first use (and again if
  // its size or modification time changed).
  absl::StatusOr<std::string> FileSha256(const std::string& path);

  // Records `event` durably and returns its receipt:
  // {"log_index": i, "leaf_hash": base64 of SHA-256(0x00 || entry)}.
  absl::StatusOr<Json> RecordWithReceipt(const LogEvent& event);

 private:
  void Run();

  Recorder& recorder_;
  translog::LogReader& log_;
  StdMutex mu_;  // the scheduler's threads post here (core/std_mutex.h)
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  struct Digest {
    int64_t size = 0, mtime = 0;
    std::string sha256;
  };
  std::map<std::string, Digest> digests_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace aperture
