// IncrementalDecoder: turns a stream of token ids into text for streaming.
// Tokens can split a UTF-8 character (byte-fallback and byte-level tokens
// carry single bytes), so it holds back a trailing incomplete character and
// emits only complete ones; bytes that can never form a character become
// U+FFFD, so every chunk it returns is valid UTF-8 and the chunks
// concatenate to the same text a whole-sequence decode gives (when that is
// valid UTF-8).
//
// Usage:
//   IncrementalDecoder dec(tokenizer);  // generated tokens after a prompt
//   for each generated id: send(dec.Push(id));
//   send(dec.Flush());
//
// Thread-compatible: one decoder per stream, used from one thread at a time.
// The tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace aperture::engine {

class IncrementalDecoder {
 public:
  // The default keeps a leading space: streams are almost always a
  // continuation of a prompt, where " there" after "Once upon a time" matters.
  explicit IncrementalDecoder(const Tokenizer& tokenizer, DecodeOptions options = {.strip_leading_space = false});

  // Adds one token; returns the text that is now complete (possibly "").
  std::string Push(int32_t id);
  // Ends the stream: returns what is held back, an incomplete character as U+FFFD.
  std::string Flush();
  // Bytes held back (0 to 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  DecodeOptions options_;
  bool strip_ = false;
  std::string pending_;
};

}  // namespace aperture::engine
