// Runner: runs the forward pass of a Llama-family model (every architecture
// of architecture.h, whose differences are flags and optional weights of
// the one pass) for a batch of sequences.
//
// A batch is any mix of entries, each a Sequence and the new tokens to append
// to it: one entry with a long prompt (prefill, done as matrix-matrix
// products), many entries with one token each (a decode step for several
// conversations: every weight is read once for all of them), or both. Each
// token attends to its own sequence's cache only, and every kernel reduces in
// a fixed order, so an entry's logits do not depend on the thread count or on
// which other entries share the batch.
//
// Usage:
//   Runner runner(model, {.threads = 2});
//   Sequence seq(model.config(), 2048);
//   RETURN_IF_ERROR(runner.Forward({{&seq, prompt_ids}}));
//   std::span<const float> logits = runner.Logits(0);   // last prompt token
//
// Thread-safety: not thread-safe; one thread drives a Runner (it owns a
// thread pool and scratch buffers). Several Runners may share one model.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/kernels/aligned_buffer.h"
#include "engine/kernels/matmul.h"
#include "engine/model/hooks.h"
#include "engine/model/llama_model.h"
#include "engine/model/sequence.h"
#include "engine/threading/thread_pool.h"

namespace aperture::engine {

struct RunnerOptions {
  int threads = 0;             // 0: every core this process may use
  int max_batch_tokens = 256;  // longer batches run in chunks of this many tokens
};

struct BatchEntry {
  Sequence* sequence = nullptr;
  std::span<const int32_t> tokens;
  bool all_logits = false;  // logits for every new token, not only the last
  // Resuming a pass part-way (activation patching reuses what a patch cannot
  // change): with resid_in set (tokens.size() rows of d_model floats), the
  // entry starts at block first_layer with resid_in as the residual stream
  // entering it, instead of the tokens' embeddings (hook_embed is not
  // called). The sequence's cache must already hold the layers below
  // first_layer at these positions, e.g. from a run that differs only from
  // first_layer on. first_layer may be n_layers (only the final norm and
  // the logits run). Every entry of one call starts at the same layer.
  int first_layer = 0;
  std::span<const float> resid_in = {};
};

class Runner {
 public:
  Runner(const LlamaModel& model, RunnerOptions options = {});
  ~Runner();

  // Appends every entry's tokens to its sequence and computes logits. Fails
  // (changing nothing) on an empty entry, a token id outside the vocabulary,
  // a sequence listed twice, a sequence without room for the tokens, or a
  // hook at a site this model's architecture does not have.
  absl::Status Forward(std::span<const BatchEntry> batch, const Hooks* hooks = nullptr);

  // Logits (vocab_size floats) of entry `entry` after the last Forward: of its
  // last token, or with all_logits of its token `row`. Valid until the next call.
  std::span<const float> Logits(int entry, int row = -1) const;

  // The logits of residual-stream rows (rows x d_model floats, contiguous)
  // through the final norm and the unembedding, computed exactly as Forward
  // computes its own (the logit lens), into out (rows x vocab_size). No
  // hooks run; the last Forward's logits stay valid.
  void Unembed(const float* resid, int rows, float* out);

  // Convenience: a decode step of one token for each sequence.
  absl::Status Decode(std::span<Sequence* const> sequences, std::span<const int32_t> tokens,
                      const Hooks* hooks = nullptr);

  ThreadPool& pool() { return *pool_; }
  const LlamaModel& model() const { return model_; }

 private:
  struct Row {
    int entry;
    int index;  // of the token within its entry
    int position;
    int32_t token;
    bool logits;  // whether this row's logits are wanted
  };
  // Runs rows [begin, end) of rows_ (one chunk) through the model; each
  // step below works on the chunk's m rows in x_ and the scratch buffers.
  void ForwardChunk(int begin, int end, const Hooks* hooks);
  void InputRows(int begin, int m, int first_layer, const Hooks* hooks);
  void AttentionBlock(int layer, int m, const Hooks* hooks);
  void MlpBlock(int layer, int m, const Hooks* hooks);
  void FinalNormAndLogits(int begin, int m, const Hooks* hooks);
  // Final logit soft-capping (Gemma 2) of rows x vocab_size logits, in place.
  void CapLogits(float* logits, int rows);
  // out = x / sqrt(mean(x^2) + eps) * gain for m rows of d_model, with the
  // norm's hook_scale and hook_normalized sites; gain may be null; out may be x.
  void Norm(const float* x, const float* gain, float* out, int m, HookPoint scale_point, HookPoint norm_point,
            int layer, const Hooks* hooks);
  // Q/K norms with hooks: RMSNorm in place over each of `heads` heads of m
  // rows (stride ld), with the per-head scale and normalized sites.
  void HeadNorm(float* x, int64_t ld, int heads, const float* gain, int m, HookPoint scale_point, HookPoint norm_point,
                int layer, const Hooks* hooks);
  // Q/K norm (when the architecture has it) and RoPE of row r's q and k in qkv_.
  void NormAndRotate(int layer, int64_t r, bool qk_norm);
  void RunLinear(const Linear& lin, const float* x, int m, float* y, int64_t ldy);
  void Attention(int layer, int m, const Hooks* hooks);
  // Runs fn(begin, end) over the m rows, on the pool when the work is worth it.
  template <typename Fn>
  void ForRows(int m, int64_t work_per_row, Fn&& fn);
  // Calls the hooks at (point, layer), if any, on the chunk's first `rows` rows.
  void MaybeCallHooks(const Hooks* hooks, HookPoint point, int layer, float* data, int rows, int cols, int64_t ld);
  void EnsureScratch(int m);

  const LlamaModel& model_;
  RunnerOptions options_;
  std::unique_ptr<ThreadPool> pool_;

  // Per call.
  std::vector<Row> rows_;
  std::vector<Sequence*> row_seq_;
  std::vector<BatchEntry> entries_;
  std::vector<int> entry_logit_row_;  // first logits row of each entry
  std::vector<int> entry_logit_count_;
  AlignedBuffer logits_;
  int logit_rows_ = 0;
  int logit_cursor_ = 0;  // logits rows written so far in this call

  // Per chunk scratch (capacity scratch_rows_ rows).
  int scratch_rows_ = 0;
  int chunk_begin_ = 0;
  std::vector<int> chunk_entry_, chunk_pos_;
  AlignedBuffer x_, xn_, qkv_, attn_, proj_, gu_, h_, rope_, att_scores_;
  std::vector<float> norm_scale_;  // per row, for the hook_scale sites
  Activations acts_;
};

}  // namespace aperture::engine
