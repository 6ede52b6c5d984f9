// Architecture: what one model family's decoder layer does differently from
// Llama's, as flags and optional parts of the one forward pass (runner.cpp)
// rather than a forward pass of its own. Each entry is read from the GGUF
// metadata keys and tensor names that llama.cpp's converters write for
// `general.architecture`:
//
//   llama   RMSNorm, RoPE on adjacent pairs (the converter permutes Q/K for
//           it), SwiGLU; optional Q/K/V biases; Llama 3 / linear RoPE scaling
//   qwen2   as llama with RoPE on halves (NeoX) and biases on Q/K/V
//   qwen3   as qwen2 without biases, RMSNorm on each head of Q and K before RoPE
//   phi3    fused attn_qkv and ffn_up ([gate | up]), RoPE on halves over the
//           first rope.dimension_count dimensions, LongRoPE factors
//           (rope_factors_long/short) with rope.scaling.attn_factor
//   gemma2  embeddings times sqrt(d_model), norms before and after attention
//           and the MLP, GeGLU (tanh GELU), attention and final logit
//           soft-capping, sliding-window attention on even layers
//   gemma3  as gemma2 without soft-capping (final capping when the file has
//           it), per-head Q/K norms, five sliding-window layers in six with
//           their own RoPE base (10000, unscaled)
//
// Gemma's norms multiply by (1 + weight); llama.cpp's converter stores
// 1 + weight, so every architecture's norm is x / rms(x) * stored weight.
// Gemma's query scale (query_pre_attn_scalar) is not in the file: as in
// llama.cpp it is 1/sqrt(d_model / n_heads) for the 27B shapes (46 layers
// for gemma2, 62 for gemma3) and 1/sqrt(head size) otherwise.
//
// Adding an architecture: a row in kArchitectures (architecture.cpp), the
// tensors it needs in LlamaModel::LoadWeights, a generator branch in
// test_model.cpp and the same steps in the float64 reference
// (reference_test_util.h); docs/engine.md says more.
//
// Thread-safety: immutable tables; thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace aperture::engine {

// Which pairs of a head's first rope_dim dimensions RoPE rotates together.
enum class RopeLayout {
  kAdjacentPairs,  // (2i, 2i+1): llama.cpp's "norm" RoPE
  kHalves,         // (i, i + rope_dim/2): NeoX style
};

enum class FfnActivation {
  kSilu,      // SwiGLU: silu(gate) * up
  kGeluTanh,  // GeGLU: gelu_tanh(gate) * up
};

struct Architecture {
  std::string_view name;  // general.architecture, and the prefix of its metadata keys
  RopeLayout rope_layout;
  FfnActivation activation;
  bool fused_qkv;         // attn_qkv.weight ([q | k | v]) accepted in place of attn_q/k/v
  bool fused_gate_up;     // ffn_up.weight holds [gate | up] (2 * feed_forward_length rows), no ffn_gate
  bool qk_norm;           // attn_q_norm / attn_k_norm: RMSNorm over each head, before RoPE
  bool post_norms;        // post_attention_norm / post_ffw_norm on each sublayer's output
  bool scale_embeddings;  // embeddings times sqrt(d_model)
  bool softcaps;          // {arch}.attn_logit_softcapping and final_logit_softcapping
  bool final_softcap;     // {arch}.final_logit_softcapping only
  int swa_period;         // sliding-window layers: l % swa_period < swa_period - 1 (0: none)
  float swa_rope_base;    // the sliding-window layers' own unscaled RoPE base (0: the global one)
  int gemma_27b_layers;   // block_count of the shape whose query scale is 1/sqrt(d_model / n_heads) (0: none)
  bool longrope;          // rope_factors_long / rope_factors_short and rope.scaling.attn_factor
};

// The architecture named `name`, or nullptr.
const Architecture* FindArchitecture(std::string_view name);

// Every architecture the engine runs, in the order docs list them.
std::span<const Architecture> Architectures();

}  // namespace aperture::engine
