#include "engine/model/test_model.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include "core/status_macros.h"
#include "engine/kernels/quant_blocks.h"
#include "engine/kernels/quantize.h"
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

// A SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte tokens,
// then pieces (with every prefix of a word present, so BPE merges reach it).
void BuildVocab(int vocab, std::vector<std::string>* tokens, std::vector<float>* scores, std::vector<int32_t>* types) {
  const std::string kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
  tokens->clear();
  scores->clear();
  types->clear();
  std::set<std::string> seen;
  auto add = [&](const std::string& piece, float score, int32_t type) {
    if (static_cast<int>(tokens->size()) >= vocab || !seen.insert(piece).second) return;
    tokens->push_back(piece);
    scores->push_back(score);
    types->push_back(type);
  };
  add("<unk>", 0.f, 2);
  add("<s>", 0.f, 3);
  add("</s>", 0.f, 3);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0.f, 6);
  float score = -1.f;
  auto piece = [&](const std::string& p) { add(p, score, 1), score -= 1.f; };
  piece(kSpace);
  for (char ch = 'a'; ch <= 'z'; ++ch) piece(std::string(1, ch));
  for (char ch = 'A'; ch <= 'Z'; ++ch) piece(std::string(1, ch));
  for (char ch : std::string("0123456789.,!?'\"-:;()")) piece(std::string(1, ch));
  static const char* kWords[] = {"the",   "and",   "was",  "she",  "he",   "they", "to",     "of",     "a",    "in",
                                 "it",    "with",  "said", "once", "upon", "time", "there",  "little", "girl", "boy",
                                 "day",   "happy", "big",  "her",  "his",  "play", "friend", "saw",    "had",  "very",
                                 "named", "dog",   "cat",  "sun",  "tree", "ball", "mom",    "wanted", "went", "so",
                                 "on",    "for",   "but",  "then", "is",   "you",  "not"};
  for (const char* w : kWords) {
    const std::string word = kSpace + w;
    for (size_t n = kSpace.size() + 1; n <= word.size(); ++n) piece(word.substr(0, n));
  }
  // Fill the rest with synthetic two- and three-letter pieces.
  for (char a = 'a'; a <= 'z' && static_cast<int>(tokens->size()) < vocab; ++a)
    for (char b = 'a'; b <= 'z' && static_cast<int>(tokens->size()) < vocab; ++b) {
      piece(std::string{a, b});
      piece(kSpace + std::string{a, b});
    }
  for (int i = 0; static_cast<int>(tokens->size()) < vocab; ++i) {
    std::string p = kSpace;
    for (int v = i; v > 0 || p.size() == kSpace.size(); v /= 26) p += static_cast<char>('a' + v % 26);
    p += "z";
    add(p, score, 1);
    score -= 1.f;
  }
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
  return s.type;
}

absl::Status ValidateTestModelSpec(const TestModelSpec& s) {
  if (s.layers < 1 || s.layers > 256 || s.dim < 8 || s.dim > 16384 || s.heads < 1 || s.kv_heads < 1 ||
      s.heads % s.kv_heads != 0 || s.dim % s.heads != 0 || (s.dim / s.heads) % 2 != 0 || s.ffn < 1 || s.ffn > 65536 ||
      s.vocab < 300 || s.vocab > 1000000 || s.context_length < 1) {
    return absl::InvalidArgumentError(
        fmt::format("invalid test model shape: layers={} dim={} heads={} kv_heads={} ffn={} vocab={} (need "
                    "heads dividing dim with an even head size, kv_heads dividing heads, vocab >= 300)",
                    s.layers, s.dim, s.heads, s.kv_heads, s.ffn, s.vocab));
  }
  if (!CanQuantize(s.type) || (s.mix != TypeMix::kUniform && s.type != GgmlType::kQ4_K && s.type != GgmlType::kQ5_K)) {
    return absl::InvalidArgumentError(
        fmt::format("cannot generate tensors of type {} (f32, f16, bf16, q8_0, q4_0, q4_1, q2_K, q3_K, q4_K, q5_K, "
                    "q6_K, iq4_xs; mixes on q4_K or q5_K)",
                    GgmlTypeName(s.type)));
  }
  // Every matrix's input width is dim or ffn; a mix's Q6_K has the same block.
  const int64_t block = GetGgmlTypeInfo(s.type)->block_size;
  if (s.dim % block != 0 || s.ffn % block != 0) {
    return absl::InvalidArgumentError(
        fmt::format("type {} needs dim and ffn to be multiples of {}", TestModelTypeName(s), block));
  }
  return absl::OkStatus();
}

absl::StatusOr<GgufWriter> BuildTestModel(const TestModelSpec& s) {
  RETURN_IF_ERROR(ValidateTestModelSpec(s));
  const int head_dim = s.dim / s.heads;
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", fmt::format("aperture-test-{}L-{}d-{}", s.layers, s.dim, TestModelTypeName(s)));
  if (FileType(s) >= 0) w.SetUint32("general.file_type", static_cast<uint32_t>(FileType(s)));
  w.SetUint32("llama.block_count", s.layers);
  w.SetUint32("llama.context_length", s.context_length);
  w.SetUint32("llama.embedding_length", s.dim);
  w.SetUint32("llama.feed_forward_length", s.ffn);
  w.SetUint32("llama.attention.head_count", s.heads);
  w.SetUint32("llama.attention.head_count_kv", s.kv_heads);
  w.SetUint32("llama.rope.dimension_count", head_dim);
  w.SetFloat32("llama.rope.freq_base", s.rope_base);
  w.SetFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetUint32("llama.vocab_size", s.vocab);

  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  BuildVocab(s.vocab, &tokens, &scores, &types);
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetFloat32Array("tokenizer.ggml.scores", scores);
  w.SetInt32Array("tokenizer.ggml.token_type", types);
  w.SetUint32("tokenizer.ggml.unknown_token_id", 0);
  w.SetUint32("tokenizer.ggml.bos_token_id", 1);
  w.SetUint32("tokenizer.ggml.eos_token_id", 2);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_eos_token", false);

  Rng rng(s.seed);
  const int64_t q_dim = s.dim, kv_dim = static_cast<int64_t>(s.kv_heads) * head_dim;
  const float std_in = 1.f / std::sqrt(static_cast<float>(s.dim));
  const float std_ffn = 1.f / std::sqrt(static_cast<float>(s.ffn));
  auto add = [&](const std::string& name, std::vector<int64_t> dims, GgmlType type, std::vector<uint8_t> data) {
    return w.AddTensor(name, std::move(dims), type, std::move(data));
  };
  // A matrix of `rows` x `cols` in the type the spec gives `name`.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, float std) {
    const GgmlType type = TensorTypeFor(s, name);
    return add(name, {cols, rows}, type, RandomMatrix(rng, type, rows, cols, std));
  };
  RETURN_IF_ERROR(matrix("token_embd.weight", s.vocab, s.dim, 1.0f));
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    RETURN_IF_ERROR(
        add(p + "attn_norm.weight", {s.dim}, GgmlType::kF32, RandomMatrix(rng, GgmlType::kF32, 1, s.dim, 0.1f, 1.f)));
    RETURN_IF_ERROR(matrix(p + "attn_q.weight", q_dim, s.dim, std_in));
    RETURN_IF_ERROR(matrix(p + "attn_k.weight", kv_dim, s.dim, std_in));
    RETURN_IF_ERROR(matrix(p + "attn_v.weight", kv_dim, s.dim, std_in));
    RETURN_IF_ERROR(matrix(p + "attn_output.weight", s.dim, q_dim, std_in));
    RETURN_IF_ERROR(
        add(p + "ffn_norm.weight", {s.dim}, GgmlType::kF32, RandomMatrix(rng, GgmlType::kF32, 1, s.dim, 0.1f, 1.f)));
    RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", s.ffn, s.dim, std_in));
    RETURN_IF_ERROR(matrix(p + "ffn_up.weight", s.ffn, s.dim, std_in));
    RETURN_IF_ERROR(matrix(p + "ffn_down.weight", s.dim, s.ffn, std_ffn));
  }
  RETURN_IF_ERROR(
      add("output_norm.weight", {s.dim}, GgmlType::kF32, RandomMatrix(rng, GgmlType::kF32, 1, s.dim, 0.1f, 1.f)));
  if (!s.tied_output) RETURN_IF_ERROR(matrix("output.weight", s.vocab, s.dim, std_in));
  return w;
}

absl::Status WriteTestModel(const TestModelSpec& spec, const std::string& path) {
  ASSIGN_OR_RETURN(GgufWriter w, BuildTestModel(spec));
  return w.WriteFile(path);
}

}  // namespace aperture::engine
