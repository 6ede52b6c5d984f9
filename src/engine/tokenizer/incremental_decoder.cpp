#include "engine/tokenizer/incremental_decoder.h"

#include "core/utf8.h"

namespace aperture::engine {

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, DecodeOptions options)
    : tokenizer_(tokenizer),
      options_(options),
      strip_(options.strip_leading_space && tokenizer.kind() == TokenizerKind::kSpm && tokenizer.add_space_prefix()) {}

std::string IncrementalDecoder::Push(int32_t id) {
  std::string piece = tokenizer_.TokenToPiece(id, options_.render_special);
  if (piece.empty()) return "";
  if (strip_) {
    if (piece[0] == ' ') piece.erase(0, 1);
    strip_ = false;
  }
  pending_ += piece;
  const size_t emit = Utf8EmittablePrefix(pending_);
  std::string out;
  AppendValidUtf8(std::string_view(pending_).substr(0, emit), &out);
  pending_.erase(0, emit);
  return out;
}

std::string IncrementalDecoder::Flush() {
  std::string out;
  AppendValidUtf8(pending_, &out);
  pending_.clear();
  return out;
}

}  // namespace aperture::engine
