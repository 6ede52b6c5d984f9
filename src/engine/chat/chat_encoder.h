// ChatEncoder: token ids of a rendered chat (chat_template.h) for one
// tokenizer. Control tokens ("<|im_start|>", "<s>") are recognised only in
// the template's markup; message content is encoded as plain text, so a
// user cannot forge a turn boundary or a system prompt by typing one.
// Where the content holds no control-token text, the ids equal
// tokenizer.Encode(rendered.text(), add_special=false, parse_special=true)
// (plus BOS for the plain fallback): the text between control tokens is
// encoded as one fragment either way.
//
// Also resolves a template's end-of-turn spellings to token ids.
//
// Thread-safety: immutable after construction; thread-safe. The tokenizer
// must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/chat/chat_template.h"
#include "engine/tokenizer/tokenizer.h"

namespace aperture::engine {

// What ends a chat reply: token ids (those of the family's end-of-turn
// tokens that the vocabulary has, plus EOS/EOT) and stop strings (the
// family's plain-text stops, and end-of-turn spellings the vocabulary lacks
// as a single token, so they still stop the reply as text).
struct ChatStops {
  std::vector<int32_t> token_ids;
  std::vector<std::string> strings;
};

class ChatEncoder {
 public:
  explicit ChatEncoder(const Tokenizer& tokenizer);

  std::vector<int32_t> Encode(const RenderedChat& chat) const;
  ChatStops Stops(const ChatTemplate& chat_template) const;

 private:
  const Tokenizer& tokenizer_;
  std::vector<int32_t> control_;  // control and unknown tokens, longest text first
};

}  // namespace aperture::engine
