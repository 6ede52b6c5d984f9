#include "engine/model/llama_model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

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

  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    LlamaLayer& L = layers_[l];
    const std::string p = fmt::format("blk.{}.", l);
    ASSIGN_OR_RETURN(L.attn_norm, LoadVector(f, p + "attn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(L.ffn_norm, LoadVector(f, p + "ffn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(L.wqkv, build({p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"},
                                   {c.q_dim(), c.kv_dim(), c.kv_dim()}, c.dim));
    ASSIGN_OR_RETURN(L.wo, build({p + "attn_output.weight"}, {c.dim}, c.q_dim()));
    ASSIGN_OR_RETURN(L.w13, build({p + "ffn_gate.weight", p + "ffn_up.weight"}, {c.ffn_dim, c.ffn_dim}, c.dim));
    ASSIGN_OR_RETURN(L.w2, build({p + "ffn_down.weight"}, {c.dim}, c.ffn_dim));
  }
  ASSIGN_OR_RETURN(output_norm_, LoadVector(f, "output_norm.weight", c.dim));
  if (c.tied_output) {
    ASSIGN_OR_RETURN(output_, build({"token_embd.weight"}, {c.vocab_size}, c.dim));
    embed_from_output_ = true;
  } else {
    ASSIGN_OR_RETURN(output_, build({"output.weight"}, {c.vocab_size}, c.dim));
    const GgufTensor* e = f.FindTensor("token_embd.weight");
    auto pm = PackedMatrix::Create(e->type, e->data, c.vocab_size, c.dim, /*repack=*/false);
    if (!pm.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("tensor token_embd.weight: {}", std::string(pm.status().message())));
    }
    embeddings_ = *std::move(pm);
  }
  const float* freq_factors = nullptr;
  std::vector<float> factors;
  if (f.FindTensor("rope_freqs.weight") != nullptr) {
    ASSIGN_OR_RETURN(factors, LoadVector(f, "rope_freqs.weight", c.rope_dim / 2));
    freq_factors = factors.data();
  }
  rope_inv_freq_ = c.RopeInverseFrequencies(freq_factors);
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
  return fmt::format("llama: {} layers, dim {}, {} heads ({} kv), ffn {}, vocab {}, {}{}", config_.n_layers,
                     config_.dim, config_.n_heads, config_.n_kv_heads, config_.ffn_dim, config_.vocab_size, names,
                     repacked ? " (repacked)" : "");
}

}  // namespace aperture::engine
