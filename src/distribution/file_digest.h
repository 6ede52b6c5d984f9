// SHA-256 of files on disk, read in 1 MiB blocks (OpenSSL's SHA-256 uses the
// CPU's SHA extensions where present: a multi-gigabyte model hashes at disk
// speed), and the identity of a file's current contents (device, inode, size,
// modification and change times), so a digest can be kept until the file changes.
//
// Usage:
//   ASSIGN_OR_RETURN(FileIdentity id, IdentifyFile(fd));
//   ASSIGN_OR_RETURN(std::string hex, Sha256OfFile(fd));
//
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture::distribution {

// What says a file is unchanged: any write or replacement changes one of these.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
  // A compact text form for storing beside a cached digest.
  std::string Key() const;
};

// Of an open file descriptor (fstat). Refuses what is not a regular file.
absl::StatusOr<FileIdentity> IdentifyFile(int fd, std::string_view name_for_errors);

// The SHA-256 (lower-case hex) of everything in `fd` from offset 0 (pread;
// the descriptor's offset is unchanged).
absl::StatusOr<std::string> Sha256OfFile(int fd, std::string_view name_for_errors);

// The SHA-256 (lower-case hex) of a file by path.
absl::StatusOr<std::string> Sha256OfPath(const std::string& path);

}  // namespace aperture::distribution
