// The tokenizer half of a generated test model (test_model.h): a small
// working vocabulary in the form each family's files carry it, with the
// family's special tokens and chat template, written as the tokenizer.*
// metadata llama.cpp's converters write:
//   llama          SentencePiece BPE by scores, <unk> <s> </s>, BOS added, no template
//   phi3           the same plus <|endoftext|> <|assistant|> <|end|> <|user|>
//                  <|system|>, no BOS, Phi-3's template
//   gemma2/gemma3  SentencePiece without the space prefix, <pad> <eos> <bos>
//                  <unk> <start_of_turn> <end_of_turn>, BOS added, Gemma's template
//   qwen2/qwen3    byte-level BPE with merges and the qwen2 pre-tokenizer,
//                  <|endoftext|> <|im_start|> <|im_end|>, no BOS, ChatML
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "engine/gguf/gguf_writer.h"

namespace aperture::engine {

// Writes the tokenizer.* keys of an `arch` model with `vocab` tokens (at
// least 300). InvalidArgument for an architecture without a vocabulary form.
absl::Status WriteTestVocab(const std::string& arch, int vocab, GgufWriter& w);

}  // namespace aperture::engine
