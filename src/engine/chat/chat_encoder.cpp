#include "engine/chat/chat_encoder.h"

#include <algorithm>
#include <string_view>

namespace aperture::engine {

ChatEncoder::ChatEncoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {
  const Vocab& vocab = tokenizer.vocab();
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.type(id);
    if ((type == TokenType::kControl || type == TokenType::kUnknown) && !vocab.text(id).empty()) {
      control_.push_back(id);
    }
  }
  // Longest first, then by id, as the tokenizer matches special tokens.
  std::stable_sort(control_.begin(), control_.end(),
                   [&](int32_t a, int32_t b) { return vocab.text(a).size() > vocab.text(b).size(); });
}

std::vector<int32_t> ChatEncoder::Encode(const RenderedChat& chat) const {
  std::vector<int32_t> out;
  if (chat.add_tokenizer_bos && tokenizer_.add_bos() && tokenizer_.bos_id() >= 0) {
    out.push_back(tokenizer_.bos_id());
  }
  // Text accumulates across pieces until a control token in the markup ends
  // it, so markup and content between two control tokens encode as one fragment.
  std::string text;
  auto flush = [&] {
    if (text.empty()) return;
    std::vector<int32_t> ids = tokenizer_.Encode(text, /*add_special=*/false, /*parse_special=*/false);
    out.insert(out.end(), ids.begin(), ids.end());
    text.clear();
  };
  const Vocab& vocab = tokenizer_.vocab();
  for (const RenderedChat::Piece& piece : chat.pieces) {
    if (piece.is_content) {
      text += piece.text;
      continue;
    }
    std::string_view rest = piece.text;
    while (!rest.empty()) {
      // The earliest control token in what is left (longest on a tie).
      size_t best_pos = std::string_view::npos;
      int32_t best_id = -1;
      for (int32_t id : control_) {
        const size_t pos = rest.find(vocab.text(id));
        if (pos < best_pos) {
          best_pos = pos;
          best_id = id;
        }
      }
      if (best_id < 0) {
        text.append(rest);
        break;
      }
      text.append(rest.substr(0, best_pos));
      flush();
      out.push_back(best_id);
      rest.remove_prefix(best_pos + vocab.text(best_id).size());
    }
  }
  flush();
  return out;
}

ChatStops ChatEncoder::Stops(const ChatTemplate& chat_template) const {
  ChatStops stops;
  auto add_id = [&](int32_t id) {
    if (id >= 0 && std::find(stops.token_ids.begin(), stops.token_ids.end(), id) == stops.token_ids.end()) {
      stops.token_ids.push_back(id);
    }
  };
  for (const std::string& text : chat_template.end_of_turn_tokens()) {
    const int32_t id = tokenizer_.vocab().Find(text);
    if (id >= 0) {
      add_id(id);
    } else if (!text.empty()) {
      stops.strings.push_back(text);
    }
  }
  add_id(tokenizer_.eos_id());
  add_id(tokenizer_.eot_id());
  for (const std::string& s : chat_template.stop_strings()) stops.strings.push_back(s);
  return stops;
}

}  // namespace aperture::engine
