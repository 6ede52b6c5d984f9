// PreTokenizer: splits text into words before byte-level BPE, with the
// regular expressions that each `tokenizer.ggml.pre` name stands for (the
// same lists llama.cpp uses, taken from the Hugging Face tokenizers). The
// expressions run in order, each splitting the pieces the previous one left;
// text between matches is kept as its own piece, so no byte is dropped.
// PCRE2 with UTF and UCP supplies the Unicode classes (\p{L}, \p{N}, \s);
// invalid UTF-8 never matches and ends up in pieces of its own.
//
// Thread-safe: immutable after construction (each Split allocates its own
// match data).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aperture::engine {

class PreTokenizer {
 public:
  // `pre` is the value of tokenizer.ggml.pre ("gpt-2", "llama-bpe", ...;
  // "default" or empty for llama.cpp's default list).
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> ForName(std::string_view pre);
  // From explicit patterns (for tests and unusual vocabularies).
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromPatterns(const std::vector<std::string>& patterns);
  // Names ForName accepts.
  static std::vector<std::string> KnownNames();

  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Pieces of `text`, in order; they concatenate back to `text`.
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  PreTokenizer() = default;
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace aperture::engine
