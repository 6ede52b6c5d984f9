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
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_writer.h"

namespace aperture::engine {

// Which type each matrix takes.
enum class TypeMix {
  kUniform,  // every matrix `type`
  // llama.cpp's Q4_K_M / Q5_K_M recipes: Q4_K / Q5_K, except attn_v and
  // ffn_down of the first and last eighth of the layers and of every third
  // layer between (Q6_K), and the output matrix (Q6_K; the embedding matrix
  // when the output is tied); a fused attn_qkv (phi3) one step up (Q5_K / Q6_K).
  kQ4_K_M,
  kQ5_K_M,
};

struct TestModelSpec {
  std::string arch = "llama";  // general.architecture
  int layers = 2;
  int dim = 64;
  int heads = 4;
  int kv_heads = 2;
  int ffn = 128;
  int vocab = 512;                 // at least 300 (bytes, specials and some pieces)
  GgmlType type = GgmlType::kF32;  // of every matrix (norms stay F32), or the base of `mix`
  TypeMix mix = TypeMix::kUniform;
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

// Reads a `--type` name: a ggml type name ("q4_K", case-insensitive) or a
// mix ("q4_k_m", "q5_k_m"), setting spec->type and spec->mix.
absl::Status ParseTestModelType(std::string_view name, TestModelSpec* spec);

// The name ParseTestModelType reads for the spec's type and mix ("q4_K", "q4_k_m").
std::string TestModelTypeName(const TestModelSpec& spec);

// The type the spec gives tensor `name` ("blk.3.ffn_down.weight") of `layers` layers.
GgmlType TensorTypeFor(const TestModelSpec& spec, const std::string& name);

// Checks the spec (sizes, divisibility by the types' block sizes).
absl::Status ValidateTestModelSpec(const TestModelSpec& spec);

// Builds the GGUF in a writer (weights included).
absl::StatusOr<GgufWriter> BuildTestModel(const TestModelSpec& spec);

// Writes the model to `path`.
absl::Status WriteTestModel(const TestModelSpec& spec, const std::string& path);

}  // namespace aperture::engine
