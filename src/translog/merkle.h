// RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256: leaf and node
// hashes, which subtree hashes make up an inclusion or consistency proof, and
// the verification of both proofs (RFC 9162 sections 2.1.3.2 and 2.1.4.2).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aperture/log_store.h"

namespace aperture::translog {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(std::string_view entry);               // SHA-256(0x00 || entry)
Hash NodeHash(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)
Hash EmptyRoot();                                    // SHA-256 of nothing

std::string ToBytes(const Hash& h);  // 32 raw bytes
// Exactly 32 bytes, or InvalidArgument naming `what`.
absl::StatusOr<Hash> HashFromBytes(std::string_view bytes, std::string_view what = "hash");
std::string HashHex(const Hash& h);

// The root of a tree over `leaves` (leaf hashes), computed from scratch by the
// RFC's recursive definition. The reference the faster code is checked against.
Hash ReferenceRoot(std::span<const Hash> leaves);

// A run of leaves [begin, end). Every proof element is the hash of one.
struct LeafRange {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const LeafRange&) const = default;
};

// The ranges whose hashes form the inclusion proof of leaf `index` in a tree
// of `size` leaves, leaf to root (RFC 9162 PATH). Requires index < size.
std::vector<LeafRange> InclusionRanges(int64_t index, int64_t size);
// The ranges whose hashes form the consistency proof from `old_size` to
// `new_size` (RFC 9162 PROOF). Empty when old_size is 0 or equal to new_size.
std::vector<LeafRange> ConsistencyRanges(int64_t old_size, int64_t new_size);

// The full subtrees, largest first, whose hashes folded right to left give
// the hash of `range`. Valid for every range a proof or a root names (their
// start is aligned to a power of two at least as large as the range).
std::vector<LogNodeId> Decompose(LeafRange range);
// H(p0, H(p1, ... H(pn-2, pn-1))): the hash of a range from its Decompose pieces.
Hash FoldRight(std::span<const Hash> pieces);

// OK when `proof` shows that `leaf_hash` is leaf `index` of the tree of
// `size` leaves whose root is `root`; otherwise an error saying what failed.
absl::Status VerifyInclusion(int64_t index, int64_t size, const Hash& leaf_hash, std::span<const Hash> proof,
                             const Hash& root);
// OK when `proof` shows that the tree (old_size, old_root) is a prefix of the
// tree (new_size, new_root).
absl::Status VerifyConsistency(int64_t old_size, int64_t new_size, std::span<const Hash> proof, const Hash& old_root,
                               const Hash& new_root);

}  // namespace aperture::translog
