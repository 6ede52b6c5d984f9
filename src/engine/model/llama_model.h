// LlamaModel: the weights of a Llama-family GGUF model (any architecture of
// architecture.h), ready for the kernels. Every tensor of the file must be
// one the architecture's forward pass uses: a file with a tensor the engine
// would ignore, or without one it needs, is refused with its name.
// Matrices of the types with an interleaved layout (F32, F16, BF16, Q8_0,
// Q4_0, Q4_K, Q5_K, Q6_K) are repacked at load into the layouts of
// kernels/matmul.h (Q/K/V and gate/up fused when their types agree), and the
// file pages they came from are released, so resident memory stays close to
// the file size; other types (Q2_K, Q3_K, IQ4_XS, Q4_1) are used from the
// memory map directly. Nothing is dequantized at load.
//
// Thread-safety: immutable after Load; share one model between any number of
// Runners and threads.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/kernels/matmul.h"
#include "engine/model/llama_config.h"

namespace aperture::engine {

struct LoadOptions {
  // Repack into the interleaved layouts (faster; off only to test the row path).
  bool repack = true;
};

// One linear map y = W x (+ b), W possibly split into parts whose outputs
// are concatenated (the fused Q/K/V or gate/up when their types differ).
struct Linear {
  std::vector<PackedMatrix> parts;
  std::vector<float> bias;  // out_dim values, or empty (no bias)
  int64_t out_dim = 0;
  int64_t in_dim = 0;
  // ActivationForm bits any part's kernel reads.
  unsigned activation_forms() const {
    unsigned forms = 0;
    for (const auto& p : parts) forms |= p.activation_forms();
    return forms;
  }
};

struct LlamaLayer {
  std::vector<float> attn_norm;
  std::vector<float> ffn_norm;
  std::vector<float> attn_post_norm;  // post-norm architectures: on W_O's output
  std::vector<float> ffn_post_norm;   // post-norm architectures: on the MLP's output
  std::vector<float> q_norm;          // Q/K-norm architectures: head_dim gains
  std::vector<float> k_norm;
  Linear wqkv;  // out: [q_dim | kv_dim | kv_dim] (with the Q/K/V biases when the file has them)
  Linear wo;    // q_dim -> dim
  Linear w13;   // out: [ffn gate | ffn up]
  Linear w2;    // ffn -> dim
};

// The rotary frequencies of a group of layers.
struct RopeTable {
  std::vector<double> inv_freq;  // rope_dim/2 radians per position
  // LongRoPE: the frequencies of sequences longer than long_above positions
  // (empty: inv_freq for every sequence), as llama.cpp picks them by the
  // context a sequence may reach (Sequence::capacity here).
  std::vector<double> inv_freq_long;
  int long_above = 0;
  double mscale = 1;  // cos and sin are multiplied by it (LongRoPE's attn_factor)

  const std::vector<double>& For(int context) const {
    return !inv_freq_long.empty() && context > long_above ? inv_freq_long : inv_freq;
  }
};

class LlamaModel {
 public:
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const std::string& path, const LoadOptions& options = {});
  // Takes ownership of an opened file (pages are released only for mapped files).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> FromGguf(std::unique_ptr<GgufFile> file, bool file_is_mapped,
                                                              const LoadOptions& options = {});

  const LlamaConfig& config() const { return config_; }
  // The file, for tokenizer metadata (tensor data of repacked weights may
  // have been released from memory; reading it faults it back in).
  const GgufFile& gguf() const { return *file_; }

  const std::vector<LlamaLayer>& layers() const { return layers_; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  const Linear& output() const { return output_; }
  // The rotary tables (one, or two when sliding-window layers have their
  // own base) and which one layer `layer` uses.
  const std::vector<RopeTable>& rope_tables() const { return rope_tables_; }
  int rope_table(int layer) const { return config_.uses_swa_rope(layer) ? 1 : 0; }
  // Writes the embedding of token id into out[0..dim).
  void Embed(int token, float* out) const;

  // Bytes of weights one decode step reads (all layers + the output matrix).
  size_t weight_bytes_per_token() const { return weight_bytes_per_token_; }
  // Summary such as "llama: 12 layers, dim 768, ... q4_0 (repacked)".
  std::string Describe() const;

 private:
  LlamaModel() = default;
  absl::Status LoadWeights(bool file_is_mapped, const LoadOptions& options);
  // rope_tables_, marking the tensors it reads in `used`.
  absl::Status LoadRopeTables(std::set<std::string>* used);

  std::unique_ptr<GgufFile> file_;
  LlamaConfig config_;
  std::vector<LlamaLayer> layers_;
  std::vector<float> output_norm_;
  Linear output_;
  PackedMatrix embeddings_;  // used when the output matrix is separate
  bool embed_from_output_ = false;
  std::vector<RopeTable> rope_tables_;
  size_t weight_bytes_per_token_ = 0;
};

}  // namespace aperture::engine
