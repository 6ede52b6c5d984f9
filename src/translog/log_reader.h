// LogReader: what the log publishes, read from a LogStore: the signed head,
// inclusion and consistency proofs at any published size, entries, C2SP
// tiles and entry bundles, and the entries about one principal. Every proof
// costs O(log n) node reads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aperture/log_store.h"
#include "translog/merkle.h"
#include "translog/tile_path.h"

namespace aperture::translog {

// Thread-safe (the store is).
class LogReader {
 public:
  explicit LogReader(LogStore& store) : store_(store) {}

  // The latest head; FailedPrecondition before the log's first checkpoint.
  absl::StatusOr<LogHead> Head();
  // Proofs for trees up to the current size. InvalidArgument for sizes or
  // indices the tree does not have.
  absl::StatusOr<std::vector<Hash>> InclusionProof(int64_t index, int64_t size);
  absl::StatusOr<std::vector<Hash>> ConsistencyProof(int64_t old_size, int64_t new_size);
  absl::StatusOr<Hash> RootAt(int64_t size);
  absl::StatusOr<Hash> LeafHashAt(int64_t index);
  absl::StatusOr<std::vector<std::string>> Entries(int64_t begin, int64_t end);
  absl::StatusOr<std::optional<int64_t>> FindLeaf(const Hash& leaf_hash, int64_t size);
  // A tile or entry bundle as served (concatenated hashes; uint16-length-
  // prefixed entries). NotFound when the tree is not yet large enough for it.
  absl::StatusOr<std::string> Tile(const TileRef& tile);
  // Reads the hashes of the large subtrees (2^kCachedLevel leaves and up,
  // top levels first, within the cache's bound) into memory, so proofs read
  // only the few small subtrees near their leaves from the store. Returns
  // how many hashes were loaded. The server calls it at start; later calls
  // load only what the log has grown by (proofs call it themselves when
  // enough new subtrees have been read).
  absl::StatusOr<int64_t> Warm();
  absl::StatusOr<std::vector<int64_t>> EntriesAbout(const std::string& principal, int64_t after, int64_t limit) {
    return store_.EntriesAbout(principal, after, limit);
  }

 private:
  // The hashes of `ranges`, each folded from its full subtrees, read in one go.
  absl::StatusOr<std::vector<Hash>> RangeHashes(const std::vector<LeafRange>& ranges);
  absl::Status CheckSize(int64_t size);

  // The hashes of `ids`, from the cache where it has them.
  absl::StatusOr<std::vector<Hash>> NodeHashes(const std::vector<LogNodeId>& ids);

  static constexpr int kLevels = 63;
  static int64_t RecentKey(LogNodeId id) { return (int64_t{id.level} << 48) | id.index; }
  // The hash of `id` if cached.
  bool Cached(LogNodeId id, Hash& out) const ABSL_SHARED_LOCKS_REQUIRED(cache_mu_);

  LogStore& store_;
  // Subtrees of 2^kCachedLevel leaves or more, kept once read: a node never
  // changes, and these (n / 32 of them) are on every proof's path, so a
  // proof reads from the store only the nodes below them: in the SQLite
  // store, one row (one page) around each end of its path, as it keeps 6
  // tree levels per row. Warm() loads each level's hashes from index 0 into
  // dense_ (32 bytes a hash, up to kMaxCached of them, top levels first);
  // nodes read later go to recent_ until it holds kMaxRecent, when Warm()
  // runs again to extend the dense levels.
  static constexpr int kCachedLevel = 6;
  static constexpr size_t kMaxCached = size_t{1} << 22;
  static constexpr size_t kMaxRecent = size_t{1} << 16;
  mutable absl::Mutex cache_mu_;
  std::array<std::vector<Hash>, kLevels> dense_ ABSL_GUARDED_BY(cache_mu_);
  size_t dense_count_ ABSL_GUARDED_BY(cache_mu_) = 0;
  bool dense_full_ ABSL_GUARDED_BY(cache_mu_) = false;
  absl::flat_hash_map<int64_t, Hash> recent_ ABSL_GUARDED_BY(cache_mu_);
  // The hashes of ranges that are not one full subtree, [begin, end), each
  // folded from up to 48 pieces. They lie on the right edge of a tree size,
  // so proofs against the same (usually the latest) size share them.
  static constexpr size_t kMaxEdges = size_t{1} << 14;
  absl::flat_hash_map<std::pair<int64_t, int64_t>, Hash> edges_ ABSL_GUARDED_BY(cache_mu_);
  // The largest tree size seen published. The log only grows, so a size up
  // to this one needs no look-up of the head.
  std::atomic<int64_t> known_size_{0};
};

}  // namespace aperture::translog
