#include "api/files/file_source.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace aperture {
namespace {

constexpr uint64_t kChunk = uint64_t{1} << 20;

}  // namespace

FileRangeSource::FileRangeSource(int fd, uint64_t offset, uint64_t length, OnEnd on_end)
    : fd_(fd), offset_(offset), length_(length), on_end_(std::move(on_end)) {}

FileRangeSource::~FileRangeSource() {
  {
    absl::MutexLock lock(&mu_);
    Finish(false);  // the server went away without a word: what was written is what was sent
  }
  ::close(fd_);
}

void FileRangeSource::Finish(bool complete) {
  if (finished_) return;
  finished_ = true;
  if (on_end_) on_end_(sent_, complete);
  on_end_ = nullptr;
}

void FileRangeSource::Next(std::function<void(std::optional<std::string>)> ready) {
  std::optional<std::string> chunk;
  {
    absl::MutexLock lock(&mu_);
    sent_ = handed_;  // asked again: the previous chunk is written
    if (!finished_ && handed_ < length_) {
      std::string block(static_cast<size_t>(std::min(kChunk, length_ - handed_)), '\0');
      size_t got = 0;
      while (got < block.size()) {
        ssize_t n = ::pread(fd_, block.data() + got, block.size() - got, static_cast<off_t>(offset_ + handed_ + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // an error, or the file became shorter
        got += static_cast<size_t>(n);
      }
      if (got == block.size()) {
        handed_ += got;
        chunk = std::move(block);
      } else {
        Finish(false);  // the server closes the connection on the short body
      }
    } else {
      Finish(handed_ == length_);
    }
  }
  ready(std::move(chunk));
}

void FileRangeSource::Cancel() {
  absl::MutexLock lock(&mu_);
  Finish(false);
}

}  // namespace aperture
