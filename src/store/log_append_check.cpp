#include "store/log_append_check.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "fmt/format.h"

namespace aperture::store {

absl::Status CheckLogAppend(const LogAppend& a) {
  const int64_t first = a.expected_size;
  const int64_t end = first + static_cast<int64_t>(a.entries.size());
  if (first < 0 || a.entries.size() != a.leaf_hashes.size() || a.head.size != end || end > kMaxLogIndex) {
    return absl::InvalidArgumentError("a log append must give one leaf hash per entry and the matching new size");
  }
  for (const auto& [principal, index] : a.subjects) {
    if (index < first || index >= end) {
      return absl::InvalidArgumentError(
          fmt::format("a subject of the append names entry {}, which is not one of its entries", index));
    }
  }
  // The full subtrees that leaves [first, end) complete: at each level,
  // nodes first >> level .. (end >> level) - 1.
  std::vector<LogNodeId> given;
  given.reserve(a.nodes.size());
  for (const auto& [id, hash] : a.nodes) {
    if (!ValidLogNode(id)) {
      return absl::InvalidArgumentError(fmt::format("no tree node at level {} index {}", id.level, id.index));
    }
    if (hash.size() != 32) {
      return absl::InvalidArgumentError(fmt::format("the hash of node {}/{} is not 32 bytes", id.level, id.index));
    }
    given.push_back(id);
  }
  std::sort(given.begin(), given.end(),
            [](LogNodeId x, LogNodeId y) { return std::tie(x.level, x.index) < std::tie(y.level, y.index); });
  size_t at = 0;
  for (int level = 0; level <= kMaxLogTreeLevel; ++level) {
    for (int64_t i = first >> level; i < (end >> level); ++i, ++at) {
      if (at >= given.size() || given[at] != LogNodeId{level, i}) {
        return absl::InvalidArgumentError(
            fmt::format("the append lacks node {}/{} (or gives another in its place): an append gives exactly the full "
                        "subtrees its entries complete",
                        level, i));
      }
    }
  }
  if (at != given.size()) {
    return absl::InvalidArgumentError(
        fmt::format("the append gives node {}/{}, which its entries do not complete (or gives a node twice)",
                    given[at].level, given[at].index));
  }
  return absl::OkStatus();
}

}  // namespace aperture::store
