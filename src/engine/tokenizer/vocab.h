// Vocab: the token table of a tokenizer (text, score and type of each id)
// with a text -> id index. Shared by the SentencePiece and BPE encoders.
// Immutable after construction; thread-safe for concurrent reads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aperture::engine {

// Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Vocab {
 public:
  Vocab() = default;
  // `scores` and `types` may be empty (all 0 / all normal) or have tokens.size() entries.
  Vocab(std::vector<std::string> tokens, std::vector<float> scores, std::vector<TokenType> types);
  // The index views the token strings, which a move keeps in place (the
  // vector's buffer changes owner); a copy would not, so there is none.
  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  int32_t size() const { return static_cast<int32_t>(text_.size()); }
  const std::string& text(int32_t id) const { return text_[id]; }
  float score(int32_t id) const { return score_.empty() ? 0.0f : score_[id]; }
  TokenType type(int32_t id) const { return type_.empty() ? TokenType::kNormal : type_[id]; }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  // Longest token text in bytes (bounds the candidate merges worth looking up).
  size_t max_token_bytes() const { return max_token_bytes_; }

  // Id of the token spelled `text`, or -1. When several tokens share a
  // spelling the last one wins, as in llama.cpp.
  int32_t Find(std::string_view text) const {
    auto it = index_.find(text);
    return it == index_.end() ? -1 : it->second;
  }

 private:
  std::vector<std::string> text_;
  std::vector<float> score_;
  std::vector<TokenType> type_;
  std::unordered_map<std::string_view, int32_t> index_;  // views into text_
  size_t max_token_bytes_ = 0;
};

}  // namespace aperture::engine
