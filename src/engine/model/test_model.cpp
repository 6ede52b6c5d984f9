#include "engine/model/test_model.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include "core/status_macros.h"
#include "engine/kernels/quant_blocks.h"
#include "engine/kernels/quantize.h"
#include "engine/model/architecture.h"
#include "engine/model/test_model_vocab.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

// splitmix64: fast, seedable, identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float Uniform() { return static_cast<float>(static_cast<double>(Next() >> 11) * 0x1.0p-52 - 1.0); }

 private:
  uint64_t state_;
};

// Uniform weights with standard deviation `std` (uniform(-a, a) has std a/sqrt(3)).
std::vector<uint8_t> RandomMatrix(Rng& rng, GgmlType type, int64_t rows, int64_t cols, float std, float offset = 0.f) {
  const size_t row_bytes = RowBytes(type, cols);
  std::vector<uint8_t> out(row_bytes * rows);
  std::vector<float> row(cols);
  const float a = std * std::sqrt(3.f);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = offset + a * rng.Uniform();
    (void)QuantizeRow(type, row.data(), out.data() + r * row_bytes, cols);  // spec validated
  }
  return out;
}

// llama.cpp's choice of layers that get more bits in its _M mixes.
bool UseMoreBits(int layer, int layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// llama.cpp's LLAMA_FTYPE numbering (general.file_type).
int FileType(const TestModelSpec& s) {
  if (s.mix == TypeMix::kQ4_K_M) return 15;
  if (s.mix == TypeMix::kQ5_K_M) return 17;
  switch (s.type) {
    case GgmlType::kF32:
      return 0;
    case GgmlType::kF16:
      return 1;
    case GgmlType::kQ4_0:
      return 2;
    case GgmlType::kQ4_1:
      return 3;
    case GgmlType::kQ8_0:
      return 7;
    case GgmlType::kQ2_K:
      return 10;
    case GgmlType::kQ3_K:
      return 11;  // Q3_K_S: every matrix Q3_K
    case GgmlType::kQ4_K:
      return 14;  // Q4_K_S
    case GgmlType::kQ5_K:
      return 16;  // Q5_K_S
    case GgmlType::kQ6_K:
      return 18;
    case GgmlType::kIQ4_XS:
      return 30;
    case GgmlType::kBF16:
      return 32;
    default:
      return -1;
  }
}

}  // namespace

absl::Status ParseTestModelType(std::string_view name, TestModelSpec* spec) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "q4_k_m" || lower == "q5_k_m") {
    spec->mix = lower == "q4_k_m" ? TypeMix::kQ4_K_M : TypeMix::kQ5_K_M;
    spec->type = lower == "q4_k_m" ? GgmlType::kQ4_K : GgmlType::kQ5_K;
    return absl::OkStatus();
  }
  auto type = GgmlTypeFromName(name);
  if (!type || !CanQuantize(*type)) {
    return absl::InvalidArgumentError(
        fmt::format("unknown tensor type '{}' (f32, f16, bf16, q8_0, q4_0, q4_1, q2_k, q3_k, q4_k, q5_k, q6_k, "
                    "iq4_xs, or the mixes q4_k_m, q5_k_m)",
                    name));
  }
  spec->type = *type;
  spec->mix = TypeMix::kUniform;
  return absl::OkStatus();
}

std::string TestModelTypeName(const TestModelSpec& spec) {
  switch (spec.mix) {
    case TypeMix::kQ4_K_M:
      return "q4_k_m";
    case TypeMix::kQ5_K_M:
      return "q5_k_m";
    case TypeMix::kUniform:
      break;
  }
  return GgmlTypeName(spec.type);
}

GgmlType TensorTypeFor(const TestModelSpec& s, const std::string& name) {
  if (s.mix == TypeMix::kUniform) return s.type;
  const bool output = name == "output.weight" || (s.tied_output && name == "token_embd.weight");
  if (output) return GgmlType::kQ6_K;
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) == 1 &&
      (name.ends_with(".attn_v.weight") || name.ends_with(".ffn_down.weight")) && UseMoreBits(layer, s.layers)) {
    return GgmlType::kQ6_K;
  }
  // A fused Q/K/V (phi3) takes one step more, as llama.cpp's recipe gives it.
  if (name.ends_with(".attn_qkv.weight")) return s.mix == TypeMix::kQ4_K_M ? GgmlType::kQ5_K : GgmlType::kQ6_K;
  return s.type;
}

absl::Status ValidateTestModelSpec(const TestModelSpec& s) {
  const Architecture* arch = FindArchitecture(s.arch);
  if (arch == nullptr) {
    std::string names;
    for (const Architecture& a : Architectures()) names += (names.empty() ? "" : ", ") + std::string(a.name);
    return absl::InvalidArgumentError(fmt::format("unknown architecture '{}' ({})", s.arch, names));
  }
  const int head_dim = s.head_dim > 0 ? s.head_dim : (s.heads > 0 ? s.dim / s.heads : 0);
  if (s.layers < 1 || s.layers > 256 || s.dim < 8 || s.dim > 16384 || s.heads < 1 || s.kv_heads < 1 ||
      s.heads % s.kv_heads != 0 || (s.head_dim == 0 && s.dim % s.heads != 0) || head_dim % 2 != 0 || head_dim < 2 ||
      head_dim > 1024 || s.ffn < 1 || s.ffn > 65536 || s.vocab < 300 || s.vocab > 1000000 || s.context_length < 1) {
    return absl::InvalidArgumentError(
        fmt::format("invalid test model shape: layers={} dim={} heads={} kv_heads={} head_dim={} ffn={} vocab={} "
                    "(need heads dividing dim or a head size, an even head size, kv_heads dividing heads, "
                    "vocab >= 300)",
                    s.layers, s.dim, s.heads, s.kv_heads, head_dim, s.ffn, s.vocab));
  }
  if (s.rope_dim < 0 || s.rope_dim > head_dim || s.rope_dim % 2 != 0 || (s.rope_dim != 0 && s.arch != "phi3")) {
    return absl::InvalidArgumentError(
        fmt::format("rope_dim {} must be even, at most the head size {}, and is set only for phi3 (partial rotary)",
                    s.rope_dim, head_dim));
  }
  if (s.head_dim != 0 && s.arch != "qwen3" && s.arch != "gemma2" && s.arch != "gemma3") {
    return absl::InvalidArgumentError(
        fmt::format("a head size other than dim / heads is written only for qwen3 and gemma (not {})", s.arch));
  }
  if (s.sliding_window < 0 || !(s.attn_softcap > 0) || !(s.final_softcap > 0) || !(s.rope_scale >= 1) ||
      s.original_context < 0 || (s.original_context > 0 && (s.arch != "phi3" || s.original_context < 2))) {
    return absl::InvalidArgumentError(
        "invalid architecture settings: sliding_window >= 0, soft-caps > 0, rope_scale >= 1, original_context "
        "(phi3 only) >= 2");
  }
  if (arch->scale_embeddings && !s.tied_output) {
    return absl::InvalidArgumentError(fmt::format("{} files have no separate output matrix", s.arch));
  }
  if (!CanQuantize(s.type) || (s.mix != TypeMix::kUniform && s.type != GgmlType::kQ4_K && s.type != GgmlType::kQ5_K)) {
    return absl::InvalidArgumentError(
        fmt::format("cannot generate tensors of type {} (f32, f16, bf16, q8_0, q4_0, q4_1, q2_K, q3_K, q4_K, q5_K, "
                    "q6_K, iq4_xs; mixes on q4_K or q5_K)",
                    GgmlTypeName(s.type)));
  }
  // Every matrix's input width is dim or ffn; a mix's Q6_K has the same block.
  const int64_t block = GetGgmlTypeInfo(s.type)->block_size;
  if (s.dim % block != 0 || s.ffn % block != 0 || (static_cast<int64_t>(s.heads) * head_dim) % block != 0) {
    return absl::InvalidArgumentError(
        fmt::format("type {} needs dim, ffn and heads * head_dim to be multiples of {}", TestModelTypeName(s), block));
  }
  return absl::OkStatus();
}

absl::StatusOr<GgufWriter> BuildTestModel(const TestModelSpec& s) {
  RETURN_IF_ERROR(ValidateTestModelSpec(s));
  const Architecture& arch = *FindArchitecture(s.arch);
  const bool gemma = arch.post_norms;
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.dim / s.heads;
  const int rope_dim = s.rope_dim > 0 ? s.rope_dim : head_dim;
  GgufWriter w;
  const std::string k = s.arch + ".";
  w.SetString("general.architecture", s.arch);
  w.SetString("general.name",
              fmt::format("aperture-test-{}-{}L-{}d-{}", s.arch, s.layers, s.dim, TestModelTypeName(s)));
  if (FileType(s) >= 0) w.SetUint32("general.file_type", static_cast<uint32_t>(FileType(s)));
  w.SetUint32(k + "block_count", s.layers);
  w.SetUint32(k + "context_length", s.context_length);
  w.SetUint32(k + "embedding_length", s.dim);
  w.SetUint32(k + "feed_forward_length", s.ffn);
  w.SetUint32(k + "attention.head_count", s.heads);
  w.SetUint32(k + "attention.head_count_kv", s.kv_heads);
  w.SetFloat32(k + "rope.freq_base", s.rope_base);
  w.SetFloat32(k + "attention.layer_norm_rms_epsilon", s.arch == "llama" || s.arch == "phi3" ? 1e-5f : 1e-6f);
  if (s.arch == "llama" || s.arch == "phi3") w.SetUint32(k + "rope.dimension_count", rope_dim);
  if (s.arch == "llama") w.SetUint32(k + "vocab_size", s.vocab);
  if (gemma || s.head_dim > 0) {
    w.SetUint32(k + "attention.key_length", head_dim);
    w.SetUint32(k + "attention.value_length", head_dim);
  }
  if (s.arch == "gemma2") {
    w.SetFloat32(k + "attn_logit_softcapping", s.attn_softcap);
    w.SetFloat32(k + "final_logit_softcapping", s.final_softcap);
  }
  if (gemma)
    w.SetUint32(k + "attention.sliding_window", s.sliding_window > 0 ? s.sliding_window
                                                : s.arch == "gemma2" ? 4096
                                                                     : 512);
  if (s.arch == "gemma3" && s.rope_scale != 1.f) {
    w.SetString(k + "rope.scaling.type", "linear");
    w.SetFloat32(k + "rope.scaling.factor", s.rope_scale);
  }
  if (s.arch == "phi3") {
    w.SetUint32(k + "rope.scaling.original_context_length",
                s.original_context > 0 ? s.original_context : s.context_length);
    w.SetUint32(k + "attention.sliding_window", s.sliding_window);
    if (s.original_context > 0) {  // LongRoPE's attention factor, as the converter computes it
      const double scale = static_cast<double>(s.context_length) / s.original_context;
      w.SetFloat32(k + "rope.scaling.attn_factor",
                   scale > 1 ? static_cast<float>(std::sqrt(1 + std::log(scale) / std::log(s.original_context))) : 1.f);
    }
  }
  RETURN_IF_ERROR(WriteTestVocab(s.arch, s.vocab, w));

  Rng rng(s.seed);
  const int64_t q_dim = static_cast<int64_t>(s.heads) * head_dim, kv_dim = static_cast<int64_t>(s.kv_heads) * head_dim;
  const float std_in = 1.f / std::sqrt(static_cast<float>(s.dim));
  const float std_q = 1.f / std::sqrt(static_cast<float>(q_dim));
  const float std_ffn = 1.f / std::sqrt(static_cast<float>(s.ffn));
  auto add = [&](const std::string& name, std::vector<int64_t> dims, GgmlType type, std::vector<uint8_t> data) {
    return w.AddTensor(name, std::move(dims), type, std::move(data));
  };
  // A matrix of `rows` x `cols` in the type the spec gives `name`.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, float std) {
    const GgmlType type = TensorTypeFor(s, name);
    return add(name, {cols, rows}, type, RandomMatrix(rng, type, rows, cols, std));
  };
  // A norm's gain (stored as llama.cpp stores it: 1 + weight for Gemma) or a bias, in F32.
  auto vector = [&](const std::string& name, int64_t n, float std, float offset) {
    return add(name, {n}, GgmlType::kF32, RandomMatrix(rng, GgmlType::kF32, 1, n, std, offset));
  };
  RETURN_IF_ERROR(matrix("token_embd.weight", s.vocab, s.dim, gemma ? std_in : 1.0f));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    RETURN_IF_ERROR(vector(p + "attn_norm.weight", s.dim, 0.1f, 1.f));
    if (arch.fused_qkv) {
      RETURN_IF_ERROR(matrix(p + "attn_qkv.weight", q_dim + 2 * kv_dim, s.dim, std_in));
    } else {
      RETURN_IF_ERROR(matrix(p + "attn_q.weight", q_dim, s.dim, std_in));
      RETURN_IF_ERROR(matrix(p + "attn_k.weight", kv_dim, s.dim, std_in));
      RETURN_IF_ERROR(matrix(p + "attn_v.weight", kv_dim, s.dim, std_in));
    }
    if (s.arch == "qwen2") {
      RETURN_IF_ERROR(vector(p + "attn_q.bias", q_dim, 0.5f, 0.f));
      RETURN_IF_ERROR(vector(p + "attn_k.bias", kv_dim, 0.5f, 0.f));
      RETURN_IF_ERROR(vector(p + "attn_v.bias", kv_dim, 0.5f, 0.f));
    }
    if (arch.qk_norm) {
      RETURN_IF_ERROR(vector(p + "attn_q_norm.weight", head_dim, 0.1f, 1.f));
      RETURN_IF_ERROR(vector(p + "attn_k_norm.weight", head_dim, 0.1f, 1.f));
    }
    RETURN_IF_ERROR(matrix(p + "attn_output.weight", s.dim, q_dim, std_q));
    if (gemma) RETURN_IF_ERROR(vector(p + "post_attention_norm.weight", s.dim, 0.1f, 1.f));
    RETURN_IF_ERROR(vector(p + "ffn_norm.weight", s.dim, 0.1f, 1.f));
    if (arch.fused_gate_up) {
      RETURN_IF_ERROR(matrix(p + "ffn_up.weight", 2 * int64_t{s.ffn}, s.dim, std_in));
    } else {
      RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", s.ffn, s.dim, std_in));
      RETURN_IF_ERROR(matrix(p + "ffn_up.weight", s.ffn, s.dim, std_in));
    }
    RETURN_IF_ERROR(matrix(p + "ffn_down.weight", s.dim, s.ffn, std_ffn));
    if (gemma) RETURN_IF_ERROR(vector(p + "post_ffw_norm.weight", s.dim, 0.1f, 1.f));
  }
  RETURN_IF_ERROR(vector("output_norm.weight", s.dim, 0.1f, 1.f));
  if (!s.tied_output) RETURN_IF_ERROR(matrix("output.weight", s.vocab, s.dim, std_in));
  if (s.original_context > 0) {  // LongRoPE: factors >= 1 that stretch the slow dimensions most
    RETURN_IF_ERROR(vector("rope_factors_short.weight", rope_dim / 2, 0.2f, 1.4f));
    RETURN_IF_ERROR(vector("rope_factors_long.weight", rope_dim / 2, 2.f, 5.f));
  }
  return w;
}

absl::Status WriteTestModel(const TestModelSpec& spec, const std::string& path) {
  ASSIGN_OR_RETURN(GgufWriter w, BuildTestModel(spec));
  return w.WriteFile(path);
}

}  // namespace aperture::engine
