#include "engine/model/llama_config.h"

#include <cmath>
#include <numbers>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::engine {

absl::StatusOr<LlamaConfig> LlamaConfig::FromGguf(const GgufFile& f) {
  ASSIGN_OR_RETURN(std::string arch, f.GetString("general.architecture"));
  if (arch != "llama") {
    return absl::InvalidArgumentError(
        fmt::format("model architecture '{}' is not supported (only 'llama' models are)", arch));
  }
  LlamaConfig c;
  ASSIGN_OR_RETURN(uint32_t n_layers, f.GetUint32("llama.block_count"));
  ASSIGN_OR_RETURN(uint32_t dim, f.GetUint32("llama.embedding_length"));
  ASSIGN_OR_RETURN(uint32_t n_heads, f.GetUint32("llama.attention.head_count"));
  ASSIGN_OR_RETURN(uint32_t n_kv, f.GetUint32Or("llama.attention.head_count_kv", n_heads));
  ASSIGN_OR_RETURN(uint32_t ffn, f.GetUint32("llama.feed_forward_length"));
  ASSIGN_OR_RETURN(uint32_t ctx, f.GetUint32Or("llama.context_length", 0));
  ASSIGN_OR_RETURN(c.rms_eps, f.GetFloat32Or("llama.attention.layer_norm_rms_epsilon", 1e-5f));
  ASSIGN_OR_RETURN(c.rope_base, f.GetFloat32Or("llama.rope.freq_base", 10000.f));
  constexpr uint32_t kMax = 1u << 20;
  if (n_layers == 0 || n_layers > 4096 || dim == 0 || dim > kMax || n_heads == 0 || n_heads > dim || n_kv == 0 ||
      n_heads % n_kv != 0 || dim % n_heads != 0 || ffn == 0 || ffn > kMax) {
    return absl::InvalidArgumentError(
        fmt::format("inconsistent llama hyperparameters: block_count={} embedding_length={} head_count={} "
                    "head_count_kv={} feed_forward_length={}",
                    n_layers, dim, n_heads, n_kv, ffn));
  }
  c.n_layers = static_cast<int>(n_layers);
  c.dim = static_cast<int>(dim);
  c.n_heads = static_cast<int>(n_heads);
  c.n_kv_heads = static_cast<int>(n_kv);
  c.head_dim = c.dim / c.n_heads;
  c.ffn_dim = static_cast<int>(ffn);
  c.context_length = static_cast<int>(std::min<uint32_t>(ctx, kMax));
  ASSIGN_OR_RETURN(uint32_t rope_dim, f.GetUint32Or("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim)));
  if (rope_dim == 0 || rope_dim > static_cast<uint32_t>(c.head_dim) || rope_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        fmt::format("llama.rope.dimension_count {} must be even and at most the head size {}", rope_dim, c.head_dim));
  }
  c.rope_dim = static_cast<int>(rope_dim);
  if (!(c.rope_base > 0) || !(c.rms_eps >= 0)) {
    return absl::InvalidArgumentError(
        "llama.rope.freq_base must be positive and the RMS epsilon "
        "non-negative");
  }
  ASSIGN_OR_RETURN(c.rope_scaling, f.GetStringOr("llama.rope.scaling.type", "none"));
  ASSIGN_OR_RETURN(c.rope_factor, f.GetFloat32Or("llama.rope.scaling.factor", 1.f));
  ASSIGN_OR_RETURN(c.rope_low_freq_factor, f.GetFloat32Or("llama.rope.scaling.low_freq_factor", 1.f));
  ASSIGN_OR_RETURN(c.rope_high_freq_factor, f.GetFloat32Or("llama.rope.scaling.high_freq_factor", 4.f));
  ASSIGN_OR_RETURN(uint32_t orig_ctx, f.GetUint32Or("llama.rope.scaling.original_context_length", 8192));
  c.rope_original_context = static_cast<int>(std::min<uint32_t>(orig_ctx, kMax));
  // Llama 3.1 files written with the scaling keys but no explicit type.
  if (c.rope_scaling == "none" && f.Has("llama.rope.scaling.low_freq_factor")) c.rope_scaling = "llama3";
  if (c.rope_scaling != "none" && c.rope_scaling != "linear" && c.rope_scaling != "llama3") {
    return absl::InvalidArgumentError(
        fmt::format("llama.rope.scaling.type '{}' is not supported (none, linear, llama3)", c.rope_scaling));
  }
  if (!(c.rope_factor > 0) || !(c.rope_high_freq_factor > c.rope_low_freq_factor)) {
    return absl::InvalidArgumentError("RoPE scaling factors are out of range");
  }

  const GgufTensor* embd = f.FindTensor("token_embd.weight");
  if (embd == nullptr || embd->dims.size() != 2 || embd->dims[0] != c.dim) {
    return absl::InvalidArgumentError("token_embd.weight is missing or not [embedding_length, vocab]");
  }
  c.vocab_size = static_cast<int>(embd->dims[1]);
  c.tied_output = f.FindTensor("output.weight") == nullptr;
  return c;
}

std::vector<double> LlamaConfig::RopeInverseFrequencies(const float* freq_factors) const {
  std::vector<double> inv(rope_dim / 2);
  for (int i = 0; i < rope_dim / 2; ++i) {
    double f = std::pow(static_cast<double>(rope_base), -2.0 * i / rope_dim);
    if (rope_scaling == "linear") {
      f /= rope_factor;
    } else if (rope_scaling == "llama3" && freq_factors == nullptr) {
      const double wavelen = 2 * std::numbers::pi / f;
      const double low_wavelen = rope_original_context / rope_low_freq_factor;
      const double high_wavelen = rope_original_context / rope_high_freq_factor;
      if (wavelen > low_wavelen) {
        f /= rope_factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (rope_original_context / wavelen - rope_low_freq_factor) / (rope_high_freq_factor - rope_low_freq_factor);
        f = (1 - smooth) * f / rope_factor + smooth * f;
      }
    }
    if (freq_factors != nullptr) f /= freq_factors[i];
    inv[i] = f;
  }
  return inv;
}

}  // namespace aperture::engine
