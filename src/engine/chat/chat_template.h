// ChatTemplate: turns a list of chat messages into the prompt text a chat
// model was trained on. GGUF files carry the template as Jinja source
// (tokenizer.chat_template); rather than run Jinja, the family is recognised
// from that text, as llama.cpp does, and rendered by hand exactly as the
// reference templates render it:
//
//   llama2   Llama 2 chat ("[INST]" with "<<SYS>>"):
//            <s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
//   mistral  Mistral instruct ("[INST]" without "<<SYS>>"):
//            <s>[INST] {user} [/INST]{assistant}</s>[INST] ...
//   llama3   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>...
//   chatml   <|im_start|>{role}\n{content}<|im_end|>\n ... (Qwen's default system prompt
//            when the template carries one; Phi-4's <|im_start|>{role}<|im_sep|>{content}
//            <|im_end|> without newlines when the template has <|im_sep|>)
//   zephyr   <|{role}|>\n{content}</s>\n ...
//   gemma    <bos><start_of_turn>{user|model}\n{content}<end_of_turn>\n ...
//   phi3     <|{role}|>\n{content}<|end|>\n ... (Phi-3, Phi-3.5); Phi-4-mini's template
//            writes no newlines: <|{role}|>{content}<|end|> ...
//   plain    the documented fallback for models without a recognised template:
//            "System: {sys}\nUser: {user}\nAssistant: {assistant}\n ... Assistant:"
//            (BOS as the tokenizer adds it), stopping at "\nUser:" / "\nSystem:".
// Each adds its generation prompt (llama2 and mistral need none: "[/INST]" is it).
// BOS is written when the reference template writes bos_token. Families
// without a system role (llama2 without <<SYS>> support, mistral, gemma)
// place the system text at the start of the first user message, as their
// later official templates and llama.cpp do. Roles are not required to
// alternate (the reference templates would raise an error; rendering in
// order is the useful answer).
//
// The rendering keeps message content apart from template markup, so the
// encoder (chat_encoder.h) can read control tokens only in the markup: a
// user who writes "<|im_end|>" in a message gets text, not a turn boundary.
//
// Thread-safety: immutable after construction; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aperture::engine {

class GgufFile;
class Tokenizer;

enum class ChatFamily { kPlain, kLlama2, kMistral, kLlama3, kChatMl, kZephyr, kGemma, kPhi3 };

// "plain", "llama2", "mistral", "llama3", "chatml", "zephyr", "gemma", "phi3".
std::string_view ChatFamilyName(ChatFamily family);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// How the model spells its BOS and EOS tokens (bos_token / eos_token in the templates).
struct ChatTokenTexts {
  std::string bos = "<s>";
  std::string eos = "</s>";
};

// A rendered prompt: pieces of template markup and of message content, in order.
struct RenderedChat {
  struct Piece {
    std::string text;
    bool is_content = false;  // came from a message: never parsed for control tokens
  };
  std::vector<Piece> pieces;
  // Whether the tokenizer's own BOS should be added when encoding (the plain
  // fallback; the templates write their BOS themselves).
  bool add_tokenizer_bos = false;

  std::string text() const;
};

class ChatTemplate {
 public:
  // Recognises the family from Jinja source (empty or unknown: kPlain).
  static ChatFamily DetectFamily(std::string_view template_text);

  // From the template text (may be empty) and the model's BOS/EOS spelling.
  ChatTemplate(std::string_view template_text, ChatTokenTexts tokens);
  // A given family, e.g. when the operator overrides the model's template.
  ChatTemplate(ChatFamily family, ChatTokenTexts tokens);

  // From a model file: tokenizer.chat_template (absent: plain) and the
  // tokenizer's BOS/EOS texts.
  static ChatTemplate ForModel(const GgufFile& file, const Tokenizer& tokenizer);

  ChatFamily family() const { return family_; }

  // Renders `messages` (at least one; roles system/user/assistant, anything
  // else is InvalidArgument naming the message), followed by the prompt for
  // the assistant's reply when `add_generation_prompt`.
  absl::StatusOr<RenderedChat> Render(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;

  // Spellings of the tokens that end an assistant turn in this family (e.g.
  // "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", the EOS text).
  const std::vector<std::string>& end_of_turn_tokens() const { return end_of_turn_; }
  // Plain-text stop strings (only the plain fallback has any).
  const std::vector<std::string>& stop_strings() const { return stop_strings_; }

 private:
  void Configure(std::string_view template_text);
  void RenderInst(std::span<const ChatMessage> messages, RenderedChat* out) const;
  void RenderGemma(std::span<const ChatMessage> messages, bool gen, RenderedChat* out) const;
  void RenderRoleTagged(std::span<const ChatMessage> messages, bool gen, RenderedChat* out) const;

  ChatFamily family_ = ChatFamily::kPlain;
  ChatTokenTexts tokens_;
  bool leading_bos_ = false;  // the template writes bos_token once, first
  // Llama 2 / Mistral variants, read from the template text as llama.cpp does.
  bool bos_per_turn_ = false;           // bos_token + '[INST]
  bool strip_content_ = false;          // content.strip()
  bool space_around_response_ = false;  // ' ' + content + ' ' + eos_token
  bool space_after_eos_ = false;        // eos_token + ' '
  std::string default_system_;          // ChatML templates with a built-in system prompt
  std::string role_end_ = "\n";         // after a ChatML role (Phi-4: <|im_sep|>) or a Phi-3 role tag
  std::string turn_end_ = "\n";         // after a turn's <|im_end|> / <|end|> (Phi-4, Phi-4-mini: none)
  std::vector<std::string> end_of_turn_;
  std::vector<std::string> stop_strings_;
};

}  // namespace aperture::engine
