#include "translog/merkle.h"

#include <sodium.h>

#include <bit>
#include <cstring>

#include "core/hex.h"
#include "fmt/format.h"

namespace aperture::translog {
namespace {

// The largest power of two strictly below n (n >= 2): the RFC's split point k.
int64_t SplitPoint(int64_t n) { return int64_t{1} << (63 - std::countl_zero(static_cast<uint64_t>(n - 1))); }

void Path(int64_t m, int64_t offset, int64_t n, std::vector<LeafRange>& out) {
  if (n <= 1) return;
  const int64_t k = SplitPoint(n);
  if (m < k) {
    Path(m, offset, k, out);
    out.push_back({offset + k, offset + n});
  } else {
    Path(m - k, offset + k, n - k, out);
    out.push_back({offset, offset + k});
  }
}

void SubProof(int64_t m, int64_t offset, int64_t n, bool whole_old_tree, std::vector<LeafRange>& out) {
  if (m == n) {
    if (!whole_old_tree) out.push_back({offset, offset + n});
    return;
  }
  const int64_t k = SplitPoint(n);
  if (m <= k) {
    SubProof(m, offset, k, whole_old_tree, out);
    out.push_back({offset + k, offset + n});
  } else {
    SubProof(m - k, offset + k, n - k, false, out);
    out.push_back({offset, offset + k});
  }
}

// Shifts fn and sn right together until fn's lowest bit is set or fn is 0.
void ShiftToSetBit(int64_t& fn, int64_t& sn) {
  while ((fn & 1) == 0 && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

Hash LeafHash(std::string_view entry) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  const unsigned char prefix = 0x00;
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(entry.data()), entry.size());
  Hash h;
  crypto_hash_sha256_final(&st, h.data());
  return h;
}

Hash NodeHash(const Hash& left, const Hash& right) {
  unsigned char buf[65];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), 32);
  std::memcpy(buf + 33, right.data(), 32);
  Hash h;
  crypto_hash_sha256(h.data(), buf, sizeof buf);
  return h;
}

Hash EmptyRoot() {
  Hash h;
  crypto_hash_sha256(h.data(), nullptr, 0);
  return h;
}

std::string ToBytes(const Hash& h) { return std::string(reinterpret_cast<const char*>(h.data()), h.size()); }

absl::StatusOr<Hash> HashFromBytes(std::string_view bytes, std::string_view what) {
  if (bytes.size() != 32) {
    return absl::InvalidArgumentError(fmt::format("{} must be 32 bytes, got {}", what, bytes.size()));
  }
  Hash h;
  std::memcpy(h.data(), bytes.data(), 32);
  return h;
}

std::string HashHex(const Hash& h) { return HexEncode(ToBytes(h)); }

Hash ReferenceRoot(std::span<const Hash> leaves) {
  if (leaves.empty()) return EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  const size_t k = static_cast<size_t>(SplitPoint(static_cast<int64_t>(leaves.size())));
  return NodeHash(ReferenceRoot(leaves.subspan(0, k)), ReferenceRoot(leaves.subspan(k)));
}

std::vector<LeafRange> InclusionRanges(int64_t index, int64_t size) {
  std::vector<LeafRange> out;
  if (index >= 0 && index < size) Path(index, 0, size, out);
  return out;
}

std::vector<LeafRange> ConsistencyRanges(int64_t old_size, int64_t new_size) {
  std::vector<LeafRange> out;
  if (old_size > 0 && old_size < new_size) SubProof(old_size, 0, new_size, true, out);
  return out;
}

std::vector<LogNodeId> Decompose(LeafRange range) {
  std::vector<LogNodeId> out;
  int64_t pos = range.begin;
  const uint64_t count = static_cast<uint64_t>(range.end - range.begin);
  for (int level = 63; level >= 0; --level) {
    if ((count >> level) & 1) {
      out.push_back({level, pos >> level});
      pos += int64_t{1} << level;
    }
  }
  return out;
}

Hash FoldRight(std::span<const Hash> pieces) {
  if (pieces.empty()) return EmptyRoot();
  Hash h = pieces.back();
  for (size_t i = pieces.size() - 1; i-- > 0;) h = NodeHash(pieces[i], h);
  return h;
}

absl::Status VerifyInclusion(int64_t index, int64_t size, const Hash& leaf_hash, std::span<const Hash> proof,
                             const Hash& root) {
  if (index < 0 || size <= 0 || index >= size) {
    return absl::InvalidArgumentError(fmt::format("leaf index {} is outside a tree of size {}", index, size));
  }
  int64_t fn = index;
  int64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return absl::InvalidArgumentError("inclusion proof is longer than the tree is deep");
    if ((fn & 1) || fn == sn) {
      r = NodeHash(p, r);
      ShiftToSetBit(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return absl::InvalidArgumentError("inclusion proof is shorter than the tree is deep");
  if (r != root) {
    return absl::InvalidArgumentError(fmt::format("inclusion proof of leaf {} leads to root {}, not the expected {}",
                                                  index, HashHex(r), HashHex(root)));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(int64_t old_size, int64_t new_size, std::span<const Hash> proof, const Hash& old_root,
                               const Hash& new_root) {
  if (old_size < 0 || new_size < old_size) {
    return absl::InvalidArgumentError(
        fmt::format("no consistency proof can lead from size {} to size {}", old_size, new_size));
  }
  if (old_size == new_size || old_size == 0) {
    if (!proof.empty()) return absl::InvalidArgumentError("consistency proof should be empty");
    if (old_size == 0 && old_root != EmptyRoot()) {
      return absl::InvalidArgumentError("the root of an empty tree is the SHA-256 of nothing");
    }
    if (old_size == new_size && old_root != new_root) {
      return absl::InvalidArgumentError(
          fmt::format("two different roots for size {}: {} and {}", old_size, HashHex(old_root), HashHex(new_root)));
    }
    return absl::OkStatus();
  }
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(static_cast<uint64_t>(old_size))) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  if (path.empty()) return absl::InvalidArgumentError("consistency proof is empty");

  int64_t fn = old_size - 1;
  int64_t sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return absl::InvalidArgumentError("consistency proof is too long");
    if ((fn & 1) || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      ShiftToSetBit(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return absl::InvalidArgumentError("consistency proof is too short");
  if (fr != old_root) {
    return absl::InvalidArgumentError(
        fmt::format("consistency proof gives old root {}, not the expected {}", HashHex(fr), HashHex(old_root)));
  }
  if (sr != new_root) {
    return absl::InvalidArgumentError(
        fmt::format("consistency proof gives new root {}, not the expected {}", HashHex(sr), HashHex(new_root)));
  }
  return absl::OkStatus();
}

}  // namespace aperture::translog
