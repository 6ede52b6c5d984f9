// Generates GGUF files of any architecture of architecture.h with seeded
// random weights, the metadata keys and tensor names llama.cpp's converters
// write for that architecture (so llama.cpp loads them too), and a small
// working vocabulary in the family's form with its chat template
// (test_model_vocab.h), for tests and benchmarks at any size (the
// `aperture model make-test` command). Their output is random text.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_writer.h"

namespace aperture::engine {

struct TestModelSpec {
  std::string arch = "llama";  // general.architecture
  int layers = 2;
  int dim = 64;
  int heads = 4;
  int kv_heads = 2;
  int ffn = 128;
  int vocab = 512;                 // at least 300 (bytes, specials and some pieces)
  GgmlType type = GgmlType::kF32;  // of every matrix (norms stay F32)
  uint64_t seed = 1;
  bool tied_output = true;
  int context_length = 2048;
  float rope_base = 10000.f;
  // Architecture-specific shapes (0 / defaults: the family's usual form).
  int head_dim = 0;            // 0: dim / heads; else written as attention.key_length (qwen3, gemma)
  int rope_dim = 0;            // 0: the whole head; phi3 may rotate part of it (Phi-4-mini)
  int sliding_window = 0;      // gemma2/3 window (0: 4096 / 512); phi3 writes it as its converter does
  float attn_softcap = 50.f;   // gemma2
  float final_softcap = 30.f;  // gemma2
  float rope_scale = 1.f;      // gemma3: linear RoPE scaling of the global layers
  int original_context = 0;    // phi3: > 0 writes LongRoPE factors and rope.scaling.attn_factor
};

// Checks the spec (sizes, divisibility by the type's block size).
absl::Status ValidateTestModelSpec(const TestModelSpec& spec);

// Builds the GGUF in a writer (weights included).
absl::StatusOr<GgufWriter> BuildTestModel(const TestModelSpec& spec);

// Writes the model to `path`.
absl::Status WriteTestModel(const TestModelSpec& spec, const std::string& path);

}  // namespace aperture::engine
