#include "engine/model/test_model_vocab.h"

#include <set>
#include <vector>

#include "engine/tokenizer/byte_encoding.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

// tokenizer.ggml.token_type values.
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6;

constexpr const char* kWords[] = {"the",   "and",   "was",  "she",  "he",   "they", "to",     "of",     "a",    "in",
                                  "it",    "with",  "said", "once", "upon", "time", "there",  "little", "girl", "boy",
                                  "day",   "happy", "big",  "her",  "his",  "play", "friend", "saw",    "had",  "very",
                                  "named", "dog",   "cat",  "sun",  "tree", "ball", "mom",    "wanted", "went", "so",
                                  "on",    "for",   "but",  "then", "is",   "you",  "not"};

// The chat templates the families' files carry, as Jinja (the engine
// recognises the family from them; llama.cpp renders them).
constexpr const char* kPhi3Template =
    "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
constexpr const char* kGemmaTemplate =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] "
    "| trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}"
    "{% endif %}";
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

class TokenList {
 public:
  explicit TokenList(int capacity) : capacity_(capacity) {}
  // Adds a token unless the list is full or holds it; returns its id or -1.
  int Add(const std::string& text, float score, int32_t type) {
    if (full() || !seen_.insert(text).second) return -1;
    tokens.push_back(text);
    scores.push_back(score);
    types.push_back(type);
    return static_cast<int>(tokens.size()) - 1;
  }
  bool full() const { return static_cast<int>(tokens.size()) >= capacity_; }
  bool has(const std::string& text) const { return seen_.contains(text); }

  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;

 private:
  int capacity_;
  std::set<std::string> seen_;
};

// A SentencePiece-style vocabulary: `leading` specials, the 256 byte
// tokens, pieces (every prefix of a word, so merges reach it), then
// `trailing` control tokens as the last ids.
void BuildSpm(int vocab, const std::vector<std::pair<std::string, int32_t>>& leading,
              const std::vector<std::string>& trailing, TokenList& out) {
  const std::string kSpace = "\xE2\x96\x81";  // U+2581
  TokenList& t = out;
  const int pieces_end = vocab - static_cast<int>(trailing.size());
  TokenList body(pieces_end);
  for (const auto& [text, type] : leading) body.Add(text, 0.f, type);
  for (int b = 0; b < 256; ++b) body.Add(fmt::format("<0x{:02X}>", b), 0.f, kByte);
  float score = -1.f;
  auto piece = [&](const std::string& p) {
    if (body.Add(p, score, kNormal) >= 0) score -= 1.f;
  };
  piece(kSpace);
  for (char ch = 'a'; ch <= 'z'; ++ch) piece(std::string(1, ch));
  for (char ch = 'A'; ch <= 'Z'; ++ch) piece(std::string(1, ch));
  for (char ch : std::string("0123456789.,!?'\"-:;()")) piece(std::string(1, ch));
  for (const char* w : kWords) {
    const std::string word = kSpace + w;
    for (size_t n = kSpace.size() + 1; n <= word.size(); ++n) piece(word.substr(0, n));
  }
  for (char a = 'a'; a <= 'z' && !body.full(); ++a)
    for (char b = 'a'; b <= 'z' && !body.full(); ++b) {
      piece(std::string{a, b});
      piece(kSpace + std::string{a, b});
    }
  for (int i = 0; !body.full(); ++i) {
    std::string p = kSpace;
    for (int v = i; v > 0 || p.size() == kSpace.size(); v /= 26) p += static_cast<char>('a' + v % 26);
    piece(p + "z");
  }
  t = std::move(body);
  for (const std::string& s : trailing) t.tokens.push_back(s), t.scores.push_back(0.f), t.types.push_back(kControl);
}

// A byte-level BPE vocabulary (GPT-2's byte characters, Qwen's form): the
// 256 byte characters, merges building every word and then the word with
// its leading space, two-letter pieces, synthetic words, and `trailing`
// control tokens.
void BuildBpe(int vocab, const std::vector<std::string>& trailing, TokenList& t, std::vector<std::string>* merges) {
  const int body_end = vocab - static_cast<int>(trailing.size());
  TokenList body(body_end);
  for (int b = 0; b < 256; ++b) body.Add(ByteToBpeChar(static_cast<uint8_t>(b)), 0.f, kNormal);
  std::set<std::string> merged;
  // Merges the characters of `word` (already byte-encoded) left to right.
  auto build = [&](const std::vector<std::string>& chars) {
    std::string left = chars[0];
    for (size_t i = 1; i < chars.size(); ++i) {
      const std::string joined = left + chars[i];
      if (!body.has(joined)) {
        if (body.full()) return;
        body.Add(joined, 0.f, kNormal);
      }
      if (merged.insert(left + " " + chars[i]).second) merges->push_back(left + " " + chars[i]);
      left = joined;
    }
  };
  auto chars_of = [](const std::string& word) {
    std::vector<std::string> chars;
    for (char c : word) chars.push_back(ByteToBpeChar(static_cast<uint8_t>(c)));
    return chars;
  };
  // A word, then the word after a space: "Ġ" + the whole word, as BPE
  // training merges them (so " cat" is one token, not "Ġ" and "cat").
  auto word = [&](const std::string& w) {
    build(chars_of(w));
    std::string spelled;
    BpeEncodeBytes(w, &spelled);
    if (body.has(spelled)) build({ByteToBpeChar(' '), spelled});
  };
  for (const char* w : kWords) word(w);
  for (char a = 'a'; a <= 'z' && !body.full(); ++a)
    for (char b = 'a'; b <= 'z' && !body.full(); ++b) word(std::string{a, b});
  // Then distinct synthetic words (each adds at least its whole spelling).
  for (int i = 0; !body.full(); ++i) {
    std::string w;
    for (int v = i; v > 0 || w.empty(); v /= 26) w += static_cast<char>('a' + v % 26);
    word(w + "q");
  }
  t = std::move(body);
  for (const std::string& s : trailing) t.tokens.push_back(s), t.scores.push_back(0.f), t.types.push_back(kControl);
}

void WriteTokens(const TokenList& t, GgufWriter& w) {
  w.SetStringArray("tokenizer.ggml.tokens", t.tokens);
  w.SetFloat32Array("tokenizer.ggml.scores", t.scores);
  w.SetInt32Array("tokenizer.ggml.token_type", t.types);
}

uint32_t IdOf(const TokenList& t, const std::string& text) {
  for (size_t i = 0; i < t.tokens.size(); ++i)
    if (t.tokens[i] == text) return static_cast<uint32_t>(i);
  return 0xFFFFFFFFu;
}

}  // namespace

absl::Status WriteTestVocab(const std::string& arch, int vocab, GgufWriter& w) {
  TokenList t(vocab);
  if (arch == "llama" || arch == "phi3") {
    const std::vector<std::string> phi_specials = {"<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>",
                                                   "<|system|>"};
    BuildSpm(vocab, {{"<unk>", kUnknown}, {"<s>", kControl}, {"</s>", kControl}},
             arch == "phi3" ? phi_specials : std::vector<std::string>{}, t);
    w.SetString("tokenizer.ggml.model", "llama");
    if (arch == "phi3") w.SetString("tokenizer.ggml.pre", "default");
    WriteTokens(t, w);
    w.SetUint32("tokenizer.ggml.unknown_token_id", 0);
    w.SetUint32("tokenizer.ggml.bos_token_id", 1);
    w.SetUint32("tokenizer.ggml.eos_token_id", arch == "phi3" ? IdOf(t, "<|endoftext|>") : 2);
    w.SetBool("tokenizer.ggml.add_bos_token", arch == "llama");
    w.SetBool("tokenizer.ggml.add_eos_token", false);
    if (arch == "phi3") w.SetString("tokenizer.chat_template", kPhi3Template);
  } else if (arch == "gemma2" || arch == "gemma3") {
    BuildSpm(vocab,
             {{"<pad>", kControl},
              {"<eos>", kControl},
              {"<bos>", kControl},
              {"<unk>", kUnknown},
              {"<start_of_turn>", kControl},
              {"<end_of_turn>", kControl}},
             {}, t);
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetString("tokenizer.ggml.pre", "default");
    WriteTokens(t, w);
    w.SetUint32("tokenizer.ggml.padding_token_id", 0);
    w.SetUint32("tokenizer.ggml.eos_token_id", 1);
    w.SetUint32("tokenizer.ggml.bos_token_id", 2);
    w.SetUint32("tokenizer.ggml.unknown_token_id", 3);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
    w.SetBool("tokenizer.ggml.add_eos_token", false);
    w.SetBool("tokenizer.ggml.add_space_prefix", false);
    w.SetString("tokenizer.chat_template", kGemmaTemplate);
  } else if (arch == "qwen2" || arch == "qwen3") {
    std::vector<std::string> merges;
    BuildBpe(vocab, {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, t, &merges);
    if (static_cast<int>(t.tokens.size()) != vocab) {
      return absl::InvalidArgumentError(fmt::format("cannot build a {}-token byte-level vocabulary", vocab));
    }
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetString("tokenizer.ggml.pre", "qwen2");
    WriteTokens(t, w);
    w.SetStringArray("tokenizer.ggml.merges", merges);
    w.SetUint32("tokenizer.ggml.eos_token_id", IdOf(t, "<|im_end|>"));
    w.SetUint32("tokenizer.ggml.padding_token_id", IdOf(t, "<|endoftext|>"));
    w.SetUint32("tokenizer.ggml.bos_token_id", IdOf(t, "<|endoftext|>"));
    w.SetBool("tokenizer.ggml.add_bos_token", false);
    w.SetString("tokenizer.chat_template", kChatMlTemplate);
  } else {
    return absl::InvalidArgumentError(fmt::format("no test vocabulary for architecture '{}'", arch));
  }
  return absl::OkStatus();
}

}  // namespace aperture::engine
