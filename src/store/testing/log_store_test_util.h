// Shared by the log store tests (log_store_test.cpp, sqlite_log_store_test.cpp,
// tile_mirror_test.cpp): appends whose tree hashes are stand-ins, distinct
// for every node, and what reading them back must give.
#pragma once

#include <cstdint>
#include <string>

#include "aperture/log_store.h"
#include "core/hash.h"
#include "fmt/format.h"

namespace aperture::store {

// A stand-in for the hash of node (level, index): distinct for every node.
inline std::string NodeHashOf(int level, int64_t index) { return Sha256(fmt::format("{}/{}", level, index)); }

// Entries [from, to) with every full subtree they complete, as the sequencer
// gives them (hashes from NodeHashOf; the store does not recompute them).
inline LogAppend Leaves(int64_t from, int64_t to) {
  LogAppend a;
  a.expected_size = from;
  for (int64_t i = from; i < to; ++i) {
    a.entries.push_back(fmt::format("e{}", i));
    a.leaf_hashes.push_back(NodeHashOf(0, i));
    for (int level = 0; ((i + 1) & ((int64_t{1} << level) - 1)) == 0 && level < 62; ++level) {
      a.nodes.push_back({{level, i >> level}, NodeHashOf(level, i >> level)});
    }
  }
  a.head = LogHead{to, std::string(32, 'r'), "o", "n", 1};
  return a;
}

// The stand-in hashes of nodes [begin, end) of `level`, concatenated.
inline std::string ExpectedRange(int level, int64_t begin, int64_t end) {
  std::string out;
  for (int64_t i = begin; i < end; ++i) out += NodeHashOf(level, i);
  return out;
}

}  // namespace aperture::store
