#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

// Patterns from llama.cpp's llm_tokenizer_bpe (src/llama-vocab.cpp).
constexpr const char* kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)";
constexpr const char* kPoro = " ?[^(\\s|.,!?…。，、।۔،)]+";

struct Family {
  std::vector<std::string> names;
  std::vector<std::string> patterns;
};

const std::vector<Family>& Families() {
  static const auto* families = new std::vector<Family>{
      {{"default", ""}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe", "jina-es", "jina-de", "jina-v2-es",
        "jina-v2-de", "jina-v2-code"},
       {kGpt2}},
      {{"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"}, {kLlama3}},
      {{"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez"}, {kQwen2}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", kGpt2}},
      {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}},
      {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kPoro}},
      {{"viking"}, {kPoro, "\\p{N}"}},
      {{"tekken"}, {kTekken}},
  };
  return *families;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::KnownNames() {
  std::vector<std::string> names;
  for (const Family& f : Families()) {
    for (const std::string& n : f.names) {
      if (!n.empty()) names.push_back(n);
    }
  }
  return names;
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::ForName(std::string_view pre) {
  for (const Family& f : Families()) {
    for (const std::string& n : f.names) {
      if (n == pre) return FromPatterns(f.patterns);
    }
  }
  std::string known;
  for (const std::string& n : KnownNames()) known += (known.empty() ? "" : ", ") + n;
  return absl::InvalidArgumentError(
      fmt::format("tokenizer.ggml.pre '{}' is not a supported pre-tokenizer (supported: {})", pre, known));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromPatterns(const std::vector<std::string>& patterns) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  for (const std::string& pattern : patterns) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto r = std::make_unique<Regex>();
    r->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                            PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &error_offset, nullptr);
    if (r->code == nullptr) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(error, buf, sizeof(buf));
      return absl::InvalidArgumentError(fmt::format("pre-tokenizer pattern '{}' at {}: {}", pattern, error_offset,
                                                    reinterpret_cast<const char*>(buf)));
    }
    // JIT makes matching several times faster; the interpreter is the fallback.
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);
    p->regexes_.push_back(std::move(r));
  }
  return p;
}

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  for (const auto& regex : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex->code, nullptr);
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t start = 0;  // next byte not yet assigned to a piece
      size_t search = 0;
      while (search < piece.size()) {
        const int rc = pcre2_match(regex->code, subject, piece.size(), search, 0, md, nullptr);
        if (rc < 0) break;  // no more matches (or a match error: keep the rest whole)
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t m_start = ov[0], m_end = ov[1];
        if (m_end <= m_start) {  // empty match: step past one byte to make progress
          search = m_start + 1;
          continue;
        }
        if (m_start > start) next.push_back(piece.substr(start, m_start - start));
        next.push_back(piece.substr(m_start, m_end - m_start));
        start = search = m_end;
      }
      if (start < piece.size()) next.push_back(piece.substr(start));
    }
    pcre2_match_data_free(md);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace aperture::engine
