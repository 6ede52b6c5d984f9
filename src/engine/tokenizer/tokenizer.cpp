#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <climits>

#include "absl/status/status.h"
#include "core/status_macros.h"
#include "engine/tokenizer/byte_encoding.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

bool IsLlama3Family(std::string_view pre) {
  return pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "falcon3" || pre == "dbrx" ||
         pre == "smaug-bpe";
}

// An optional token id: absent, 0xFFFFFFFF (how converters write "none"),
// negative or out of range all mean "none".
absl::StatusOr<int32_t> OptionalTokenId(const GgufFile& f, const std::string& key, int32_t fallback, int32_t n_vocab) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) return fallback < n_vocab ? fallback : -1;
  if (!v->is_integer()) {
    return absl::InvalidArgumentError(
        fmt::format("GGUF metadata key '{}' has type {}, expected uint32", key, GgufValueTypeName(v->type())));
  }
  const int64_t id =
      v->is_signed() ? v->as_int() : (v->as_uint() > INT32_MAX ? -1 : static_cast<int64_t>(v->as_uint()));
  return id >= 0 && id < n_vocab ? static_cast<int32_t>(id) : -1;
}

void ReplaceSpaces(std::string_view text, std::string* out) {
  out->reserve(text.size() + 8);
  for (char c : text) {
    if (c == ' ') {
      out->append(kSpaceMarker);
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& f) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  ASSIGN_OR_RETURN(std::string model, f.GetString("tokenizer.ggml.model"));
  if (model == "llama") {
    t->kind_ = TokenizerKind::kSpm;
  } else if (model == "gpt2") {
    t->kind_ = TokenizerKind::kBpe;
  } else {
    return absl::InvalidArgumentError(
        fmt::format("tokenizer.ggml.model '{}' is not supported (supported: llama, gpt2)", model));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> tokens, f.GetStringArray("tokenizer.ggml.tokens"));
  if (tokens.empty()) return absl::InvalidArgumentError("tokenizer.ggml.tokens is empty");
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("tokenizer.ggml.tokens has too many entries");
  }
  const int32_t n = static_cast<int32_t>(tokens.size());
  std::vector<float> scores;
  if (f.Has("tokenizer.ggml.scores")) {
    ASSIGN_OR_RETURN(scores, f.GetFloat32Array("tokenizer.ggml.scores"));
    if (scores.size() != tokens.size()) {
      return absl::InvalidArgumentError(
          fmt::format("tokenizer.ggml.scores has {} entries but there are {} tokens", scores.size(), n));
    }
  }
  std::vector<TokenType> types;
  if (f.Has("tokenizer.ggml.token_type")) {
    ASSIGN_OR_RETURN(std::vector<int32_t> raw, f.GetInt32Array("tokenizer.ggml.token_type"));
    if (raw.size() != tokens.size()) {
      return absl::InvalidArgumentError(
          fmt::format("tokenizer.ggml.token_type has {} entries but there are {} tokens", raw.size(), n));
    }
    types.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] < 0 || raw[i] > 6) {
        return absl::InvalidArgumentError(
            fmt::format("tokenizer.ggml.token_type[{}] is {} (valid: 0 to 6)", i, raw[i]));
      }
      types.push_back(static_cast<TokenType>(raw[i]));
    }
  }
  t->vocab_ = Vocab(std::move(tokens), std::move(scores), std::move(types));

  const bool spm = t->kind_ == TokenizerKind::kSpm;
  ASSIGN_OR_RETURN(std::string pre, f.GetStringOr("tokenizer.ggml.pre", "default"));
  ASSIGN_OR_RETURN(t->bos_id_, OptionalTokenId(f, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n));
  ASSIGN_OR_RETURN(t->eos_id_, OptionalTokenId(f, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n));
  ASSIGN_OR_RETURN(t->unk_id_, OptionalTokenId(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n));
  ASSIGN_OR_RETURN(t->pad_id_, OptionalTokenId(f, "tokenizer.ggml.padding_token_id", -1, n));
  ASSIGN_OR_RETURN(t->eot_id_, OptionalTokenId(f, "tokenizer.ggml.eot_token_id", -1, n));
  ASSIGN_OR_RETURN(t->add_bos_, f.GetBoolOr("tokenizer.ggml.add_bos_token", spm || IsLlama3Family(pre)));
  ASSIGN_OR_RETURN(t->add_eos_, f.GetBoolOr("tokenizer.ggml.add_eos_token", false));
  ASSIGN_OR_RETURN(t->add_space_prefix_, f.GetBoolOr("tokenizer.ggml.add_space_prefix", spm));

  if (spm) {
    t->spm_.emplace(t->vocab_, t->unk_id_);
  } else {
    ASSIGN_OR_RETURN(std::vector<std::string> merges, f.GetStringArray("tokenizer.ggml.merges"));
    ASSIGN_OR_RETURN(BpeEncoder bpe, BpeEncoder::Build(t->vocab_, merges));
    t->bpe_.emplace(std::move(bpe));
    ASSIGN_OR_RETURN(t->pre_, PreTokenizer::ForName(pre));
    t->ignore_merges_ = IsLlama3Family(pre);
  }

  for (int32_t id = 0; id < n; ++id) {
    const TokenType type = t->vocab_.type(id);
    if ((type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown) &&
        !t->vocab_.text(id).empty()) {
      t->special_tokens_.push_back(id);
    }
  }
  // Longest first, so "<|end|>" cannot shadow "<|endoftext|>"; ids break ties for determinism.
  std::stable_sort(t->special_tokens_.begin(), t->special_tokens_.end(),
                   [&](int32_t a, int32_t b) { return t->vocab_.text(a).size() > t->vocab_.text(b).size(); });

  for (int32_t id : {t->eos_id_, t->eot_id_}) {
    if (id >= 0) t->end_of_generation_.push_back(id);
  }
  for (const char* name :
       {"<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "<|end|>", "</s>", "<end_of_turn>"}) {
    const int32_t id = t->vocab_.Find(name);
    if (id >= 0 && t->vocab_.type(id) == TokenType::kControl) t->end_of_generation_.push_back(id);
  }
  return t;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), id) != end_of_generation_.end();
}

std::vector<Tokenizer::Fragment> Tokenizer::SplitSpecial(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({text, -1});
  for (int32_t id : special_tokens_) {
    const TokenType type = vocab_.type(id);
    if (!parse_special && type != TokenType::kUserDefined) continue;
    const std::string& needle = vocab_.text(id);
    std::vector<Fragment> next;
    bool found = false;
    for (const Fragment& frag : fragments) {
      if (frag.token >= 0 || frag.text.size() < needle.size()) {
        next.push_back(frag);
        continue;
      }
      std::string_view rest = frag.text;
      size_t pos;
      while ((pos = rest.find(needle)) != std::string_view::npos) {
        found = true;
        if (pos > 0) next.push_back({rest.substr(0, pos), -1});
        next.push_back({{}, id});
        rest.remove_prefix(pos + needle.size());
      }
      if (!rest.empty()) next.push_back({rest, -1});
    }
    if (found) fragments.swap(next);
  }
  return fragments;
}

void Tokenizer::EncodeSpmFragment(std::string_view text, bool add_prefix, std::vector<int32_t>* out) const {
  std::string escaped;
  if (add_prefix) escaped.append(kSpaceMarker);
  ReplaceSpaces(text, &escaped);
  spm_->Encode(escaped, out);
}

void Tokenizer::EncodeBpeFragment(std::string_view text, std::vector<int32_t>* out) const {
  std::string word;
  for (std::string_view piece : pre_->Split(text)) {
    word.clear();
    BpeEncodeBytes(piece, &word);
    if (ignore_merges_) {
      const int32_t id = vocab_.Find(word);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
    }
    bpe_->EncodeWord(word, out);
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
  // The SentencePiece prefix goes before the text and after each special token, as in llama.cpp.
  bool prev_special = true;
  for (const Fragment& frag : SplitSpecial(text, parse_special)) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      prev_special = true;
      continue;
    }
    if (kind_ == TokenizerKind::kSpm) {
      EncodeSpmFragment(frag.text, add_space_prefix_ && prev_special, &out);
    } else {
      EncodeBpeFragment(frag.text, &out);
    }
    prev_special = false;
  }
  if (add_special && add_eos_ && eos_id_ >= 0) out.push_back(eos_id_);
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id, bool render_special) const {
  if (!vocab_.valid(id)) return "";
  const std::string& text = vocab_.text(id);
  switch (vocab_.type(id)) {
    case TokenType::kControl:
      return render_special ? text : "";
    case TokenType::kUnused:
      return "";
    case TokenType::kUnknown:
      // llama.cpp shows an unknown SentencePiece token as U+2585.
      return kind_ == TokenizerKind::kSpm ? "\xE2\x96\x85" : text;
    case TokenType::kUserDefined:
      return text;
    case TokenType::kByte:
      if (kind_ == TokenizerKind::kSpm && text.size() == 6 && text.starts_with("<0x") && text.back() == '>') {
        const int hi = std::isxdigit(static_cast<unsigned char>(text[3])) ? 1 : 0;
        const int lo = std::isxdigit(static_cast<unsigned char>(text[4])) ? 1 : 0;
        if (hi && lo) {
          return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
        }
      }
      [[fallthrough]];
    case TokenType::kNormal:
    case TokenType::kUndefined:
      break;
  }
  if (kind_ == TokenizerKind::kBpe) return BpeDecodeText(text);
  std::string piece;
  piece.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
      piece.push_back(' ');
      pos += kSpaceMarker.size();
    } else {
      piece.push_back(text[pos++]);
    }
  }
  return piece;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, DecodeOptions options) const {
  std::string out;
  bool strip = options.strip_leading_space && kind_ == TokenizerKind::kSpm && add_space_prefix_;
  for (int32_t id : ids) {
    std::string piece = TokenToPiece(id, options.render_special);
    if (piece.empty()) continue;
    if (strip) {
      if (piece[0] == ' ') piece.erase(0, 1);
      strip = false;
    }
    out += piece;
  }
  return out;
}

std::string TokenizeToLine(const Tokenizer& tokenizer, std::string_view text, bool no_bos) {
  const std::vector<int32_t> ids = tokenizer.Encode(text, !no_bos, /*parse_special=*/true);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line.push_back(' ');
    line += std::to_string(ids[i]);
  }
  return line;
}

}  // namespace aperture::engine
