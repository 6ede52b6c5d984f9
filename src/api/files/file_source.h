// FileRangeSource: streams bytes [offset, offset + length) of an open file
// to the HTTP server in 1 MiB reads (never the whole file in memory), and
// reports, once, how many bytes went out: when the last chunk was taken,
// when the client goes away, or when the file ends early (truncated while
// being read). A chunk counts as sent once the server asks for the next one,
// which it does only after writing the previous one.
//
// Usage:
//   auto source = std::make_shared<FileRangeSource>(fd, first, length, [](uint64_t sent, bool complete) {...});
//   response.stream = source; response.stream_length = length;
//
// Thread-safety: thread-safe (the server may call Next and Cancel from its threads).
#pragma once

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "http/response.h"

namespace aperture {

class FileRangeSource final : public http::ChunkSource {
 public:
  using OnEnd = std::function<void(uint64_t bytes_sent, bool complete)>;
  // Takes ownership of `fd`.
  FileRangeSource(int fd, uint64_t offset, uint64_t length, OnEnd on_end);
  ~FileRangeSource() override;

  void Next(std::function<void(std::optional<std::string>)> ready) override;
  void Cancel() override;

 private:
  void Finish(bool complete) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int fd_;
  const uint64_t offset_;
  const uint64_t length_;
  absl::Mutex mu_;
  uint64_t handed_ ABSL_GUARDED_BY(mu_) = 0;  // bytes given to the server
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;    // of those, written (the server asked for more)
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  OnEnd on_end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
