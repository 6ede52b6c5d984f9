// GgufSummary: what a person wants to know about a GGUF model file before
// using it (the model page shows it): architecture and its hyperparameters,
// parameter count, file size and how the weights are stored. Read from the
// header only; a hyperparameter the file does not state is 0 (or empty),
// never guessed.
//
// Usage:
//   ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f, GgufFile::Open(path));
//   GgufSummary s = SummarizeGguf(*f);   // s.parameters, s.layers, ...
//
// Thread-safety: a pure function of an immutable GgufFile.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "engine/gguf/gguf_reader.h"

namespace aperture::engine {

struct GgufSummary {
  uint32_t gguf_version = 0;
  std::string architecture;    // general.architecture, e.g. "llama"
  std::string name;            // general.name, when given
  uint64_t layers = 0;         // <arch>.block_count
  uint64_t embedding = 0;      // <arch>.embedding_length
  uint64_t heads = 0;          // <arch>.attention.head_count
  uint64_t kv_heads = 0;       // <arch>.attention.head_count_kv (heads when absent)
  uint64_t feed_forward = 0;   // <arch>.feed_forward_length
  uint64_t context = 0;        // <arch>.context_length (trained context)
  uint64_t vocab = 0;          // tokenizer.ggml.tokens entries
  std::string tokenizer;       // tokenizer.ggml.model, e.g. "llama" (SentencePiece) or "gpt2" (BPE)
  bool chat_template = false;  // tokenizer.chat_template present
  uint64_t parameters = 0;     // elements over every tensor
  uint64_t file_bytes = 0;
  uint64_t tensors = 0;
  // Parameters stored in each tensor type ("f32", "q8_0", ...).
  std::map<std::string, uint64_t> parameters_by_type;
};

GgufSummary SummarizeGguf(const GgufFile& file);

}  // namespace aperture::engine
