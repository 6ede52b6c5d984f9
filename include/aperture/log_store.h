// LogStore: durable storage for the transparency log: the entries, the hashes
// of full subtrees (so any proof is O(log n) reads) and the signed head. It
// holds no Merkle logic: src/translog decides what to write, the store keeps
// it atomically. Kept apart from Store so a backend can implement either.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aperture {

// The full subtree of 2^level leaves that starts at leaf index << level.
struct LogNodeId {
  int level = 0;
  int64_t index = 0;
  bool operator==(const LogNodeId&) const = default;
};

// The latest tree: its size and root, the origin (log name) it is published
// under, and the signed checkpoint (a C2SP signed note) for them.
struct LogHead {
  int64_t size = 0;
  std::string root;  // 32 raw bytes
  std::string origin;
  std::string checkpoint;  // the signed note, as served
  int64_t updated_at = 0;  // Unix seconds
};

// One atomic append: entries continuing the tree at `expected_size`, the full
// subtrees they complete, and the new head.
struct LogAppend {
  int64_t expected_size = 0;
  std::vector<std::string> entries;      // leaf expected_size + i
  std::vector<std::string> leaf_hashes;  // one per entry, for look-ups by hash
  // Exactly the full subtrees the entries complete (32-byte hashes), each
  // the next one at its level.
  std::vector<std::pair<LogNodeId, std::string>> nodes;
  std::vector<std::pair<std::string, int64_t>> subjects;  // (principal id, leaf index)
  LogHead head;                                           // head.size == expected_size + entries.size()
};

// Implementations are thread-safe; several processes may append to one store.
class LogStore {
 public:
  virtual ~LogStore() = default;

  // The current head; nullopt before the first append.
  virtual absl::StatusOr<std::optional<LogHead>> Head() = 0;
  // Writes everything in `append` in one durable transaction. Aborted, with
  // nothing changed, when the stored tree size is not `expected_size`
  // (another writer appended first).
  virtual absl::Status Append(const LogAppend& append) = 0;

  // The hashes of the given full subtrees, concatenated in order (32 bytes
  // each); NotFound names a missing one.
  virtual absl::StatusOr<std::string> Nodes(const std::vector<LogNodeId>& ids) = 0;
  // The hashes of the subtrees at `level` with indices [begin, end),
  // concatenated (a C2SP hash tile when level is a multiple of 8 and the
  // range one tile's).
  virtual absl::StatusOr<std::string> NodeRange(int level, int64_t begin, int64_t end) = 0;
  // Entries [begin, end), as stored.
  virtual absl::StatusOr<std::vector<std::string>> Entries(int64_t begin, int64_t end) = 0;
  // The first leaf below `size` whose leaf hash is `leaf_hash`.
  virtual absl::StatusOr<std::optional<int64_t>> FindLeaf(const std::string& leaf_hash, int64_t size) = 0;
  // Indices of the entries about `principal` that are > `after`, ascending, at most `limit`.
  virtual absl::StatusOr<std::vector<int64_t>> EntriesAbout(const std::string& principal, int64_t after,
                                                            int64_t limit) = 0;
};

}  // namespace aperture
