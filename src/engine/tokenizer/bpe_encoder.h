// BpeEncoder: byte-level BPE over one pre-tokenized word (already spelled
// with GPT-2's byte characters): start from single characters and apply the
// merge with the lowest rank among adjacent pairs (ties: leftmost first)
// until none applies. Pairs and results are kept as token ids, so a merge
// is a hash lookup. O(n log n) in the word length.
// Thread-safe: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/vocab.h"

namespace aperture::engine {

class BpeEncoder {
 public:
  // `merges` are "left right" strings in rank order (tokenizer.ggml.merges).
  // A merge whose parts or result are not tokens can never apply and is
  // skipped. Errors on a merge without a separating space.
  static absl::StatusOr<BpeEncoder> Build(const Vocab& vocab, const std::vector<std::string>& merges);

  // Appends the tokens of `word` to `out`. A character that is not a token
  // (not possible in a complete byte-level vocabulary) becomes the tokens
  // of its single bytes where those exist, and is dropped otherwise.
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  explicit BpeEncoder(const Vocab& vocab) : vocab_(&vocab) {}
  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  const Vocab* vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace aperture::engine
