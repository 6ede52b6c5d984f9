// Generates Llama GGUF files with seeded random weights and a small working
// SentencePiece-style vocabulary, for tests and benchmarks at any size (the
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
  // when the output is tied).
  kQ4_K_M,
  kQ5_K_M,
};

struct TestModelSpec {
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
