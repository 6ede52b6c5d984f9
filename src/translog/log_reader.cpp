#include "translog/log_reader.h"

#include <bit>
#include <cstring>

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

bool LogReader::Cached(LogNodeId id, Hash& out) const {
  if (id.level < kCachedLevel || id.level >= kLevels || id.index < 0) return false;
  const std::vector<Hash>& level = dense_[id.level];
  if (static_cast<uint64_t>(id.index) < level.size()) {
    out = level[id.index];
    return true;
  }
  auto it = recent_.find(RecentKey(id));
  if (it == recent_.end()) return false;
  out = it->second;
  return true;
}

absl::StatusOr<std::vector<Hash>> LogReader::NodeHashes(const std::vector<LogNodeId>& ids) {
  std::vector<Hash> out(ids.size());
  std::vector<LogNodeId> missing;
  std::vector<size_t> missing_at;
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!Cached(ids[i], out[i])) {
        missing.push_back(ids[i]);
        missing_at.push_back(i);
      }
    }
  }
  if (missing.empty()) return out;
  ASSIGN_OR_RETURN(std::string stored, store_.Nodes(missing));
  if (stored.size() != missing.size() * 32) return absl::DataLossError("the log store returned malformed tree hashes");
  bool cache_any = false;
  for (size_t j = 0; j < missing.size(); ++j) {
    std::memcpy(out[missing_at[j]].data(), stored.data() + j * 32, 32);
    cache_any |= missing[j].level >= kCachedLevel && missing[j].level < kLevels;
  }
  if (!cache_any) return out;
  bool absorb = false;
  {
    absl::MutexLock lock(&cache_mu_);
    for (size_t j = 0; j < missing.size(); ++j) {
      if (missing[j].level >= kCachedLevel && missing[j].level < kLevels) {
        recent_.emplace(RecentKey(missing[j]), out[missing_at[j]]);
      }
    }
    if (recent_.size() >= kMaxRecent) {
      // Move what the log has grown by into the dense levels, unless they are
      // already as large as allowed.
      absorb = !dense_full_;
      if (dense_full_) recent_.clear();
    }
  }
  // This proof is answered either way; a failed Warm is tried again later.
  if (absorb) (void)Warm();
  return out;
}

absl::StatusOr<int64_t> LogReader::Warm() {
  ASSIGN_OR_RETURN(LogHead head, Head());
  int64_t loaded = 0;
  // Top levels first: they are on every proof's path.
  for (int level = kLevels - 1; level >= kCachedLevel; --level) {
    const int64_t count = head.size >> level;
    int64_t have = 0;
    {
      absl::MutexLock lock(&cache_mu_);
      have = static_cast<int64_t>(dense_[level].size());
      if (dense_count_ + static_cast<size_t>(std::max<int64_t>(0, count - have)) > kMaxCached) {
        dense_full_ = true;
        break;
      }
    }
    if (count <= have) continue;
    ASSIGN_OR_RETURN(std::string hashes, store_.NodeRange(level, have, count));
    if (hashes.size() != static_cast<size_t>(count - have) * 32) {
      return absl::DataLossError("the log store returned malformed tree hashes");
    }
    absl::MutexLock lock(&cache_mu_);
    std::vector<Hash>& dense = dense_[level];
    if (static_cast<int64_t>(dense.size()) != have) continue;  // another Warm went first
    dense.resize(count);
    std::memcpy(dense[have].data(), hashes.data(), hashes.size());
    dense_count_ += static_cast<size_t>(count - have);
    loaded += count - have;
  }
  {
    absl::MutexLock lock(&cache_mu_);
    recent_.clear();  // now in the dense levels, or to be read again when needed
  }
  return loaded;
}

absl::StatusOr<std::vector<Hash>> LogReader::RangeHashes(const std::vector<LeafRange>& ranges) {
  std::vector<Hash> out(ranges.size());
  // The full subtrees to look up, and where each range's pieces start among
  // them and how many there are (none when the range's hash was cached).
  std::vector<LogNodeId> ids;
  ids.reserve(ranges.size() + 64);
  std::vector<std::pair<uint32_t, uint32_t>> pieces(ranges.size());
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    for (size_t i = 0; i < ranges.size(); ++i) {
      const LeafRange r = ranges[i];
      const uint64_t count = static_cast<uint64_t>(r.end - r.begin);
      if (std::popcount(count) > 1) {
        auto it = edges_.find(std::pair(r.begin, r.end));
        if (it != edges_.end()) {
          out[i] = it->second;
          continue;
        }
      }
      pieces[i].first = static_cast<uint32_t>(ids.size());
      int64_t pos = r.begin;
      for (int level = 63; level >= 0; --level) {  // as Decompose, without a vector per range
        if ((count >> level) & 1) {
          ids.push_back({level, pos >> level});
          pos += int64_t{1} << level;
        }
      }
      pieces[i].second = static_cast<uint32_t>(ids.size()) - pieces[i].first;
    }
  }
  ASSIGN_OR_RETURN(std::vector<Hash> hashes, NodeHashes(ids));
  std::vector<std::pair<std::pair<int64_t, int64_t>, Hash>> folded;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const auto [first, count] = pieces[i];
    if (count == 1) {
      out[i] = hashes[first];
    } else if (count > 1) {
      out[i] = FoldRight(std::span<const Hash>(hashes).subspan(first, count));
      folded.push_back({{ranges[i].begin, ranges[i].end}, out[i]});
    }
  }
  if (!folded.empty()) {
    absl::MutexLock lock(&cache_mu_);
    if (edges_.size() + folded.size() > kMaxEdges) edges_.clear();
    for (const auto& [range, hash] : folded) edges_.emplace(range, hash);
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
  return store_.NodeRange(tree_level, first, first + tile.width);
}

}  // namespace aperture::translog
