// Tokenizer: text <-> token ids for a model, built from its GGUF metadata
// (tokenizer.ggml.*). Two models are supported:
//   "llama": SentencePiece BPE by scores, with byte fallback (<0xXX>) and
//            the leading-space prefix (U+2581), as llama.cpp encodes it;
//   "gpt2":  byte-level BPE with tokenizer.ggml.merges, after the
//            pre-tokenizer regexes that tokenizer.ggml.pre names
//            (gpt-2, llama-bpe (Llama 3), qwen2, starcoder/smollm, ...).
// Control, user-defined and unknown tokens written in the input are matched
// as whole tokens (longest first): user-defined ones always, control ones
// only when parse_special is set, as llama.cpp does.
//
// Invalid UTF-8 input is kept byte for byte (SentencePiece byte fallback;
// byte-level BPE spells every byte), so Decode(Encode(x)) == x for any x
// (llama.cpp instead turns invalid bytes into U+FFFD for "gpt2"), with one
// exception inherent to SentencePiece: a literal U+2581 in the input of a
// "llama" vocabulary comes back as a space.
//
// Usage:
//   ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::FromGguf(*gguf));
//   std::vector<int32_t> ids = tok->Encode(prompt, /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok->Decode(ids);
//   // for streaming, see IncrementalDecoder.
//
// Thread-safe: immutable after construction; Encode/Decode may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/bpe_encoder.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/spm_encoder.h"
#include "engine/tokenizer/vocab.h"

namespace aperture::engine {

enum class TokenizerKind { kSpm, kBpe };

struct DecodeOptions {
  // Render control tokens (<s>, <|eot_id|>, ...) as their text; otherwise they produce nothing.
  bool render_special = false;
  // For SentencePiece vocabularies with the space prefix: drop the one space
  // the encoder added in front of the text (from the first piece with output).
  // Turn off when decoding a continuation (e.g. generated tokens after a prompt).
  bool strip_leading_space = true;
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.{model,tokens,scores,token_type,merges,pre,
  // bos_token_id,eos_token_id,unknown_token_id,padding_token_id,eot_token_id,
  // add_bos_token,add_eos_token,add_space_prefix}. Errors name the key.
  // A special-token id of 0xFFFFFFFF or outside the vocabulary counts as absent.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  // The encoders point into vocab_, so a Tokenizer stays where it was built.
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text`. With `add_special`, BOS and EOS are added when the
  // model's metadata asks for them (add_bos_token / add_eos_token; defaults:
  // BOS for "llama" and Llama 3 BPE, no EOS). With `parse_special`, control
  // tokens written in the text ("<s>", "<|eot_id|>") become those tokens.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // Text of `ids` (raw bytes; may hold broken UTF-8 if the ids split a
  // character). Out-of-range ids produce nothing.
  std::string Decode(std::span<const int32_t> ids, DecodeOptions options = {}) const;

  // Bytes one token stands for (no space stripping). Out-of-range: "".
  std::string TokenToPiece(int32_t id, bool render_special = false) const;

  TokenizerKind kind() const { return kind_; }
  int32_t n_vocab() const { return vocab_.size(); }
  const Vocab& vocab() const { return vocab_; }
  const std::string& token_text(int32_t id) const { return vocab_.text(id); }
  TokenType token_type(int32_t id) const { return vocab_.type(id); }

  // -1 when the model has none.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t eot_id() const { return eot_id_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  // True for tokens that end generation: EOS, EOT, and control tokens
  // spelled <|eot_id|>, <|end_of_text|>, <|endoftext|>, <|im_end|>, <|end|>, </s>.
  bool IsEndOfGeneration(int32_t id) const;

 private:
  Tokenizer() = default;
  struct Fragment {
    std::string_view text;  // raw text, when token < 0
    int32_t token = -1;
  };
  std::vector<Fragment> SplitSpecial(std::string_view text, bool parse_special) const;
  void EncodeSpmFragment(std::string_view text, bool add_prefix, std::vector<int32_t>* out) const;
  void EncodeBpeFragment(std::string_view text, std::vector<int32_t>* out) const;

  TokenizerKind kind_ = TokenizerKind::kSpm;
  Vocab vocab_;
  std::optional<SpmEncoder> spm_;
  std::optional<BpeEncoder> bpe_;
  std::unique_ptr<PreTokenizer> pre_;
  bool ignore_merges_ = false;           // Llama 3: a word that is a token is taken whole
  std::vector<int32_t> special_tokens_;  // control/user-defined/unknown, longest first
  std::vector<int32_t> end_of_generation_;
  int32_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1, pad_id_ = -1, eot_id_ = -1;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
};

// `aperture tokenize`: ids of `text` separated by single spaces (BOS per the
// model unless `no_bos`), parsing special tokens as llama.cpp's tool does.
std::string TokenizeToLine(const Tokenizer& tokenizer, std::string_view text, bool no_bos);

}  // namespace aperture::engine
