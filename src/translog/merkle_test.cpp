#include "translog/merkle.h"

#include <gtest/gtest.h>

#include <random>

#include "core/hex.h"
#include "translog/frontier.h"
#include "translog/log_reader.h"
#include "translog/memory_log_store.h"

namespace aperture::translog {
namespace {

Hash H(std::string_view hex) { return *HashFromBytes(*HexDecode(hex)); }

std::vector<Hash> Hs(std::initializer_list<std::string_view> hexes) {
  std::vector<Hash> out;
  for (auto h : hexes) out.push_back(H(h));
  return out;
}

// The RFC 6962 test leaves used by Certificate Transparency's reference tests.
std::vector<std::string> RfcLeaves() {
  return {std::string(),
          std::string("\x00", 1),
          std::string("\x10", 1),
          std::string("\x20\x21", 2),
          std::string("\x30\x31", 2),
          std::string("\x40\x41\x42\x43", 4),
          std::string("\x50\x51\x52\x53\x54\x55\x56\x57", 8),
          std::string("\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16)};
}

const char* const kRfcRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

// Appends `entries` as the sequencer does: leaf hashes, completed subtrees, head.
void AppendAll(MemoryLogStore& store, Frontier& tree, const std::vector<std::string>& entries) {
  LogAppend a;
  a.expected_size = tree.size();
  for (const std::string& e : entries) {
    const Hash leaf = LeafHash(e);
    tree.Append(leaf, [&](LogNodeId id, const Hash& h) { a.nodes.emplace_back(id, ToBytes(h)); });
    a.entries.push_back(e);
    a.leaf_hashes.push_back(ToBytes(leaf));
  }
  a.head.size = tree.size();
  a.head.root = ToBytes(tree.Root());
  a.head.origin = "test";
  ASSERT_TRUE(store.Append(a).ok());
}

TEST(MerkleTest, EmptyTreeLeafAndNodeHashesMatchRfc6962) {
  EXPECT_EQ(HashHex(EmptyRoot()), kRfcRoots[0]);
  EXPECT_EQ(HashHex(LeafHash("")), kRfcRoots[1]);  // SHA-256(0x00)
  EXPECT_EQ(HashHex(NodeHash(LeafHash(""), LeafHash(std::string("\x00", 1)))), kRfcRoots[2]);
  EXPECT_EQ(HashHex(ReferenceRoot({})), kRfcRoots[0]);
}

TEST(MerkleTest, RootsOfOneToEightLeavesMatchTheReference) {
  const auto leaves = RfcLeaves();
  MemoryLogStore store;
  Frontier tree;
  LogReader reader(store);
  std::vector<Hash> hashes;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    AppendAll(store, tree, {leaves[n - 1]});
    hashes.push_back(LeafHash(leaves[n - 1]));
    EXPECT_EQ(HashHex(ReferenceRoot(hashes)), kRfcRoots[n]) << n;
    EXPECT_EQ(HashHex(tree.Root()), kRfcRoots[n]) << n;
  }
  // Every earlier root is recomputed from the stored subtree hashes.
  for (int64_t n = 0; n <= 8; ++n) EXPECT_EQ(HashHex(*reader.RootAt(n)), kRfcRoots[n]) << n;
}

TEST(MerkleTest, StoredSubtreeHashesAreTheReferenceNodes) {
  MemoryLogStore store;
  Frontier tree;
  AppendAll(store, tree, RfcLeaves());
  const std::vector<std::vector<std::string_view>> levels = {
      {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
       "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
       "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
       "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
       "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
       "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
       "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
       "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
      {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
       "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
       "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
       "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
      {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
       "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
      {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"}};
  for (size_t level = 0; level < levels.size(); ++level) {
    auto stored = store.NodeRange(static_cast<int>(level), 0, static_cast<int64_t>(levels[level].size()));
    ASSERT_TRUE(stored.ok()) << stored.status();
    for (size_t i = 0; i < levels[level].size(); ++i) {
      EXPECT_EQ(HexEncode(stored->substr(i * 32, 32)), levels[level][i]) << level << "/" << i;
    }
  }
  EXPECT_FALSE(store.NodeRange(3, 0, 2).ok());  // no subtree of 16 leaves yet
}

TEST(MerkleTest, InclusionProofsMatchTheReference) {
  MemoryLogStore store;
  Frontier tree;
  AppendAll(store, tree, RfcLeaves());
  LogReader reader(store);
  struct Case {
    int64_t index, size;
    std::vector<Hash> proof;
  };
  const std::vector<Case> cases = {
      {0, 1, {}},
      {0, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {5, 8,
       Hs({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 3, Hs({"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"})},
      {1, 5,
       Hs({"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
  };
  const auto leaves = RfcLeaves();
  for (const Case& c : cases) {
    auto proof = reader.InclusionProof(c.index, c.size);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(*proof, c.proof) << c.index << "," << c.size;
    EXPECT_TRUE(VerifyInclusion(c.index, c.size, LeafHash(leaves[c.index]), c.proof, H(kRfcRoots[c.size])).ok());
  }
  EXPECT_FALSE(reader.InclusionProof(8, 8).ok());
  EXPECT_FALSE(reader.InclusionProof(0, 9).ok());
}

TEST(MerkleTest, ConsistencyProofsMatchTheReference) {
  MemoryLogStore store;
  Frontier tree;
  AppendAll(store, tree, RfcLeaves());
  LogReader reader(store);
  struct Case {
    int64_t old_size, new_size;
    std::vector<Hash> proof;
  };
  const std::vector<Case> cases = {
      {1, 1, {}},
      {1, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {6, 8,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 5,
       Hs({"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
      {6, 7,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
  };
  for (const Case& c : cases) {
    auto proof = reader.ConsistencyProof(c.old_size, c.new_size);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(*proof, c.proof) << c.old_size << "," << c.new_size;
    EXPECT_TRUE(
        VerifyConsistency(c.old_size, c.new_size, c.proof, H(kRfcRoots[c.old_size]), H(kRfcRoots[c.new_size])).ok());
  }
  // Every pair of sizes up to 8, both ways round.
  for (int64_t m = 1; m <= 8; ++m) {
    for (int64_t n = m; n <= 8; ++n) {
      auto proof = reader.ConsistencyProof(m, n);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyConsistency(m, n, *proof, H(kRfcRoots[m]), H(kRfcRoots[n])).ok()) << m << "," << n;
      if (m < n) {
        EXPECT_FALSE(VerifyConsistency(m, n, *proof, H(kRfcRoots[n]), H(kRfcRoots[m])).ok());
      }
    }
  }
  EXPECT_FALSE(reader.ConsistencyProof(5, 4).ok());
  EXPECT_FALSE(reader.ConsistencyProof(1, 9).ok());
}

TEST(MerkleTest, EmptyAndEqualTreesNeedEmptyProofs) {
  EXPECT_TRUE(VerifyConsistency(0, 5, {}, EmptyRoot(), H(kRfcRoots[5])).ok());
  EXPECT_FALSE(VerifyConsistency(0, 5, {}, H(kRfcRoots[1]), H(kRfcRoots[5])).ok());  // not the empty root
  EXPECT_FALSE(VerifyConsistency(0, 5, Hs({kRfcRoots[1]}), EmptyRoot(), H(kRfcRoots[5])).ok());
  EXPECT_TRUE(VerifyConsistency(3, 3, {}, H(kRfcRoots[3]), H(kRfcRoots[3])).ok());
  EXPECT_FALSE(VerifyConsistency(3, 3, {}, H(kRfcRoots[3]), H(kRfcRoots[4])).ok());
  EXPECT_FALSE(VerifyConsistency(4, 3, {}, H(kRfcRoots[4]), H(kRfcRoots[3])).ok());
  EXPECT_FALSE(VerifyInclusion(0, 0, LeafHash(""), {}, EmptyRoot()).ok());
}

TEST(MerkleTest, FrontierResumesFromItsStoredNodes) {
  MemoryLogStore store;
  Frontier tree;
  std::vector<std::string> entries;
  for (int i = 0; i < 100; ++i) entries.push_back("entry " + std::to_string(i));
  AppendAll(store, tree, entries);
  for (int64_t size : {0, 1, 7, 64, 99, 100}) {
    auto stored = store.Nodes(Frontier::NodesFor(size));
    ASSERT_TRUE(stored.ok());
    std::vector<Hash> hashes;
    for (size_t i = 0; i < stored->size(); i += 32) hashes.push_back(*HashFromBytes(stored->substr(i, 32)));
    auto resumed = Frontier::FromHashes(size, hashes);
    ASSERT_TRUE(resumed.ok());
    std::vector<Hash> leaves;
    for (int64_t i = 0; i < size; ++i) leaves.push_back(LeafHash(entries[i]));
    EXPECT_EQ(resumed->Root(), ReferenceRoot(leaves)) << size;
    resumed->Append(LeafHash("next"));
    leaves.push_back(LeafHash("next"));
    EXPECT_EQ(resumed->Root(), ReferenceRoot(leaves)) << size;
  }
  EXPECT_FALSE(Frontier::FromHashes(3, {LeafHash("")}).ok());
}

TEST(MerkleTest, DecomposeGivesAlignedSubtreesLargestFirst) {
  EXPECT_EQ(Decompose({0, 13}), (std::vector<LogNodeId>{{3, 0}, {2, 2}, {0, 12}}));
  EXPECT_EQ(Decompose({8, 12}), (std::vector<LogNodeId>{{2, 2}}));
  EXPECT_TRUE(Decompose({5, 5}).empty());
}

// ---- Property tests over random sizes.

class ProofProperties : public ::testing::Test {
 protected:
  static constexpr int64_t kMax = 600;

  void SetUp() override {
    for (int64_t i = 0; i < kMax; ++i) entries_.push_back("entry #" + std::to_string(i));
    AppendAll(store_, tree_, entries_);
    Frontier f;
    roots_.push_back(f.Root());
    for (const std::string& e : entries_) {
      f.Append(LeafHash(e));
      roots_.push_back(f.Root());
    }
  }

  // The root a verifier would hold for a claimed size: the real one when the
  // tree had that size, else the original (the attacker keeps the root).
  Hash RootFor(int64_t size, int64_t fallback) const {
    return size >= 1 && size <= kMax ? roots_[size] : roots_[fallback];
  }

  static Hash FlipBit(Hash h, int bit) {
    h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    return h;
  }

  MemoryLogStore store_;
  Frontier tree_;
  std::vector<std::string> entries_;
  std::vector<Hash> roots_;  // roots_[n] = root of the first n entries
};

TEST_F(ProofProperties, EveryInclusionProofVerifiesAndEveryBitFlipFails) {
  LogReader reader(store_);
  std::mt19937_64 rng(6962);
  for (int round = 0; round < 60; ++round) {
    const int64_t size = std::uniform_int_distribution<int64_t>(1, 300)(rng);
    const int64_t index = std::uniform_int_distribution<int64_t>(0, size - 1)(rng);
    auto proof = reader.InclusionProof(index, size);
    ASSERT_TRUE(proof.ok()) << proof.status();
    const Hash leaf = LeafHash(entries_[index]);
    const Hash root = roots_[size];
    ASSERT_TRUE(VerifyInclusion(index, size, leaf, *proof, root).ok()) << index << "/" << size;

    for (size_t p = 0; p < proof->size(); ++p) {
      for (int bit = 0; bit < 256; ++bit) {
        std::vector<Hash> bad = *proof;
        bad[p] = FlipBit(bad[p], bit);
        ASSERT_FALSE(VerifyInclusion(index, size, leaf, bad, root).ok()) << "proof " << p << " bit " << bit;
      }
    }
    for (int bit = 0; bit < 256; ++bit) {
      ASSERT_FALSE(VerifyInclusion(index, size, leaf, *proof, FlipBit(root, bit)).ok()) << "root bit " << bit;
    }
    std::string entry = entries_[index];
    for (size_t byte = 0; byte < entry.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string bad = entry;
        bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
        ASSERT_FALSE(VerifyInclusion(index, size, LeafHash(bad), *proof, root).ok()) << "entry bit";
      }
    }
    for (int bit = 0; bit < 63; ++bit) {
      const int64_t bad_index = index ^ (int64_t{1} << bit);
      ASSERT_FALSE(VerifyInclusion(bad_index, size, leaf, *proof, root).ok()) << "index bit " << bit;
      const int64_t bad_size = size ^ (int64_t{1} << bit);
      ASSERT_FALSE(VerifyInclusion(index, bad_size, leaf, *proof, RootFor(bad_size, size)).ok())
          << "size bit " << bit << ": " << index << "/" << size << " as " << bad_size;
    }
    if (!proof->empty()) {
      std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
      EXPECT_FALSE(VerifyInclusion(index, size, leaf, shorter, root).ok());
    }
    std::vector<Hash> longer = *proof;
    longer.push_back(root);
    EXPECT_FALSE(VerifyInclusion(index, size, leaf, longer, root).ok());
  }
}

TEST_F(ProofProperties, AWarmedReaderGivesTheSameProofs) {
  LogReader cold(store_);
  LogReader warm(store_);
  auto loaded = warm.Warm();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, kMax / 64 + kMax / 128 + kMax / 256 + kMax / 512);  // levels 6 to 9
  for (int64_t size : {1, 31, 32, 33, 257, 600}) {
    for (int64_t index : {int64_t{0}, size / 2, size - 1}) {
      EXPECT_EQ(*warm.InclusionProof(index, size), *cold.InclusionProof(index, size)) << index << "/" << size;
    }
    EXPECT_EQ(*warm.ConsistencyProof(size / 3, size), *cold.ConsistencyProof(size / 3, size)) << size;
  }
}

TEST_F(ProofProperties, WarmingAgainLoadsOnlyWhatTheLogGrewBy) {
  LogReader warm(store_);
  ASSERT_TRUE(warm.Warm().ok());
  std::vector<std::string> more;
  for (int64_t i = kMax; i < 1000; ++i) more.push_back("entry #" + std::to_string(i));
  AppendAll(store_, tree_, more);
  // Proofs at the new size read the subtrees beyond the warmed ones.
  LogReader cold(store_);
  for (int64_t index : {0, 599, 600, 999}) {
    EXPECT_EQ(*warm.InclusionProof(index, 1000), *cold.InclusionProof(index, 1000)) << index;
  }
  auto reference_root = [](int64_t size) {
    std::vector<Hash> leaves;
    for (int64_t i = 0; i < size; ++i) leaves.push_back(LeafHash("entry #" + std::to_string(i)));
    return ReferenceRoot(leaves);
  };
  auto loaded = warm.Warm();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (1000 / 64 - kMax / 64) + (1000 / 128 - kMax / 128) + (1000 / 256 - kMax / 256) +
                         (1000 / 512 - kMax / 512));
  EXPECT_EQ(*warm.Warm(), 0);
  for (int64_t size : {601, 777, 1000}) {
    EXPECT_EQ(*warm.InclusionProof(size - 1, size), *cold.InclusionProof(size - 1, size)) << size;
    EXPECT_EQ(*warm.ConsistencyProof(size / 3, size), *cold.ConsistencyProof(size / 3, size)) << size;
    EXPECT_EQ(*warm.RootAt(size), reference_root(size));
  }
}

TEST_F(ProofProperties, EveryConsistencyProofVerifiesAndEveryBitFlipFails) {
  LogReader reader(store_);
  std::mt19937_64 rng(9162);
  for (int round = 0; round < 60; ++round) {
    const int64_t n = std::uniform_int_distribution<int64_t>(2, 300)(rng);
    const int64_t m = std::uniform_int_distribution<int64_t>(1, n - 1)(rng);
    auto proof = reader.ConsistencyProof(m, n);
    ASSERT_TRUE(proof.ok()) << proof.status();
    const Hash old_root = roots_[m];
    const Hash new_root = roots_[n];
    ASSERT_TRUE(VerifyConsistency(m, n, *proof, old_root, new_root).ok()) << m << " -> " << n;

    for (size_t p = 0; p < proof->size(); ++p) {
      for (int bit = 0; bit < 256; ++bit) {
        std::vector<Hash> bad = *proof;
        bad[p] = FlipBit(bad[p], bit);
        ASSERT_FALSE(VerifyConsistency(m, n, bad, old_root, new_root).ok()) << "proof " << p << " bit " << bit;
      }
    }
    for (int bit = 0; bit < 256; ++bit) {
      ASSERT_FALSE(VerifyConsistency(m, n, *proof, FlipBit(old_root, bit), new_root).ok()) << "old root bit";
      ASSERT_FALSE(VerifyConsistency(m, n, *proof, old_root, FlipBit(new_root, bit)).ok()) << "new root bit";
    }
    for (int bit = 0; bit < 63; ++bit) {
      const int64_t bad_m = m ^ (int64_t{1} << bit);
      ASSERT_FALSE(VerifyConsistency(bad_m, n, *proof, bad_m == 0 ? EmptyRoot() : RootFor(bad_m, m), new_root).ok())
          << "old size bit " << bit << ": " << m << " -> " << n;
      const int64_t bad_n = n ^ (int64_t{1} << bit);
      ASSERT_FALSE(VerifyConsistency(m, bad_n, *proof, old_root, RootFor(bad_n, n)).ok())
          << "new size bit " << bit << ": " << m << " -> " << n;
    }
    if (!proof->empty()) {
      std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
      EXPECT_FALSE(VerifyConsistency(m, n, shorter, old_root, new_root).ok());
    }
    std::vector<Hash> longer = *proof;
    longer.push_back(new_root);
    EXPECT_FALSE(VerifyConsistency(m, n, longer, old_root, new_root).ok());
  }
}

}  // namespace
}  // namespace aperture::translog
