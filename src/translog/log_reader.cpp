#include "translog/log_reader.h"

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::translog {

absl::StatusOr<LogHead> LogReader::Head() {
  ASSIGN_OR_RETURN(std::optional<LogHead> head, store_.Head());
  if (!head) return absl::FailedPreconditionError("the log has not published a checkpoint yet");
  int64_t known = known_size_.load();
  while (head->size > known && !known_size_.compare_exchange_weak(known, head->size)) {
  }
  return *head;
}

absl::Status LogReader::CheckSize(int64_t size) {
  if (size >= 0 && size <= known_size_.load()) return absl::OkStatus();
  ASSIGN_OR_RETURN(LogHead head, Head());
  if (size < 0 || size > head.size) {
    return absl::InvalidArgumentError(
        fmt::format("tree size {} is not between 0 and the log's size {}", size, head.size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Hash>> LogReader::NodeHashes(const std::vector<LogNodeId>& ids) {
  auto key = [](LogNodeId id) { return (int64_t{id.level} << 48) | id.index; };
  std::vector<Hash> out(ids.size());
  std::vector<LogNodeId> missing;
  std::vector<size_t> missing_at;
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = ids[i].level >= kCachedLevel ? cache_.find(key(ids[i])) : cache_.end();
      if (it != cache_.end()) {
        out[i] = it->second;
      } else {
        missing.push_back(ids[i]);
        missing_at.push_back(i);
      }
    }
  }
  if (missing.empty()) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> stored, store_.Nodes(missing));
  bool cache_any = false;
  for (size_t j = 0; j < missing.size(); ++j) {
    ASSIGN_OR_RETURN(out[missing_at[j]], HashFromBytes(stored[j], "a stored tree hash"));
    cache_any |= missing[j].level >= kCachedLevel;
  }
  if (cache_any) {
    absl::MutexLock lock(&cache_mu_);
    for (size_t j = 0; j < missing.size() && cache_.size() < kMaxCached; ++j) {
      if (missing[j].level >= kCachedLevel) cache_.emplace(key(missing[j]), out[missing_at[j]]);
    }
  }
  return out;
}

absl::StatusOr<int64_t> LogReader::Warm() {
  ASSIGN_OR_RETURN(LogHead head, Head());
  int64_t loaded = 0;
  for (int level = 62; level >= kCachedLevel; --level) {
    const int64_t count = head.size >> level;
    if (count == 0) continue;
    {
      absl::ReaderMutexLock lock(&cache_mu_);
      if (cache_.size() + static_cast<size_t>(count) > kMaxCached) break;
    }
    ASSIGN_OR_RETURN(std::vector<std::string> hashes, store_.NodeRange(level, 0, count));
    absl::MutexLock lock(&cache_mu_);
    for (int64_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(Hash h, HashFromBytes(hashes[i], "a stored tree hash"));
      cache_.emplace((int64_t{level} << 48) | i, h);
    }
    loaded += count;
  }
  return loaded;
}

absl::StatusOr<std::vector<Hash>> LogReader::RangeHashes(const std::vector<LeafRange>& ranges) {
  std::vector<LogNodeId> ids;
  std::vector<size_t> counts;
  counts.reserve(ranges.size());
  for (const LeafRange& r : ranges) {
    std::vector<LogNodeId> pieces = Decompose(r);
    counts.push_back(pieces.size());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  }
  ASSIGN_OR_RETURN(std::vector<Hash> hashes, NodeHashes(ids));
  std::vector<Hash> out;
  out.reserve(ranges.size());
  size_t at = 0;
  for (size_t count : counts) {
    out.push_back(FoldRight(std::span<const Hash>(hashes).subspan(at, count)));
    at += count;
  }
  return out;
}

absl::StatusOr<std::vector<Hash>> LogReader::InclusionProof(int64_t index, int64_t size) {
  RETURN_IF_ERROR(CheckSize(size));
  if (index < 0 || index >= size) {
    return absl::InvalidArgumentError(fmt::format("leaf index {} is not below the tree size {}", index, size));
  }
  return RangeHashes(InclusionRanges(index, size));
}

absl::StatusOr<std::vector<Hash>> LogReader::ConsistencyProof(int64_t old_size, int64_t new_size) {
  RETURN_IF_ERROR(CheckSize(new_size));
  if (old_size < 0 || old_size > new_size) {
    return absl::InvalidArgumentError(
        fmt::format("old size {} is not between 0 and the new size {}", old_size, new_size));
  }
  return RangeHashes(ConsistencyRanges(old_size, new_size));
}

absl::StatusOr<Hash> LogReader::RootAt(int64_t size) {
  RETURN_IF_ERROR(CheckSize(size));
  if (size == 0) return EmptyRoot();
  ASSIGN_OR_RETURN(std::vector<Hash> root, RangeHashes({LeafRange{0, size}}));
  return root[0];
}

absl::StatusOr<Hash> LogReader::LeafHashAt(int64_t index) {
  ASSIGN_OR_RETURN(std::vector<Hash> h, NodeHashes({LogNodeId{0, index}}));
  return h[0];
}

absl::StatusOr<std::vector<std::string>> LogReader::Entries(int64_t begin, int64_t end) {
  return store_.Entries(begin, end);
}

absl::StatusOr<std::optional<int64_t>> LogReader::FindLeaf(const Hash& leaf_hash, int64_t size) {
  RETURN_IF_ERROR(CheckSize(size));
  return store_.FindLeaf(ToBytes(leaf_hash), size);
}

absl::StatusOr<std::string> LogReader::Tile(const TileRef& tile) {
  ASSIGN_OR_RETURN(LogHead head, Head());
  const int tree_level = tile.entries ? 0 : tile.level * kTileHeight;
  if (tree_level > 62) return absl::NotFoundError("no such tile");
  // The tile's hashes cover leaves up to (index * 256 + width) << tree_level.
  const int64_t first = tile.index * kTileWidth;
  const int64_t nodes_available = head.size >> tree_level;
  if (tile.index > (int64_t{1} << 40) || first + tile.width > nodes_available) {
    return absl::NotFoundError(fmt::format("{} is beyond the log's current size {}", TilePath(tile), head.size));
  }
  std::string out;
  if (tile.entries) {
    ASSIGN_OR_RETURN(std::vector<std::string> entries, store_.Entries(first, first + tile.width));
    for (const std::string& e : entries) {
      out.push_back(static_cast<char>(e.size() >> 8));
      out.push_back(static_cast<char>(e.size() & 0xff));
      out += e;
    }
    return out;
  }
  ASSIGN_OR_RETURN(std::vector<std::string> hashes, store_.NodeRange(tree_level, first, first + tile.width));
  out.reserve(hashes.size() * 32);
  for (const std::string& h : hashes) out += h;
  return out;
}

}  // namespace aperture::translog
