#include "engine/tokenizer/vocab.h"

#include <algorithm>

namespace aperture::engine {

Vocab::Vocab(std::vector<std::string> tokens, std::vector<float> scores, std::vector<TokenType> types)
    : text_(std::move(tokens)), score_(std::move(scores)), type_(std::move(types)) {
  index_.reserve(text_.size());
  for (size_t i = 0; i < text_.size(); ++i) {
    index_[text_[i]] = static_cast<int32_t>(i);
    max_token_bytes_ = std::max(max_token_bytes_, text_[i].size());
  }
}

}  // namespace aperture::engine
