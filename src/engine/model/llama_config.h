// LlamaConfig: the hyperparameters of a Llama-family GGUF model (the
// decoder-only transformers of architecture.h: llama, qwen2, qwen3, phi3,
// gemma2, gemma3), read and validated from its metadata under the
// `{general.architecture}.` prefix, and the rotary frequencies they imply
// (Llama 3 and linear RoPE scaling, LongRoPE factors, a separate base for
// sliding-window layers). An architecture or setting the engine does not
// run is an error naming it, never a guess. A plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/model/architecture.h"

namespace aperture::engine {

struct LlamaConfig {
  std::string arch = "llama";  // general.architecture
  RopeLayout rope_layout = RopeLayout::kAdjacentPairs;
  FfnActivation activation = FfnActivation::kSilu;
  bool qk_norm = false;     // RMSNorm over each head of Q and K (attn_q_norm / attn_k_norm)
  bool post_norms = false;  // RMSNorm on the attention and MLP outputs before the residual add

  int n_layers = 0;
  int dim = 0;  // embedding width
  int n_heads = 0;
  int n_kv_heads = 0;  // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;    // {arch}.attention.key_length, else dim / n_heads
  int ffn_dim = 0;
  int vocab_size = 0;
  int context_length = 0;  // trained context (0 when the file does not say)
  float rms_eps = 1e-5f;
  float embedding_scale = 1.f;      // the residual stream starts at embedding * this
  float attn_scale = 0.f;           // q.k is multiplied by this (1/sqrt(head_dim) unless the architecture says)
  float attn_softcap = 0.f;         // scores become c * tanh(scores / c) (0: none)
  float final_softcap = 0.f;        // the same on the logits
  int sliding_window = 0;           // keys a sliding-window layer sees, its own position included (0: none)
  std::vector<bool> layer_sliding;  // per layer: attends within sliding_window

  float rope_base = 10000.f;
  int rope_dim = 0;  // leading dimensions of each head that are rotated
  // RoPE scaling: "none", "linear" or "llama3"; rope_freqs.weight factors
  // (when the file has them) are applied in RopeInverseFrequencies.
  std::string rope_scaling = "none";
  float rope_factor = 1.f;
  float rope_low_freq_factor = 1.f;
  float rope_high_freq_factor = 4.f;
  int rope_original_context = 8192;
  float rope_attn_factor = 1.f;  // LongRoPE: cos and sin are multiplied by it
  float rope_base_swa = 0.f;     // sliding-window layers' own unscaled base (0: as the other layers)
  bool tied_output = false;      // no output.weight: logits use token_embd.weight

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  // Keys layer `layer` attends to behind the current one, plus one (0: all).
  int window(int layer) const { return layer_sliding.empty() || !layer_sliding[layer] ? 0 : sliding_window; }
  // Whether layer `layer` rotates with the sliding-window layers' own base.
  bool uses_swa_rope(int layer) const { return rope_base_swa > 0 && window(layer) > 0; }
  // The hook-site features (hooks.h) this model has.
  unsigned site_features() const;

  // Reads and checks the hyperparameters; errors name the key that is wrong
  // or the architecture / setting that is not supported.
  static absl::StatusOr<LlamaConfig> FromGguf(const GgufFile& file);

  // rope_dim/2 inverse frequencies (radians per position) of the layers
  // that use the global base, after scaling. `freq_factors` (rope_freqs or
  // LongRoPE factors, rope_dim/2 values) divides them when given.
  std::vector<double> RopeInverseFrequencies(const float* freq_factors = nullptr) const;
  // The same for the sliding-window layers' own base (no scaling).
  std::vector<double> SwaRopeInverseFrequencies() const;
};

}  // namespace aperture::engine
