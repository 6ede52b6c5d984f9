// What every LogStore checks of an append before writing it: one leaf hash
// per entry, a head whose size follows from the entries, subjects naming
// entries of the append, and nodes that are exactly the full subtrees the
// entries complete (each once, 32-byte hashes). The tree's hashes
// themselves are the sequencer's: a store keeps them, it does not recompute
// them.
#pragma once

#include "absl/status/status.h"
#include "aperture/log_store.h"

namespace aperture::store {

// The highest tree level a log holds (2^62 leaves), and the largest index
// any store accepts (2^48 leaves is far beyond any real log).
inline constexpr int kMaxLogTreeLevel = 62;
inline constexpr int64_t kMaxLogIndex = (int64_t{1} << 48) - 1;

inline bool ValidLogNode(LogNodeId id) {
  return id.level >= 0 && id.level <= kMaxLogTreeLevel && id.index >= 0 && id.index <= kMaxLogIndex;
}

// InvalidArgument naming the first problem.
absl::Status CheckLogAppend(const LogAppend& append);

}  // namespace aperture::store
