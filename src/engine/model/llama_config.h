// LlamaConfig: the hyperparameters of a `general.architecture = "llama"`
// GGUF model (Llama 1/2/3, TinyLlama, SmolLM, Mistral without sliding
// window), read and validated from its metadata, and the rotary frequencies
// they imply (including Llama 3 and linear RoPE scaling). A plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_reader.h"

namespace aperture::engine {

struct LlamaConfig {
  int n_layers = 0;
  int dim = 0;  // embedding width
  int n_heads = 0;
  int n_kv_heads = 0;  // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;
  int ffn_dim = 0;
  int vocab_size = 0;
  int context_length = 0;  // trained context (0 when the file does not say)
  float rms_eps = 1e-5f;
  float rope_base = 10000.f;
  int rope_dim = 0;  // leading dimensions of each head that are rotated
  // RoPE scaling: "none", "linear" or "llama3"; rope_freqs.weight factors
  // (when the file has them) are applied in RopeInverseFrequencies.
  std::string rope_scaling = "none";
  float rope_factor = 1.f;
  float rope_low_freq_factor = 1.f;
  float rope_high_freq_factor = 4.f;
  int rope_original_context = 8192;
  bool tied_output = false;  // no output.weight: logits use token_embd.weight

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }

  // Reads and checks the hyperparameters; errors name the key that is wrong.
  static absl::StatusOr<LlamaConfig> FromGguf(const GgufFile& file);

  // rope_dim/2 inverse frequencies (radians per position), after scaling.
  // `freq_factors` (rope_freqs.weight, rope_dim/2 values) divides them when given.
  std::vector<double> RopeInverseFrequencies(const float* freq_factors = nullptr) const;
};

}  // namespace aperture::engine
