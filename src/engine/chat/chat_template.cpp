#include "engine/chat/chat_template.h"

#include <algorithm>
#include <string>
#include <utility>

#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/tokenizer.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Python's str.strip() / Jinja's trim for ASCII whitespace.
std::string Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(kSpace);
  return std::string(s.substr(b, e - b + 1));
}

// A system prompt that a ChatML template writes when the conversation has
// none (Qwen: '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n').
// Only a literal is taken: text with quotes, braces or escapes is template logic.
std::string FindDefaultSystemPrompt(std::string_view tmpl) {
  constexpr std::string_view kOpen = "<|im_start|>system\\n";
  constexpr std::string_view kClose = "<|im_end|>";
  for (size_t pos = tmpl.find(kOpen); pos != std::string_view::npos; pos = tmpl.find(kOpen, pos + 1)) {
    const size_t start = pos + kOpen.size();
    const size_t end = tmpl.find(kClose, start);
    if (end == std::string_view::npos) break;
    std::string_view text = tmpl.substr(start, end - start);
    if (text.empty() || text.find_first_of("'\"{}\\+") != std::string_view::npos) continue;
    return std::string(text);
  }
  return "";
}

// The system messages of a family without a system role, joined.
std::string JoinSystem(std::span<const ChatMessage> messages) {
  std::string system;
  for (const ChatMessage& m : messages) {
    if (m.role != "system") continue;
    if (!system.empty()) system += "\n\n";
    system += m.content;
  }
  return system;
}

// Trims whitespace from the start of the first pieces and the end of the
// last ones, as str.strip() on their concatenation would.
void StripPieces(std::vector<RenderedChat::Piece>* pieces) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  while (!pieces->empty()) {
    std::string& t = pieces->front().text;
    t.erase(0, std::min(t.size(), t.find_first_not_of(kSpace)));
    if (!t.empty()) break;
    pieces->erase(pieces->begin());
  }
  while (!pieces->empty()) {
    std::string& t = pieces->back().text;
    const size_t e = t.find_last_not_of(kSpace);
    t.resize(e == std::string::npos ? 0 : e + 1);
    if (!t.empty()) break;
    pieces->pop_back();
  }
}

class Builder {
 public:
  explicit Builder(RenderedChat* out) : out_(out) {}
  Builder& Markup(std::string_view s) {
    Add(s, false);
    return *this;
  }
  Builder& Content(std::string_view s) {
    Add(s, true);
    return *this;
  }

 private:
  void Add(std::string_view s, bool content) {
    if (s.empty()) return;
    if (!out_->pieces.empty() && out_->pieces.back().is_content == content) {
      out_->pieces.back().text.append(s);
    } else {
      out_->pieces.push_back({std::string(s), content});
    }
  }
  RenderedChat* out_;
};

}  // namespace

std::string_view ChatFamilyName(ChatFamily family) {
  switch (family) {
    case ChatFamily::kPlain:
      return "plain";
    case ChatFamily::kLlama2:
      return "llama2";
    case ChatFamily::kMistral:
      return "mistral";
    case ChatFamily::kLlama3:
      return "llama3";
    case ChatFamily::kChatMl:
      return "chatml";
    case ChatFamily::kZephyr:
      return "zephyr";
    case ChatFamily::kGemma:
      return "gemma";
    case ChatFamily::kPhi3:
      return "phi3";
  }
  return "plain";
}

std::string RenderedChat::text() const {
  std::string s;
  for (const Piece& p : pieces) s += p.text;
  return s;
}

ChatFamily ChatTemplate::DetectFamily(std::string_view t) {
  // Order matters where templates share markers (Phi-3 and Zephyr both use <|user|>).
  if (Contains(t, "<|im_start|>")) return ChatFamily::kChatMl;
  if (Contains(t, "<|start_header_id|>") && Contains(t, "<|end_header_id|>")) return ChatFamily::kLlama3;
  if (Contains(t, "[INST]")) return Contains(t, "<<SYS>>") ? ChatFamily::kLlama2 : ChatFamily::kMistral;
  if (Contains(t, "<start_of_turn>")) return ChatFamily::kGemma;
  if (Contains(t, "<|end|>") && (Contains(t, "<|user|>") || Contains(t, "<|assistant|>"))) return ChatFamily::kPhi3;
  if (Contains(t, "<|user|>")) return ChatFamily::kZephyr;
  return ChatFamily::kPlain;
}

ChatTemplate::ChatTemplate(std::string_view template_text, ChatTokenTexts tokens)
    : family_(DetectFamily(template_text)), tokens_(std::move(tokens)) {
  Configure(template_text);
}

ChatTemplate::ChatTemplate(ChatFamily family, ChatTokenTexts tokens) : family_(family), tokens_(std::move(tokens)) {
  Configure("");
}

ChatTemplate ChatTemplate::ForModel(const GgufFile& file, const Tokenizer& tokenizer) {
  ChatTokenTexts tokens;
  if (tokenizer.bos_id() >= 0) tokens.bos = tokenizer.token_text(tokenizer.bos_id());
  if (tokenizer.eos_id() >= 0) tokens.eos = tokenizer.token_text(tokenizer.eos_id());
  std::string text;
  if (absl::StatusOr<std::string> t = file.GetString("tokenizer.chat_template"); t.ok()) text = *std::move(t);
  return ChatTemplate(text, std::move(tokens));
}

void ChatTemplate::Configure(std::string_view t) {
  const bool from_text = !t.empty();
  switch (family_) {
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
      if (from_text) {
        bos_per_turn_ = Contains(t, "bos_token + '[INST]") || Contains(t, "bos_token + \"[INST]");
        leading_bos_ = !bos_per_turn_ && Contains(t, "bos_token");
        strip_content_ = Contains(t, ".strip()") || Contains(t, "| trim");
        space_around_response_ = Contains(t, "' ' + eos_token") || Contains(t, "\" \" + eos_token");
        space_after_eos_ = Contains(t, "eos_token + ' '") || Contains(t, "eos_token + \" \"");
      } else if (family_ == ChatFamily::kLlama2) {  // Meta's reference template
        bos_per_turn_ = strip_content_ = space_around_response_ = true;
      } else {  // Mistral-7B-Instruct v0.2
        leading_bos_ = true;
      }
      end_of_turn_ = {tokens_.eos};
      break;
    case ChatFamily::kLlama3:
      leading_bos_ = !from_text || Contains(t, "bos_token");
      end_of_turn_ = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"};
      break;
    case ChatFamily::kChatMl:
      leading_bos_ = from_text && Contains(t, "bos_token");
      default_system_ = FindDefaultSystemPrompt(t);
      if (Contains(t, "<|im_sep|>")) {  // Phi-4: <|im_start|>{role}<|im_sep|>{content}<|im_end|>, no newlines
        role_end_ = "<|im_sep|>";
        turn_end_ = "";
      }
      end_of_turn_ = {"<|im_end|>", "<|endoftext|>"};
      break;
    case ChatFamily::kZephyr:
      leading_bos_ = from_text && Contains(t, "bos_token");
      end_of_turn_ = {tokens_.eos};
      break;
    case ChatFamily::kGemma:
      leading_bos_ = !from_text || Contains(t, "bos_token");
      end_of_turn_ = {"<end_of_turn>", tokens_.eos};
      break;
    case ChatFamily::kPhi3:
      leading_bos_ = from_text && Contains(t, "bos_token");
      // Phi-4-mini: '<|' + role + '|>' + content + '<|end|>', no newline anywhere.
      if (from_text && !Contains(t, "\\n") && !Contains(t, "\n")) role_end_ = turn_end_ = "";
      end_of_turn_ = {"<|end|>", "<|endoftext|>"};
      break;
    case ChatFamily::kPlain:
      end_of_turn_ = {tokens_.eos};
      stop_strings_ = {"\nUser:", "\nSystem:"};
      break;
  }
}

absl::StatusOr<RenderedChat> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                                  bool add_generation_prompt) const {
  if (messages.empty()) return absl::InvalidArgumentError("a chat needs at least one message");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return absl::InvalidArgumentError(
          fmt::format("messages[{}].role is '{}'; the roles are 'system', 'user' and 'assistant'", i, role));
    }
  }
  RenderedChat out;
  Builder b(&out);
  if (leading_bos_) b.Markup(tokens_.bos);
  switch (family_) {
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
      RenderInst(messages, &out);
      break;
    case ChatFamily::kGemma:
      RenderGemma(messages, add_generation_prompt, &out);
      break;
    case ChatFamily::kPlain:
      out.add_tokenizer_bos = true;
      [[fallthrough]];
    default:
      RenderRoleTagged(messages, add_generation_prompt, &out);
      break;
  }
  return out;
}

// Llama 2 and Mistral: user turns wrapped in [INST] ... [/INST], the reply
// after it; system text goes into the first user turn.
void ChatTemplate::RenderInst(std::span<const ChatMessage> messages, RenderedChat* out) const {
  Builder b(out);
  std::string system = JoinSystem(messages);
  bool system_pending = !system.empty();

  auto user_turn = [&](std::string_view content) {
    RenderedChat turn;
    Builder t(&turn);
    if (system_pending) {
      system_pending = false;
      if (family_ == ChatFamily::kLlama2) {
        t.Markup("<<SYS>>\n").Content(system).Markup("\n<</SYS>>\n\n");
      } else {
        t.Content(system).Markup("\n\n");
      }
    }
    t.Content(content);
    // The reference template strips the whole turn, system block included.
    if (strip_content_) StripPieces(&turn.pieces);
    if (bos_per_turn_) b.Markup(tokens_.bos);
    b.Markup("[INST] ");
    for (const RenderedChat::Piece& p : turn.pieces) p.is_content ? b.Content(p.text) : b.Markup(p.text);
    b.Markup(" [/INST]");
  };

  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      user_turn(m.content);
    } else if (m.role == "assistant") {
      if (system_pending) user_turn("");  // no user turn before it to carry the system text
      if (space_around_response_) b.Markup(" ");
      b.Content(strip_content_ ? Trim(m.content) : m.content);
      if (space_around_response_) b.Markup(" ");
      b.Markup(tokens_.eos);
      if (space_after_eos_) b.Markup(" ");
    }
  }
  if (system_pending) user_turn("");  // only system messages
}

// Gemma: user/model turns; the content is trimmed; system text starts the first user turn.
void ChatTemplate::RenderGemma(std::span<const ChatMessage> messages, bool gen, RenderedChat* out) const {
  Builder b(out);
  const std::string system = JoinSystem(messages);
  bool system_pending = !system.empty();
  for (const ChatMessage& m : messages) {
    if (m.role == "system") continue;
    const bool user = m.role == "user";
    b.Markup(user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
    if (user && system_pending) {
      system_pending = false;
      b.Content(system);
      b.Markup("\n\n");
    }
    b.Content(Trim(m.content));
    b.Markup("<end_of_turn>\n");
  }
  if (system_pending) {
    b.Markup("<start_of_turn>user\n").Content(system).Markup("\n\n<end_of_turn>\n");
  }
  if (gen) b.Markup("<start_of_turn>model\n");
}

// Families with a marker per role: Llama 3, ChatML, Zephyr, Phi-3 and the plain fallback.
void ChatTemplate::RenderRoleTagged(std::span<const ChatMessage> messages, bool gen, RenderedChat* out) const {
  Builder b(out);
  auto turn = [&](std::string_view role, std::string_view content) {
    switch (family_) {
      case ChatFamily::kLlama3:
        b.Markup("<|start_header_id|>").Markup(role).Markup("<|end_header_id|>\n\n");
        b.Content(Trim(content)).Markup("<|eot_id|>");
        break;
      case ChatFamily::kChatMl:
        b.Markup("<|im_start|>").Markup(role).Markup(role_end_).Content(content).Markup("<|im_end|>").Markup(turn_end_);
        break;
      case ChatFamily::kZephyr:
        b.Markup("<|").Markup(role).Markup("|>\n").Content(content).Markup(tokens_.eos).Markup("\n");
        break;
      case ChatFamily::kPhi3:
        b.Markup("<|").Markup(role).Markup("|>").Markup(role_end_).Content(content).Markup("<|end|>").Markup(turn_end_);
        break;
      default: {  // plain
        std::string label(role);
        label[0] = static_cast<char>(label[0] - 'a' + 'A');
        b.Markup(label).Markup(": ").Content(content).Markup("\n");
        break;
      }
    }
  };
  if (!default_system_.empty() && messages.front().role != "system") turn("system", default_system_);
  for (const ChatMessage& m : messages) turn(m.role, m.content);
  if (!gen) return;
  switch (family_) {
    case ChatFamily::kLlama3:
      b.Markup("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    case ChatFamily::kChatMl:
      b.Markup("<|im_start|>assistant").Markup(role_end_);
      break;
    case ChatFamily::kZephyr:
      b.Markup("<|assistant|>\n");
      break;
    case ChatFamily::kPhi3:
      b.Markup("<|assistant|>").Markup(role_end_);
      break;
    default:
      b.Markup("Assistant:");
      break;
  }
}

}  // namespace aperture::engine
