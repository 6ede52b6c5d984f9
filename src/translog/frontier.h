// Frontier: the right edge of a Merkle tree (one full-subtree hash per set bit
// of the size), which is all an appender needs to extend the tree and compute
// its root without reading anything else.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "translog/merkle.h"

namespace aperture::translog {

// Not thread-safe: one owner at a time.
class Frontier {
 public:
  Frontier() = default;

  // The full subtrees, largest first, that make up the frontier of `size`.
  static std::vector<LogNodeId> NodesFor(int64_t size);
  // Resumes a tree of `size` leaves from the hashes of NodesFor(size), in order.
  static absl::StatusOr<Frontier> FromHashes(int64_t size, std::vector<Hash> hashes);

  int64_t size() const { return size_; }
  const std::vector<Hash>& hashes() const { return hashes_; }

  // Appends one leaf, calling completed(LogNodeId, const Hash&) for every
  // full subtree it completes, the leaf itself first.
  template <typename F>
  void Append(const Hash& leaf, F&& completed) {
    Hash h = leaf;
    completed(LogNodeId{0, size_}, h);
    int level = 0;
    while ((size_ >> level) & 1) {
      h = NodeHash(hashes_.back(), h);
      hashes_.pop_back();
      ++level;
      completed(LogNodeId{level, size_ >> level}, h);
    }
    hashes_.push_back(h);
    ++size_;
  }
  void Append(const Hash& leaf) {
    Append(leaf, [](LogNodeId, const Hash&) {});
  }

  Hash Root() const;

 private:
  int64_t size_ = 0;
  std::vector<Hash> hashes_;  // largest subtree first
};

}  // namespace aperture::translog
