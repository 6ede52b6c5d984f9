#include "translog/frontier.h"

#include "fmt/format.h"

namespace aperture::translog {

std::vector<LogNodeId> Frontier::NodesFor(int64_t size) { return Decompose(LeafRange{0, size}); }

absl::StatusOr<Frontier> Frontier::FromHashes(int64_t size, std::vector<Hash> hashes) {
  if (size < 0) return absl::InvalidArgumentError("a tree size cannot be negative");
  const size_t want = NodesFor(size).size();
  if (hashes.size() != want) {
    return absl::InvalidArgumentError(
        fmt::format("a tree of size {} has {} frontier hashes, got {}", size, want, hashes.size()));
  }
  Frontier f;
  f.size_ = size;
  f.hashes_ = std::move(hashes);
  return f;
}

Hash Frontier::Root() const { return FoldRight(hashes_); }

}  // namespace aperture::translog
