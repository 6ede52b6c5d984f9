#include "engine/model/llama_config.h"

#include <cmath>
#include <numbers>

#include "core/status_macros.h"
#include "engine/model/hooks.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

std::string KnownArchitectures() {
  std::string names;
  for (const Architecture& a : Architectures()) names += (names.empty() ? "" : ", ") + std::string(a.name);
  return names;
}

}  // namespace

unsigned LlamaConfig::site_features() const {
  return (post_norms ? kSitePostNorms : 0u) | (qk_norm ? kSiteQkNorms : 0u);
}

absl::StatusOr<LlamaConfig> LlamaConfig::FromGguf(const GgufFile& f) {
  ASSIGN_OR_RETURN(std::string arch_name, f.GetString("general.architecture"));
  const Architecture* arch = FindArchitecture(arch_name);
  if (arch == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("model architecture '{}' is not supported (the engine runs {})", arch_name, KnownArchitectures()));
  }
  LlamaConfig c;
  c.arch = arch_name;
  c.rope_layout = arch->rope_layout;
  c.activation = arch->activation;
  c.qk_norm = arch->qk_norm;
  c.post_norms = arch->post_norms;
  const std::string p = arch_name + ".";
  ASSIGN_OR_RETURN(uint32_t n_layers, f.GetUint32(p + "block_count"));
  ASSIGN_OR_RETURN(uint32_t dim, f.GetUint32(p + "embedding_length"));
  ASSIGN_OR_RETURN(uint32_t n_heads, f.GetUint32(p + "attention.head_count"));
  ASSIGN_OR_RETURN(uint32_t n_kv, f.GetUint32Or(p + "attention.head_count_kv", n_heads));
  ASSIGN_OR_RETURN(uint32_t ffn, f.GetUint32(p + "feed_forward_length"));
  ASSIGN_OR_RETURN(uint32_t ctx, f.GetUint32Or(p + "context_length", 0));
  ASSIGN_OR_RETURN(c.rms_eps, f.GetFloat32Or(p + "attention.layer_norm_rms_epsilon", 1e-5f));
  ASSIGN_OR_RETURN(c.rope_base, f.GetFloat32Or(p + "rope.freq_base", 10000.f));
  constexpr uint32_t kMax = 1u << 20;
  if (n_layers == 0 || n_layers > 4096 || dim == 0 || dim > kMax || n_heads == 0 || n_heads > dim || n_kv == 0 ||
      n_heads % n_kv != 0 || ffn == 0 || ffn > kMax) {
    return absl::InvalidArgumentError(
        fmt::format("inconsistent {} hyperparameters: block_count={} embedding_length={} head_count={} "
                    "head_count_kv={} feed_forward_length={}",
                    arch_name, n_layers, dim, n_heads, n_kv, ffn));
  }
  ASSIGN_OR_RETURN(uint32_t key_length, f.GetUint32Or(p + "attention.key_length", dim / n_heads));
  ASSIGN_OR_RETURN(uint32_t value_length, f.GetUint32Or(p + "attention.value_length", key_length));
  if (key_length == 0 || key_length > 4096 || (!f.Has(p + "attention.key_length") && dim % n_heads != 0)) {
    return absl::InvalidArgumentError(
        fmt::format("{}.attention.key_length {} (or embedding_length / head_count) is not a usable head size",
                    arch_name, key_length));
  }
  if (value_length != key_length) {
    return absl::InvalidArgumentError(
        fmt::format("{}.attention.value_length {} differs from key_length {}: heads whose values and keys differ in "
                    "size are not supported",
                    arch_name, value_length, key_length));
  }
  c.n_layers = static_cast<int>(n_layers);
  c.dim = static_cast<int>(dim);
  c.n_heads = static_cast<int>(n_heads);
  c.n_kv_heads = static_cast<int>(n_kv);
  c.head_dim = static_cast<int>(key_length);
  c.ffn_dim = static_cast<int>(ffn);
  c.context_length = static_cast<int>(std::min<uint32_t>(ctx, kMax));
  ASSIGN_OR_RETURN(uint32_t rope_dim, f.GetUint32Or(p + "rope.dimension_count", static_cast<uint32_t>(c.head_dim)));
  if (rope_dim == 0 || rope_dim > static_cast<uint32_t>(c.head_dim) || rope_dim % 2 != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "{}.rope.dimension_count {} must be even and at most the head size {}", arch_name, rope_dim, c.head_dim));
  }
  c.rope_dim = static_cast<int>(rope_dim);
  if (!(c.rope_base > 0) || !(c.rms_eps >= 0)) {
    return absl::InvalidArgumentError(
        fmt::format("{}.rope.freq_base must be positive and the RMS epsilon non-negative", arch_name));
  }
  ASSIGN_OR_RETURN(c.rope_scaling, f.GetStringOr(p + "rope.scaling.type", "none"));
  ASSIGN_OR_RETURN(c.rope_factor, f.GetFloat32Or(p + "rope.scaling.factor", 1.f));
  ASSIGN_OR_RETURN(c.rope_low_freq_factor, f.GetFloat32Or(p + "rope.scaling.low_freq_factor", 1.f));
  ASSIGN_OR_RETURN(c.rope_high_freq_factor, f.GetFloat32Or(p + "rope.scaling.high_freq_factor", 4.f));
  ASSIGN_OR_RETURN(uint32_t orig_ctx, f.GetUint32Or(p + "rope.scaling.original_context_length", 8192));
  c.rope_original_context = static_cast<int>(std::min<uint32_t>(orig_ctx, kMax));
  ASSIGN_OR_RETURN(c.rope_attn_factor, f.GetFloat32Or(p + "rope.scaling.attn_factor", 1.f));
  // Llama 3.1 files written with the scaling keys but no explicit type.
  if (c.rope_scaling == "none" && f.Has(p + "rope.scaling.low_freq_factor")) c.rope_scaling = "llama3";
  // A factor of 1 scales nothing, whatever the type says (converters write
  // "linear" with factor 1 for unscaled models).
  if (c.rope_factor == 1.f && c.rope_scaling == "linear") c.rope_scaling = "none";
  if (c.rope_scaling != "none" && c.rope_scaling != "linear" && c.rope_scaling != "llama3") {
    return absl::InvalidArgumentError(
        fmt::format("{}.rope.scaling.type '{}' is not supported (none, linear, llama3)", arch_name, c.rope_scaling));
  }
  if (c.rope_scaling == "llama3" && arch_name != "llama") {
    return absl::InvalidArgumentError(
        fmt::format("{}.rope.scaling.type 'llama3' is only defined for llama models", arch_name));
  }
  if (!(c.rope_factor > 0) || !(c.rope_high_freq_factor > c.rope_low_freq_factor) || !(c.rope_attn_factor > 0) ||
      c.rope_original_context < 1) {
    return absl::InvalidArgumentError(fmt::format("{} RoPE scaling factors are out of range", arch_name));
  }
  if (!arch->longrope && c.rope_attn_factor != 1.f) {
    return absl::InvalidArgumentError(
        fmt::format("{}.rope.scaling.attn_factor is not supported for {} models", arch_name, arch_name));
  }

  // Attention: scale, soft-capping, sliding windows.
  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (arch->gemma_27b_layers > 0 && c.n_layers == arch->gemma_27b_layers) {
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.dim / c.n_heads));
  }
  if (arch->scale_embeddings) c.embedding_scale = std::sqrt(static_cast<float>(c.dim));
  if (arch->softcaps) {  // llama.cpp's defaults when the keys are absent
    ASSIGN_OR_RETURN(c.attn_softcap, f.GetFloat32Or(p + "attn_logit_softcapping", 50.f));
    ASSIGN_OR_RETURN(c.final_softcap, f.GetFloat32Or(p + "final_logit_softcapping", 30.f));
  } else if (arch->final_softcap) {
    ASSIGN_OR_RETURN(c.final_softcap, f.GetFloat32Or(p + "final_logit_softcapping", 0.f));
  }
  if (!(c.attn_softcap >= 0) || !(c.final_softcap >= 0)) {
    return absl::InvalidArgumentError(fmt::format("{} logit soft-capping values must be non-negative", arch_name));
  }
  if (arch->swa_period > 0) {
    ASSIGN_OR_RETURN(uint32_t window, f.GetUint32Or(p + "attention.sliding_window", 0));
    c.sliding_window = static_cast<int>(std::min<uint32_t>(window, kMax));
    if (c.sliding_window > 0) {
      c.layer_sliding.resize(c.n_layers);
      for (int l = 0; l < c.n_layers; ++l) c.layer_sliding[l] = l % arch->swa_period < arch->swa_period - 1;
      c.rope_base_swa = arch->swa_rope_base;
    }
  }
  // Phi-3's sliding_window key is read by llama.cpp and then ignored (its
  // sliding window is off); the engine does the same, so both attend to
  // every position.

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

std::vector<double> LlamaConfig::SwaRopeInverseFrequencies() const {
  std::vector<double> inv(rope_dim / 2);
  for (int i = 0; i < rope_dim / 2; ++i) inv[i] = std::pow(static_cast<double>(rope_base_swa), -2.0 * i / rope_dim);
  return inv;
}

}  // namespace aperture::engine
