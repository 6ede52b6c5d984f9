// SpmEncoder: SentencePiece BPE as llama.cpp runs it: start from single
// UTF-8 characters (invalid bytes split off on their own) and repeatedly merge the adjacent pair
// whose concatenation is the highest-scoring token (ties: leftmost first); a character that is not
// a token falls back to its bytes (<0xXX> tokens). O(n log n) in the text length (a priority queue
// of candidate pairs). Thread-safe: immutable after construction.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/tokenizer/vocab.h"

namespace aperture::engine {

class SpmEncoder {
 public:
  // `vocab` must outlive the encoder. `unk_id` is used for a byte with no token (-1: dropped).
  SpmEncoder(const Vocab& vocab, int32_t unk_id);

  // Appends the tokens of `text` (spaces already replaced by U+2581) to `out`.
  void Encode(std::string_view text, std::vector<int32_t>* out) const;

  // Token for byte b: <0xXX>, else the one-byte token, else unk (or -1).
  int32_t ByteToken(uint8_t b) const { return byte_tokens_[b]; }

 private:
  const Vocab& vocab_;
  std::array<int32_t, 256> byte_tokens_;
};

}  // namespace aperture::engine
