#include "translog/memory_log_store.h"

#include <algorithm>

#include "fmt/format.h"

namespace aperture::translog {

absl::StatusOr<std::optional<LogHead>> MemoryLogStore::Head() {
  absl::MutexLock lock(&mu_);
  return head_;
}

absl::Status MemoryLogStore::Append(const LogAppend& a) {
  absl::MutexLock lock(&mu_);
  const int64_t size = head_ ? head_->size : 0;
  if (size != a.expected_size) {
    return absl::AbortedError(fmt::format("the log has {} entries, not {}", size, a.expected_size));
  }
  if (a.entries.size() != a.leaf_hashes.size() ||
      a.head.size != a.expected_size + static_cast<int64_t>(a.entries.size())) {
    return absl::InvalidArgumentError("a log append must give one leaf hash per entry and the matching new size");
  }
  // Checked before anything changes, so a bad append changes nothing.
  std::map<int, int64_t> next;
  for (const auto& [id, hash] : a.nodes) {
    if (id.level < 0 || id.level > 62) return absl::InvalidArgumentError("no such tree level");
    if (hash.size() != 32) return absl::InvalidArgumentError("a tree hash is 32 bytes");
    auto [it, fresh] = next.try_emplace(
        id.level, id.level < static_cast<int>(levels_.size()) ? static_cast<int64_t>(levels_[id.level].size()) : 0);
    if (it->second != id.index) {
      return absl::InvalidArgumentError(fmt::format("node {}/{} is not the next at its level", id.level, id.index));
    }
    ++it->second;
  }
  for (const auto& [id, hash] : a.nodes) {
    if (static_cast<int>(levels_.size()) <= id.level) levels_.resize(id.level + 1);
    levels_[id.level].push_back(hash);
  }
  entries_.insert(entries_.end(), a.entries.begin(), a.entries.end());
  leaf_hashes_.insert(leaf_hashes_.end(), a.leaf_hashes.begin(), a.leaf_hashes.end());
  for (const auto& [principal, idx] : a.subjects) {
    auto& list = subjects_[principal];
    if (list.empty() || list.back() != idx) list.push_back(idx);
  }
  head_ = a.head;
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryLogStore::Nodes(const std::vector<LogNodeId>& ids) {
  absl::MutexLock lock(&mu_);
  std::string out;
  out.reserve(ids.size() * 32);
  for (const LogNodeId& id : ids) {
    if (id.level < 0 || id.level >= static_cast<int>(levels_.size()) || id.index < 0 ||
        id.index >= static_cast<int64_t>(levels_[id.level].size())) {
      return absl::NotFoundError(fmt::format("the log holds no hash for level {} index {}", id.level, id.index));
    }
    out += levels_[id.level][id.index];
  }
  return out;
}

absl::StatusOr<std::string> MemoryLogStore::NodeRange(int level, int64_t begin, int64_t end) {
  absl::MutexLock lock(&mu_);
  if (level < 0 || level >= static_cast<int>(levels_.size()) || begin < 0 || begin > end ||
      end > static_cast<int64_t>(levels_[level].size())) {
    return absl::NotFoundError(fmt::format("the log holds no hashes at level {} from {} to {}", level, begin, end));
  }
  std::string out;
  out.reserve(static_cast<size_t>(end - begin) * 32);
  for (int64_t i = begin; i < end; ++i) out += levels_[level][i];
  return out;
}

absl::StatusOr<std::vector<std::string>> MemoryLogStore::Entries(int64_t begin, int64_t end) {
  absl::MutexLock lock(&mu_);
  if (begin < 0 || begin > end || end > static_cast<int64_t>(entries_.size())) {
    return absl::NotFoundError(fmt::format("the log holds no entries from {} to {}", begin, end));
  }
  return std::vector<std::string>(entries_.begin() + begin, entries_.begin() + end);
}

absl::StatusOr<std::optional<int64_t>> MemoryLogStore::FindLeaf(const std::string& leaf_hash, int64_t size) {
  absl::MutexLock lock(&mu_);
  const int64_t n = std::min<int64_t>(size, static_cast<int64_t>(leaf_hashes_.size()));
  for (int64_t i = 0; i < n; ++i) {
    if (leaf_hashes_[i] == leaf_hash) return std::optional<int64_t>(i);
  }
  return std::optional<int64_t>();
}

absl::StatusOr<std::vector<int64_t>> MemoryLogStore::EntriesAbout(const std::string& principal, int64_t after,
                                                                  int64_t limit) {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  auto it = subjects_.find(principal);
  if (it == subjects_.end()) return out;
  for (int64_t idx : it->second) {
    if (static_cast<int64_t>(out.size()) >= limit) break;
    if (idx > after) out.push_back(idx);
  }
  return out;
}

void MemoryLogStore::TamperEntry(int64_t index, std::string entry) {
  absl::MutexLock lock(&mu_);
  entries_.at(index) = std::move(entry);
}

}  // namespace aperture::translog
