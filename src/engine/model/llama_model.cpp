#include "engine/model/llama_model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "core/status_macros.h"
#include "engine/kernels/quantize.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace aperture::engine {
namespace {

// Drops the resident pages of [p, p + n) of a read-only file mapping (they
// are re-read from the file if touched again).
void ReleasePages(const void* p, size_t n) {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

absl::StatusOr<const GgufTensor*> FindMatrix(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows) {
  const GgufTensor* t = f.FindTensor(name);
  if (t == nullptr) return absl::InvalidArgumentError(fmt::format("tensor {} is missing", name));
  if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows) {
    return absl::InvalidArgumentError(fmt::format("tensor {} has shape [{}] but the hyperparameters need [{}, {}]",
                                                  name, fmt::join(t->dims, ", "), cols, rows));
  }
  return t;
}

absl::StatusOr<std::vector<float>> LoadVector(const GgufFile& f, const std::string& name, int64_t n) {
  const GgufTensor* t = f.FindTensor(name);
  if (t == nullptr) return absl::InvalidArgumentError(fmt::format("tensor {} is missing", name));
  if (static_cast<int64_t>(t->n_elements) != n || !CanDequantize(t->type)) {
    return absl::InvalidArgumentError(fmt::format("tensor {} must have {} elements of a supported type", name, n));
  }
  std::vector<float> v(n);
  DequantizeRow(t->type, t->data, v.data(), n);
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& path, const LoadOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(path));
  return FromGguf(std::move(file), /*file_is_mapped=*/true, options);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::FromGguf(std::unique_ptr<GgufFile> file, bool file_is_mapped,
                                                                 const LoadOptions& options) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->file_ = std::move(file);
  ASSIGN_OR_RETURN(m->config_, LlamaConfig::FromGguf(*m->file_));
  RETURN_IF_ERROR(m->LoadWeights(file_is_mapped, options));
  return m;
}

absl::Status LlamaModel::LoadWeights(bool file_is_mapped, const LoadOptions& options) {
  const GgufFile& f = *file_;
  const LlamaConfig& c = config_;
  // Source pages of repacked tensors are dropped as packing finishes with
  // them, so peak memory stays near the file size.
  const PackedMatrix::ReleaseFn release =
      file_is_mapped ? PackedMatrix::ReleaseFn(ReleasePages) : PackedMatrix::ReleaseFn();

  // Builds a Linear from tensors with the same input width; stacks them
  // into one repacked matrix when they share an interleavable type.
  auto build = [&](const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                   int64_t cols) -> absl::StatusOr<Linear> {
    Linear lin;
    lin.in_dim = cols;
    std::vector<const GgufTensor*> ts;
    bool same_type = true;
    for (size_t i = 0; i < names.size(); ++i) {
      ASSIGN_OR_RETURN(const GgufTensor* t, FindMatrix(f, names[i], cols, rows[i]));
      if (!ts.empty() && t->type != ts[0]->type) same_type = false;
      ts.push_back(t);
      lin.out_dim += rows[i];
    }
    const GgmlType type = ts[0]->type;
    const bool interleaved = options.repack && HasInterleavedLayout(type, cols);
    if (same_type && interleaved && ts.size() > 1) {
      std::vector<const void*> parts;
      for (auto* t : ts) parts.push_back(t->data);
      ASSIGN_OR_RETURN(PackedMatrix pm, PackedMatrix::Stack(type, parts.data(), rows.data(),
                                                            static_cast<int>(ts.size()), cols, release));
      lin.parts.push_back(std::move(pm));
    } else {
      for (size_t i = 0; i < ts.size(); ++i) {
        auto pm = PackedMatrix::Create(ts[i]->type, ts[i]->data, rows[i], cols, options.repack, release);
        if (!pm.ok()) {
          return absl::InvalidArgumentError(fmt::format("tensor {}: {}", names[i], std::string(pm.status().message())));
        }
        lin.parts.push_back(*std::move(pm));
      }
    }
    for (const GgufTensor* t : ts) weight_bytes_per_token_ += t->size_bytes;
    return lin;
  };

  // Every tensor read is marked; a tensor left unread at the end is one
  // this architecture's forward pass would ignore, so the file is refused.
  std::set<std::string> used;
  auto linear = [&](const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                    int64_t cols) -> absl::StatusOr<Linear> {
    for (const std::string& n : names) used.insert(n);
    return build(names, rows, cols);
  };
  auto vec = [&](const std::string& name, int64_t n) {
    used.insert(name);
    return LoadVector(f, name, n);
  };
  // The optional bias of a linear map: its parts' `.bias` vectors (zeros
  // for a part without one), or empty when no part has one.
  auto bias = [&](const std::vector<std::string>& weight_names,
                  const std::vector<int64_t>& rows) -> absl::StatusOr<std::vector<float>> {
    std::vector<float> b;
    int64_t offset = 0, total = 0;
    for (int64_t r : rows) total += r;
    for (size_t i = 0; i < weight_names.size(); ++i) {
      const std::string name = weight_names[i].substr(0, weight_names[i].size() - 6) + "bias";
      if (f.FindTensor(name) != nullptr) {
        ASSIGN_OR_RETURN(std::vector<float> part, vec(name, rows[i]));
        b.resize(total, 0.f);
        std::copy(part.begin(), part.end(), b.begin() + offset);
      }
      offset += rows[i];
    }
    return b;
  };

  const Architecture& arch = *FindArchitecture(c.arch);
  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    LlamaLayer& L = layers_[l];
    const std::string p = fmt::format("blk.{}.", l);
    ASSIGN_OR_RETURN(L.attn_norm, vec(p + "attn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(L.ffn_norm, vec(p + "ffn_norm.weight", c.dim));
    std::vector<std::string> qkv = {p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"};
    std::vector<int64_t> qkv_rows = {c.q_dim(), c.kv_dim(), c.kv_dim()};
    if (arch.fused_qkv && f.FindTensor(p + "attn_qkv.weight") != nullptr) {
      qkv = {p + "attn_qkv.weight"};
      qkv_rows = {c.q_dim() + 2 * int64_t{c.kv_dim()}};
    }
    ASSIGN_OR_RETURN(L.wqkv, linear(qkv, qkv_rows, c.dim));
    ASSIGN_OR_RETURN(L.wqkv.bias, bias(qkv, qkv_rows));
    ASSIGN_OR_RETURN(L.wo, linear({p + "attn_output.weight"}, {c.dim}, c.q_dim()));
    if (arch.fused_gate_up) {
      ASSIGN_OR_RETURN(L.w13, linear({p + "ffn_up.weight"}, {2 * int64_t{c.ffn_dim}}, c.dim));
    } else {
      ASSIGN_OR_RETURN(L.w13, linear({p + "ffn_gate.weight", p + "ffn_up.weight"}, {c.ffn_dim, c.ffn_dim}, c.dim));
    }
    ASSIGN_OR_RETURN(L.w2, linear({p + "ffn_down.weight"}, {c.dim}, c.ffn_dim));
    if (c.qk_norm) {
      ASSIGN_OR_RETURN(L.q_norm, vec(p + "attn_q_norm.weight", c.head_dim));
      ASSIGN_OR_RETURN(L.k_norm, vec(p + "attn_k_norm.weight", c.head_dim));
    }
    if (c.post_norms) {
      ASSIGN_OR_RETURN(L.attn_post_norm, vec(p + "post_attention_norm.weight", c.dim));
      ASSIGN_OR_RETURN(L.ffn_post_norm, vec(p + "post_ffw_norm.weight", c.dim));
    }
  }
  ASSIGN_OR_RETURN(output_norm_, vec("output_norm.weight", c.dim));
  if (c.tied_output) {
    ASSIGN_OR_RETURN(output_, linear({"token_embd.weight"}, {c.vocab_size}, c.dim));
    embed_from_output_ = true;
  } else {
    ASSIGN_OR_RETURN(output_, linear({"output.weight"}, {c.vocab_size}, c.dim));
    used.insert("token_embd.weight");
    const GgufTensor* e = f.FindTensor("token_embd.weight");
    auto pm = PackedMatrix::Create(e->type, e->data, c.vocab_size, c.dim, /*repack=*/false);
    if (!pm.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("tensor token_embd.weight: {}", std::string(pm.status().message())));
    }
    embeddings_ = *std::move(pm);
  }
  RETURN_IF_ERROR(LoadRopeTables(&used));
  for (const GgufTensor& t : f.tensors()) {
    if (!used.contains(t.name)) {
      return absl::InvalidArgumentError(
          fmt::format("tensor {} is not part of the {} forward pass the engine runs; refusing the file rather than "
                      "ignoring it",
                      t.name, c.arch));
    }
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::LoadRopeTables(std::set<std::string>* used) {
  const GgufFile& f = *file_;
  const LlamaConfig& c = config_;
  const Architecture& arch = *FindArchitecture(c.arch);
  auto vec = [&](const std::string& name, int64_t n) {
    used->insert(name);
    return LoadVector(f, name, n);
  };
  RopeTable global;
  global.mscale = c.rope_attn_factor;
  if (f.FindTensor("rope_freqs.weight") != nullptr) {
    ASSIGN_OR_RETURN(std::vector<float> factors, vec("rope_freqs.weight", c.rope_dim / 2));
    global.inv_freq = c.RopeInverseFrequencies(factors.data());
  } else if (arch.longrope &&
             (f.FindTensor("rope_factors_short.weight") != nullptr || f.FindTensor("rope_factors_long.weight"))) {
    ASSIGN_OR_RETURN(std::vector<float> short_factors, vec("rope_factors_short.weight", c.rope_dim / 2));
    ASSIGN_OR_RETURN(std::vector<float> long_factors, vec("rope_factors_long.weight", c.rope_dim / 2));
    for (float v : short_factors)
      if (!(v > 0)) return absl::InvalidArgumentError("rope_factors_short.weight must be positive");
    for (float v : long_factors)
      if (!(v > 0)) return absl::InvalidArgumentError("rope_factors_long.weight must be positive");
    global.inv_freq = c.RopeInverseFrequencies(short_factors.data());
    global.inv_freq_long = c.RopeInverseFrequencies(long_factors.data());
    global.long_above = c.rope_original_context;
  } else {
    global.inv_freq = c.RopeInverseFrequencies();
  }
  rope_tables_ = {std::move(global)};
  if (c.rope_base_swa > 0) {
    RopeTable swa;
    swa.inv_freq = c.SwaRopeInverseFrequencies();
    rope_tables_.push_back(std::move(swa));
  }
  return absl::OkStatus();
}

void LlamaModel::Embed(int token, float* out) const {
  if (embed_from_output_) {
    output_.parts[0].GetRow(token, out);
  } else {
    embeddings_.GetRow(token, out);
  }
}

std::string LlamaModel::Describe() const {
  // Every matrix type, most common first by count of matrices (a mix such
  // as Q4_K_M reads "q4_K + q6_K").
  std::map<std::string, int> count;
  bool repacked = false;
  auto note = [&](const Linear& lin) {
    for (const PackedMatrix& p : lin.parts) {
      ++count[GgmlTypeName(p.type())];
      repacked |= p.format() != PackedFormat::kRows;
    }
  };
  for (const LlamaLayer& l : layers_) {
    note(l.wqkv);
    note(l.wo);
    note(l.w13);
    note(l.w2);
  }
  note(output_);
  std::vector<std::pair<int, std::string>> types;
  for (const auto& [name, n] : count) types.emplace_back(-n, name);
  std::sort(types.begin(), types.end());
  std::string names;
  for (const auto& [n, name] : types) names += (names.empty() ? "" : " + ") + name;
  return fmt::format("{}: {} layers, dim {}, {} heads ({} kv), ffn {}, vocab {}, {}{}", config_.arch, config_.n_layers,
                     config_.dim, config_.n_heads, config_.n_kv_heads, config_.ffn_dim, config_.vocab_size, names,
                     repacked ? " (repacked)" : "");
}

}  // namespace aperture::engine
