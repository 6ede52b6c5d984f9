// Generates Llama GGUF files with seeded random weights and a small working
// SentencePiece-style vocabulary, for tests and benchmarks at any size (the
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
};

// Checks the spec (sizes, divisibility by the type's block size).
absl::Status ValidateTestModelSpec(const TestModelSpec& spec);

// Builds the GGUF in a writer (weights included).
absl::StatusOr<GgufWriter> BuildTestModel(const TestModelSpec& spec);

// Writes the model to `path`.
absl::Status WriteTestModel(const TestModelSpec& spec, const std::string& path);

}  // namespace aperture::engine
