#include "engine/model/runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "engine/kernels/ops.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

// Below this many floating-point operations a row-wise step runs on the
// calling thread: waking the pool would cost more than it saves.
constexpr int64_t kParallelMinWork = 1 << 16;

}  // namespace

Runner::Runner(const LlamaModel& model, RunnerOptions options) : model_(model), options_(options) {
  if (options_.threads <= 0) options_.threads = ThreadPool::DefaultThreads();
  if (options_.max_batch_tokens < 1) options_.max_batch_tokens = 1;
  pool_ = std::make_unique<ThreadPool>(options_.threads);
}

Runner::~Runner() = default;

void Runner::EnsureScratch(int m) {
  if (m <= scratch_rows_) return;
  const LlamaConfig& c = model_.config();
  const size_t f = sizeof(float);
  const size_t rows = static_cast<size_t>(m);
  x_.Resize(rows * c.dim * f);
  xn_.Resize(rows * std::max(c.dim, c.ffn_dim) * f);
  qkv_.Resize(rows * (c.q_dim() + 2 * c.kv_dim()) * f);
  attn_.Resize(rows * c.q_dim() * f);
  proj_.Resize(rows * c.dim * f);
  gu_.Resize(rows * 2 * c.ffn_dim * f);
  h_.Resize(rows * c.ffn_dim * f);
  rope_.Resize(rows * model_.rope_tables().size() * c.rope_dim * f);
  chunk_entry_.resize(m);
  chunk_pos_.resize(m);
  scratch_rows_ = m;
}

absl::Status Runner::Forward(std::span<const BatchEntry> batch, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  if (batch.empty()) return absl::InvalidArgumentError("empty batch");
  if (hooks != nullptr) {
    if (auto site = hooks->UnsupportedSite(c.site_features())) {
      return absl::InvalidArgumentError(
          fmt::format("hook at {}: {} models have no such site", Hooks::Name(site->first, site->second), c.arch));
    }
  }
  std::unordered_set<const Sequence*> seen;
  for (size_t e = 0; e < batch.size(); ++e) {
    const BatchEntry& b = batch[e];
    if (b.sequence == nullptr || b.tokens.empty()) {
      return absl::InvalidArgumentError(fmt::format("batch entry {} has no sequence or no tokens", e));
    }
    if (!seen.insert(b.sequence).second) {
      return absl::InvalidArgumentError(fmt::format("batch entry {} repeats a sequence", e));
    }
    if (b.sequence->kv_dim() != c.kv_dim()) {
      return absl::InvalidArgumentError("sequence was created for a different model");
    }
    if (b.sequence->position() + static_cast<int64_t>(b.tokens.size()) > b.sequence->capacity()) {
      return absl::OutOfRangeError(fmt::format("sequence is full: {} tokens cached + {} new > capacity {}",
                                               b.sequence->position(), b.tokens.size(), b.sequence->capacity()));
    }
    for (int32_t t : b.tokens) {
      if (t < 0 || t >= c.vocab_size) {
        return absl::InvalidArgumentError(
            fmt::format("token id {} is outside the vocabulary [0, {})", t, c.vocab_size));
      }
    }
    if (b.first_layer != batch[0].first_layer || b.resid_in.empty() != batch[0].resid_in.empty()) {
      return absl::InvalidArgumentError("every entry of a batch must start at the same layer");
    }
    if (b.first_layer < 0 || b.first_layer > c.n_layers) {
      return absl::InvalidArgumentError(
          fmt::format("batch entry {} starts at layer {}; the model has layers 0 to {}", e, b.first_layer, c.n_layers));
    }
    if (b.first_layer > 0 && b.resid_in.empty()) {
      return absl::InvalidArgumentError(
          fmt::format("batch entry {} starts at layer {} without resid_in", e, b.first_layer));
    }
    if (!b.resid_in.empty() && b.resid_in.size() != b.tokens.size() * static_cast<size_t>(c.dim)) {
      return absl::InvalidArgumentError(fmt::format("batch entry {} has {} resid_in floats; {} tokens need {}", e,
                                                    b.resid_in.size(), b.tokens.size(),
                                                    b.tokens.size() * static_cast<size_t>(c.dim)));
    }
  }

  entries_.assign(batch.begin(), batch.end());
  rows_.clear();
  entry_logit_row_.assign(batch.size(), 0);
  entry_logit_count_.assign(batch.size(), 0);
  logit_rows_ = 0;
  for (size_t e = 0; e < batch.size(); ++e) {
    const BatchEntry& b = batch[e];
    const int n = static_cast<int>(b.tokens.size());
    entry_logit_row_[e] = logit_rows_;
    for (int i = 0; i < n; ++i) {
      const bool want = b.all_logits || i == n - 1;
      rows_.push_back(Row{static_cast<int>(e), i, b.sequence->position() + i, b.tokens[i], want});
      if (want) ++logit_rows_;
    }
    entry_logit_count_[e] = logit_rows_ - entry_logit_row_[e];
  }
  logits_.Reserve(static_cast<size_t>(logit_rows_) * c.vocab_size * sizeof(float));

  const int total = static_cast<int>(rows_.size());
  const int chunk = options_.max_batch_tokens;
  EnsureScratch(std::min(total, chunk));
  const Hooks* h = hooks != nullptr && !hooks->empty() ? hooks : nullptr;
  logit_cursor_ = 0;
  for (int begin = 0; begin < total; begin += chunk) {
    ForwardChunk(begin, std::min(total, begin + chunk), h);
  }
  for (const BatchEntry& b : batch) b.sequence->Advance(static_cast<int>(b.tokens.size()));
  return absl::OkStatus();
}

std::span<const float> Runner::Logits(int entry, int row) const {
  const int vocab = model_.config().vocab_size;
  if (entry < 0 || entry >= static_cast<int>(entry_logit_row_.size())) return {};
  const int count = entry_logit_count_[entry];
  const int r = row < 0 ? count - 1 : row;
  if (r < 0 || r >= count) return {};
  return {logits_.as<float>() + static_cast<size_t>(entry_logit_row_[entry] + r) * vocab, static_cast<size_t>(vocab)};
}

absl::Status Runner::Decode(std::span<Sequence* const> sequences, std::span<const int32_t> tokens, const Hooks* hooks) {
  if (sequences.size() != tokens.size()) {
    return absl::InvalidArgumentError("Decode needs one token per sequence");
  }
  std::vector<BatchEntry> batch(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    batch[i].sequence = sequences[i];
    batch[i].tokens = tokens.subspan(i, 1);
  }
  return Forward(batch, hooks);
}

void Runner::MaybeCallHooks(const Hooks* hooks, HookPoint point, int layer, float* data, int rows, int cols,
                            int64_t ld) {
  const std::vector<HookFn>* fns = hooks != nullptr ? hooks->At(point, layer) : nullptr;
  if (fns == nullptr) return;
  ActivationView v{point,
                   layer,
                   data,
                   rows,
                   cols,
                   ld,
                   std::span<const int>(chunk_entry_.data(), rows),
                   std::span<const int>(chunk_pos_.data(), rows)};
  for (const HookFn& fn : *fns) fn(v);
}

template <typename Fn>
void Runner::ForRows(int m, int64_t work_per_row, Fn&& fn) {
  if (work_per_row * m < kParallelMinWork || pool_->size() == 1) {
    fn(int64_t{0}, int64_t{m});
  } else {
    pool_->ParallelFor(m, [&](int64_t b, int64_t e) { fn(b, e); });
  }
}

void Runner::RunLinear(const Linear& lin, const float* x, int m, float* y, int64_t ldy) {
  const int64_t k = lin.in_dim;
  acts_.Bind(x, m, k, k, lin.activation_forms());
  if (acts_.quantized()) {
    if (static_cast<int64_t>(m) * k * 4 < kParallelMinWork || pool_->size() == 1) {
      acts_.QuantizeRows(0, m);
    } else {
      pool_->ParallelFor(m,
                         [&](int64_t b, int64_t e) { acts_.QuantizeRows(static_cast<int>(b), static_cast<int>(e)); });
    }
  }
  int64_t total_groups = 0;
  for (const PackedMatrix& p : lin.parts) total_groups += p.groups();
  // Chunks of at least 4 row groups keep each thread streaming whole panels.
  pool_->ParallelFor(
      total_groups,
      [&](int, int64_t g_begin, int64_t g_end) {
        int64_t base = 0;
        int64_t col = 0;
        for (const PackedMatrix& p : lin.parts) {
          const int64_t lo = std::max(g_begin - base, int64_t{0});
          const int64_t hi = std::min(g_end - base, p.groups());
          if (lo < hi) MatMulGroups(p, acts_, y + col, ldy, lo, hi);
          base += p.groups();
          col += p.rows();
        }
      },
      /*min_chunk=*/4);
  if (!lin.bias.empty()) {
    ForRows(m, lin.out_dim, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) AddInPlace(lin.bias.data(), lin.out_dim, y + r * ldy);
    });
  }
}

void Runner::Attention(int layer, int m, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const int hd = c.head_dim;
  const int group = c.n_heads / c.n_kv_heads;
  const int64_t qkv_ld = c.q_dim() + 2 * c.kv_dim();
  const float scale = c.attn_scale;
  const float softcap = c.attn_softcap;
  const int window = c.window(layer);
  const std::vector<HookFn>* score_hooks = hooks != nullptr ? hooks->At(HookPoint::kAttnScores, layer) : nullptr;
  const std::vector<HookFn>* pattern_hooks = hooks != nullptr ? hooks->At(HookPoint::kAttnPattern, layer) : nullptr;
  const bool per_token_hooks = score_hooks != nullptr || pattern_hooks != nullptr;
  int max_ctx = 0;
  int64_t work = 0;
  for (int r = 0; r < m; ++r) {
    max_ctx = std::max(max_ctx, chunk_pos_[r] + 1);
    work += static_cast<int64_t>(chunk_pos_[r] + 1) * hd * c.n_heads * 4;
  }
  const int n_threads = pool_->size();
  const size_t per_slot = static_cast<size_t>(max_ctx) * (per_token_hooks ? c.n_heads : 1);
  att_scores_.Reserve(per_slot * n_threads * sizeof(float));

  // The first key row r sees: 0, or the start of its sliding window.
  auto first_key = [&](int r) { return window > 0 ? std::max(0, chunk_pos_[r] + 1 - window) : 0; };
  // Scores of (row r, head h) over keys [first_key, position] into p (soft-capped
  // when the architecture caps them); returns how many.
  auto dots = [&](int r, int h, float* p) {
    const Sequence* seq = row_seq_[chunk_begin_ + r];
    const int first = first_key(r);
    const int n = chunk_pos_[r] + 1 - first;
    const float* q = qkv_.as<float>() + r * qkv_ld + h * hd;
    const int kvh = h / group;
    DotRowsF32(q, seq->key(layer, first) + kvh * hd, seq->kv_dim(), n, hd, scale, p);
    if (softcap > 0) SoftCap(p, n, softcap);
    return n;
  };
  // The weighted sum of the values of keys [first, first + n) by p.
  auto mix = [&](int r, int h, const float* p, int first, int n) {
    const Sequence* seq = row_seq_[chunk_begin_ + r];
    float* out = attn_.as<float>() + r * c.q_dim() + h * hd;
    std::memset(out, 0, hd * sizeof(float));
    const int kvh = h / group;
    AxpyRowsF32(p, seq->value(layer, first) + kvh * hd, seq->kv_dim(), n, hd, out);
  };

  if (per_token_hooks) {
    // The sites show every position 0..position: keys outside the window
    // score -inf (weight 0), so a read-only hook changes no bit.
    float* p = att_scores_.as<float>();
    for (int r = 0; r < m; ++r) {
      const int ctx = chunk_pos_[r] + 1;
      const int first = first_key(r);
      auto call = [&](const std::vector<HookFn>* fns, HookPoint point) {
        if (fns == nullptr) return;
        ActivationView v{point,
                         layer,
                         p,
                         c.n_heads,
                         ctx,
                         ctx,
                         std::span<const int>(chunk_entry_.data() + r, 1),
                         std::span<const int>(chunk_pos_.data() + r, 1)};
        for (const HookFn& fn : *fns) fn(v);
      };
      for (int h = 0; h < c.n_heads; ++h) {
        float* row = p + static_cast<size_t>(h) * ctx;
        std::fill(row, row + first, -INFINITY);
        dots(r, h, row + first);
      }
      call(score_hooks, HookPoint::kAttnScores);
      for (int h = 0; h < c.n_heads; ++h) Softmax(p + static_cast<size_t>(h) * ctx, ctx);
      call(pattern_hooks, HookPoint::kAttnPattern);
      for (int h = 0; h < c.n_heads; ++h) mix(r, h, p + static_cast<size_t>(h) * ctx, 0, ctx);
    }
    return;
  }
  const int64_t pairs = static_cast<int64_t>(m) * c.n_heads;
  auto run = [&](int t, int64_t b, int64_t e) {
    float* p = att_scores_.as<float>() + per_slot * t;
    for (int64_t i = b; i < e; ++i) {
      const int r = static_cast<int>(i / c.n_heads), h = static_cast<int>(i % c.n_heads);
      const int n = dots(r, h, p);
      Softmax(p, n);
      mix(r, h, p, first_key(r), n);
    }
  };
  if (work < kParallelMinWork || n_threads == 1) {
    run(0, 0, pairs);
  } else {
    pool_->ParallelFor(pairs, [&](int t, int64_t b, int64_t e) { run(t, b, e); });
  }
}

void Runner::ForwardChunk(int begin, int end, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const int m = end - begin;
  chunk_begin_ = begin;
  row_seq_.resize(rows_.size());
  for (int r = 0; r < m; ++r) {
    const Row& row = rows_[begin + r];
    chunk_entry_[r] = row.entry;
    chunk_pos_[r] = row.position;
    row_seq_[begin + r] = entries_[row.entry].sequence;
  }
  const int first_layer = entries_[rows_[begin].entry].first_layer;
  InputRows(begin, m, first_layer, hooks);
  for (int l = first_layer; l < c.n_layers; ++l) {
    MaybeCallHooks(hooks, HookPoint::kResidPre, l, x_.as<float>(), m, c.dim, c.dim);
    AttentionBlock(l, m, hooks);
    MlpBlock(l, m, hooks);
    MaybeCallHooks(hooks, HookPoint::kResidPost, l, x_.as<float>(), m, c.dim, c.dim);
  }
  FinalNormAndLogits(begin, m, hooks);
}

// The residual stream entering block first_layer (the token embeddings,
// times the architecture's embedding scale, or the entry's resid_in) into
// x_, and each row's rotary (cos, sin) pairs of every rope table into rope_.
void Runner::InputRows(int begin, int m, int first_layer, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const int dim = c.dim;
  float* x = x_.as<float>();
  float* cs = rope_.as<float>();
  const std::vector<RopeTable>& tables = model_.rope_tables();
  const int n_tables = static_cast<int>(tables.size());
  const int half = c.rope_dim / 2;
  const float embedding_scale = c.embedding_scale;
  ForRows(m, dim * 4 + half * 40 * n_tables, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const Row& row = rows_[begin + r];
      const BatchEntry& entry = entries_[row.entry];
      if (entry.resid_in.empty()) {
        model_.Embed(row.token, x + r * dim);
        if (embedding_scale != 1.f) {
          for (int i = 0; i < dim; ++i) x[r * dim + i] *= embedding_scale;
        }
      } else {
        std::memcpy(x + r * dim, entry.resid_in.data() + static_cast<size_t>(row.index) * dim, dim * sizeof(float));
      }
      for (int t = 0; t < n_tables; ++t) {
        const std::vector<double>& inv_freq = tables[t].For(row_seq_[begin + r]->capacity());
        const double mscale = tables[t].mscale;
        float* out = cs + (r * n_tables + t) * c.rope_dim;
        for (int i = 0; i < half; ++i) {
          const double angle = chunk_pos_[r] * inv_freq[i];
          out[2 * i] = static_cast<float>(std::cos(angle) * mscale);
          out[2 * i + 1] = static_cast<float>(std::sin(angle) * mscale);
        }
      }
    }
  });
  if (entries_[rows_[begin].entry].resid_in.empty()) MaybeCallHooks(hooks, HookPoint::kEmbed, -1, x, m, dim, dim);
}

void Runner::Norm(const float* x, const float* gain, float* out, int m, HookPoint scale_point, HookPoint norm_point,
                  int layer, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const int dim = c.dim;
  const std::vector<HookFn>* scale_fns = hooks != nullptr ? hooks->At(scale_point, layer) : nullptr;
  const std::vector<HookFn>* norm_fns = hooks != nullptr ? hooks->At(norm_point, layer) : nullptr;
  if (scale_fns == nullptr && norm_fns == nullptr) {
    ForRows(m, dim * 3, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) RmsNorm(x + r * dim, gain, c.rms_eps, dim, out + r * dim);
    });
    return;
  }
  // The same arithmetic as RmsNorm, in steps a hook can see: scale, x / scale, times the gain.
  if (scale_fns != nullptr) {
    norm_scale_.resize(m);
    for (int r = 0; r < m; ++r) {
      const float ss = DotF32(x + r * dim, x + r * dim, dim);
      norm_scale_[r] = std::sqrt(ss / static_cast<float>(dim) + c.rms_eps);
    }
    MaybeCallHooks(hooks, scale_point, layer, norm_scale_.data(), m, 1, 1);
    for (int r = 0; r < m; ++r) {
      const float inv = 1.0f / norm_scale_[r];
      for (int i = 0; i < dim; ++i) out[r * dim + i] = x[r * dim + i] * inv;
    }
  } else {
    for (int r = 0; r < m; ++r) RmsNorm(x + r * dim, nullptr, c.rms_eps, dim, out + r * dim);
  }
  MaybeCallHooks(hooks, norm_point, layer, out, m, dim, dim);
  if (gain != nullptr) {
    for (int r = 0; r < m; ++r)
      for (int i = 0; i < dim; ++i) out[r * dim + i] *= gain[i];
  }
}

void Runner::HeadNorm(float* x, int64_t ld, int heads, const float* gain, int m, HookPoint scale_point,
                      HookPoint norm_point, int layer, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const int hd = c.head_dim;
  // The same arithmetic as RmsNorm, in the steps a hook can see.
  norm_scale_.resize(static_cast<size_t>(m) * heads);
  for (int r = 0; r < m; ++r)
    for (int h = 0; h < heads; ++h) {
      const float* v = x + r * ld + h * hd;
      norm_scale_[r * heads + h] = std::sqrt(DotF32(v, v, hd) / static_cast<float>(hd) + c.rms_eps);
    }
  MaybeCallHooks(hooks, scale_point, layer, norm_scale_.data(), m, heads, heads);
  for (int r = 0; r < m; ++r)
    for (int h = 0; h < heads; ++h) {
      const float inv = 1.0f / norm_scale_[r * heads + h];
      float* v = x + r * ld + h * hd;
      for (int i = 0; i < hd; ++i) v[i] *= inv;
    }
  MaybeCallHooks(hooks, norm_point, layer, x, m, heads * hd, ld);
  for (int r = 0; r < m; ++r)
    for (int h = 0; h < heads; ++h) {
      float* v = x + r * ld + h * hd;
      for (int i = 0; i < hd; ++i) v[i] *= gain[i];
    }
}

void Runner::NormAndRotate(int layer, int64_t r, bool qk_norm) {
  const LlamaConfig& c = model_.config();
  const LlamaLayer& L = model_.layers()[layer];
  const int hd = c.head_dim;
  float* q = qkv_.as<float>() + r * (c.q_dim() + 2 * c.kv_dim());
  float* k = q + c.q_dim();
  if (qk_norm) {
    for (int h = 0; h < c.n_heads; ++h) RmsNorm(q + h * hd, L.q_norm.data(), c.rms_eps, hd, q + h * hd);
    for (int h = 0; h < c.n_kv_heads; ++h) RmsNorm(k + h * hd, L.k_norm.data(), c.rms_eps, hd, k + h * hd);
  }
  const int n_tables = static_cast<int>(model_.rope_tables().size());
  const float* cs = rope_.as<float>() + (r * n_tables + model_.rope_table(layer)) * c.rope_dim;
  if (c.rope_layout == RopeLayout::kHalves) {
    RopeHalves(q, c.n_heads, hd, c.rope_dim, cs);
    RopeHalves(k, c.n_kv_heads, hd, c.rope_dim, cs);
  } else {
    RopeNorm(q, c.n_heads, hd, c.rope_dim, cs);
    RopeNorm(k, c.n_kv_heads, hd, c.rope_dim, cs);
  }
}

// x += post_norm(W_O attention(norm(x))), with the attention sites' hooks;
// leaves the MLP norm's output in xn_.
void Runner::AttentionBlock(int l, int m, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const LlamaLayer& L = model_.layers()[l];
  const int dim = c.dim;
  const int64_t qkv_ld = c.q_dim() + 2 * c.kv_dim();
  float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  float* qkv = qkv_.as<float>();
  float* proj = proj_.as<float>();
  Norm(x, L.attn_norm.data(), xn, m, HookPoint::kLn1Scale, HookPoint::kLn1Normalized, l, hooks);
  RunLinear(L.wqkv, xn, m, qkv, qkv_ld);
  MaybeCallHooks(hooks, HookPoint::kAttnQ, l, qkv, m, c.q_dim(), qkv_ld);
  MaybeCallHooks(hooks, HookPoint::kAttnK, l, qkv + c.q_dim(), m, c.kv_dim(), qkv_ld);
  MaybeCallHooks(hooks, HookPoint::kAttnV, l, qkv + c.q_dim() + c.kv_dim(), m, c.kv_dim(), qkv_ld);
  auto cache = [&](int64_t r) {
    const float* row = qkv + r * qkv_ld;
    Sequence* seq = row_seq_[chunk_begin_ + r];
    std::memcpy(seq->key(l, chunk_pos_[r]), row + c.q_dim(), c.kv_dim() * sizeof(float));
    std::memcpy(seq->value(l, chunk_pos_[r]), row + c.q_dim() + c.kv_dim(), c.kv_dim() * sizeof(float));
  };
  auto hooked = [&](std::initializer_list<HookPoint> points) {
    if (hooks == nullptr) return false;
    for (HookPoint p : points)
      if (hooks->At(p, l) != nullptr) return true;
    return false;
  };
  const int64_t rope_work = static_cast<int64_t>(c.q_dim() + c.kv_dim()) * (c.qk_norm ? 10 : 6);
  // Q/K norms, RoPE and the cache write in one pass over the rows, split
  // where a hook must see the values between them.
  const bool norm_hooks = c.qk_norm && hooked({HookPoint::kAttnQNormScale, HookPoint::kAttnQNormNormalized,
                                               HookPoint::kAttnKNormScale, HookPoint::kAttnKNormNormalized});
  const bool rot_hooks = hooked({HookPoint::kAttnRotQ, HookPoint::kAttnRotK});
  if (norm_hooks) {
    HeadNorm(qkv, qkv_ld, c.n_heads, L.q_norm.data(), m, HookPoint::kAttnQNormScale, HookPoint::kAttnQNormNormalized, l,
             hooks);
    HeadNorm(qkv + c.q_dim(), qkv_ld, c.n_kv_heads, L.k_norm.data(), m, HookPoint::kAttnKNormScale,
             HookPoint::kAttnKNormNormalized, l, hooks);
  }
  const bool fused_norm = c.qk_norm && !norm_hooks;
  if (!rot_hooks) {
    ForRows(m, rope_work, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        NormAndRotate(l, r, fused_norm);
        cache(r);
      }
    });
  } else {
    ForRows(m, rope_work, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) NormAndRotate(l, r, fused_norm);
    });
    MaybeCallHooks(hooks, HookPoint::kAttnRotQ, l, qkv, m, c.q_dim(), qkv_ld);
    MaybeCallHooks(hooks, HookPoint::kAttnRotK, l, qkv + c.q_dim(), m, c.kv_dim(), qkv_ld);
    for (int r = 0; r < m; ++r) cache(r);
  }
  Attention(l, m, hooks);
  MaybeCallHooks(hooks, HookPoint::kAttnZ, l, attn_.as<float>(), m, c.q_dim(), c.q_dim());
  RunLinear(L.wo, attn_.as<float>(), m, proj, dim);
  if (c.post_norms) {
    Norm(proj, L.attn_post_norm.data(), proj, m, HookPoint::kLn1PostScale, HookPoint::kLn1PostNormalized, l, hooks);
  }
  MaybeCallHooks(hooks, HookPoint::kAttnOut, l, proj, m, dim, dim);
  const bool mid_hooks = hooked({HookPoint::kResidMid, HookPoint::kLn2Scale, HookPoint::kLn2Normalized});
  if (!mid_hooks) {  // the residual add and the MLP's norm in one pass over the rows
    ForRows(m, dim * 4, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        AddInPlace(proj + r * dim, dim, x + r * dim);
        RmsNorm(x + r * dim, L.ffn_norm.data(), c.rms_eps, dim, xn + r * dim);
      }
    });
    return;
  }
  ForRows(m, dim, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) AddInPlace(proj + r * dim, dim, x + r * dim);
  });
  MaybeCallHooks(hooks, HookPoint::kResidMid, l, x, m, dim, dim);
  Norm(x, L.ffn_norm.data(), xn, m, HookPoint::kLn2Scale, HookPoint::kLn2Normalized, l, hooks);
}

// x += post_norm(W_down (act(W_gate xn) * W_up xn)), xn being the MLP norm's
// output that AttentionBlock left in xn_.
void Runner::MlpBlock(int l, int m, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const LlamaLayer& L = model_.layers()[l];
  const int dim = c.dim;
  float* x = x_.as<float>();
  float* gu = gu_.as<float>();
  float* hbuf = h_.as<float>();
  float* proj = proj_.as<float>();
  RunLinear(L.w13, xn_.as<float>(), m, gu, 2 * c.ffn_dim);
  MaybeCallHooks(hooks, HookPoint::kMlpPre, l, gu, m, c.ffn_dim, 2 * c.ffn_dim);
  MaybeCallHooks(hooks, HookPoint::kMlpPreLinear, l, gu + c.ffn_dim, m, c.ffn_dim, 2 * c.ffn_dim);
  const bool gelu = c.activation == FfnActivation::kGeluTanh;
  ForRows(m, static_cast<int64_t>(c.ffn_dim) * 20, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* g = gu + r * 2 * c.ffn_dim;
      if (gelu) {
        GeluTanhMul(g, g + c.ffn_dim, c.ffn_dim, hbuf + r * c.ffn_dim);
      } else {
        SiluMul(g, g + c.ffn_dim, c.ffn_dim, hbuf + r * c.ffn_dim);
      }
    }
  });
  MaybeCallHooks(hooks, HookPoint::kMlpPost, l, hbuf, m, c.ffn_dim, c.ffn_dim);
  RunLinear(L.w2, hbuf, m, proj, dim);
  if (c.post_norms) {
    Norm(proj, L.ffn_post_norm.data(), proj, m, HookPoint::kLn2PostScale, HookPoint::kLn2PostNormalized, l, hooks);
  }
  MaybeCallHooks(hooks, HookPoint::kMlpOut, l, proj, m, dim, dim);
  ForRows(m, dim, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) AddInPlace(proj + r * dim, dim, x + r * dim);
  });
}

// Final norm, then logits for the rows that want them (compacted).
void Runner::FinalNormAndLogits(int begin, int m, const Hooks* hooks) {
  const LlamaConfig& c = model_.config();
  const int dim = c.dim;
  float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  const float* gain = model_.output_norm().data();
  int n_out = 0;
  const bool norm_hooks = hooks != nullptr && (hooks->At(HookPoint::kLnFinalScale, -1) != nullptr ||
                                               hooks->At(HookPoint::kLnFinalNormalized, -1) != nullptr);
  if (norm_hooks) {
    Norm(x, nullptr, xn, m, HookPoint::kLnFinalScale, HookPoint::kLnFinalNormalized, -1, hooks);
    for (int r = 0; r < m; ++r) {
      if (!rows_[begin + r].logits) continue;
      float* dst = xn + static_cast<int64_t>(n_out++) * dim;
      const float* src = xn + static_cast<int64_t>(r) * dim;
      for (int i = 0; i < dim; ++i) dst[i] = src[i] * gain[i];
    }
  } else {
    for (int r = 0; r < m; ++r) {
      if (!rows_[begin + r].logits) continue;
      RmsNorm(x + r * dim, gain, c.rms_eps, dim, xn + static_cast<int64_t>(n_out++) * dim);
    }
  }
  if (n_out > 0) {
    float* logits = logits_.as<float>() + static_cast<size_t>(logit_cursor_) * c.vocab_size;
    RunLinear(model_.output(), xn, n_out, logits, c.vocab_size);
    CapLogits(logits, n_out);
    logit_cursor_ += n_out;
  }
}

void Runner::Unembed(const float* resid, int rows, float* out) {
  const LlamaConfig& c = model_.config();
  const int chunk = options_.max_batch_tokens;
  EnsureScratch(std::min(rows, chunk));
  float* xn = xn_.as<float>();
  for (int b = 0; b < rows; b += chunk) {
    const int n = std::min(chunk, rows - b);
    for (int r = 0; r < n; ++r) {
      RmsNorm(resid + static_cast<int64_t>(b + r) * c.dim, model_.output_norm().data(), c.rms_eps, c.dim,
              xn + static_cast<int64_t>(r) * c.dim);
    }
    RunLinear(model_.output(), xn, n, out + static_cast<size_t>(b) * c.vocab_size, c.vocab_size);
    CapLogits(out + static_cast<size_t>(b) * c.vocab_size, n);
  }
}

void Runner::CapLogits(float* logits, int rows) {
  const LlamaConfig& c = model_.config();
  if (c.final_softcap <= 0) return;
  ForRows(rows, static_cast<int64_t>(c.vocab_size) * 20, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) SoftCap(logits + r * c.vocab_size, c.vocab_size, c.final_softcap);
  });
}

}  // namespace aperture::engine
