// Test-only: an unoptimised float64 Llama forward pass written from the
// architecture (not from the engine's code), used as the reference the
// engine's logits and every hook site's values must match; a visitor sees
// (and may change) each site, so interventions have a reference too.
// Weights of every type are decoded to float64 from the GGUF block layouts
// (block_decode_test_util.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/kernels/block_decode_test_util.h"

namespace aperture::engine::testing {

// The stated tolerance of a generated model of `model make-test --type`
// `type` with `layers` layers against ReferenceLogits: max logit error
// relative to the logits' RMS. Types the engine multiplies with 8-bit
// quantized activations carry that rounding (measured on 2 layers: Q8_0,
// Q4_0 per 32 values 0.036-0.041; the K-quants per 256, a coarser step,
// 0.046-0.053), BF16 the rounding of the activations to bfloat16 (0.010);
// the others compute in float32 (1e-5). Rounding errors add up layer by
// layer like a random walk, so the bound grows with sqrt(layers / 2)
// (measured on 6 layers: 0.074, 0.094-0.118 and 0.020).
inline double StatedTolerance(const std::string& type, int layers = 2) {
  double base = 1e-4;
  if (type == "q8_0" || type == "q4_0") base = 0.05;
  if (type == "q4_K" || type == "q5_K" || type == "q6_K" || type == "q4_k_m" || type == "q5_k_m") base = 0.08;
  if (type == "bf16") base = 0.02;
  return base * std::sqrt(std::max(1.0, layers / 2.0));
}

// Tensor as doubles, row-major [rows][dims[0]], decoded from the block
// layouts by block_decode_test_util.h (empty for a type it does not cover).
inline std::vector<double> TensorAsDouble(const GgufTensor& t) {
  return DecodeAsDouble(t.type, t.data, static_cast<int64_t>(t.n_elements));
}

// One site's values for one input, in TransformerLens's shape: [pos, d_model],
// [pos, 1] for a norm's scale, [pos, head, d_head], [pos, d_mlp], or
// [head, query_pos, key_pos] for the attention scores (-inf where masked)
// and pattern (0 where masked). Row-major.
struct RefTensor {
  std::vector<int> shape;
  std::vector<double> data;

  RefTensor() = default;
  explicit RefTensor(std::vector<int> s) : shape(std::move(s)) {
    size_t n = 1;
    for (int d : shape) n *= static_cast<size_t>(d);
    data.assign(n, 0.0);
  }
};

// Sees every site in forward order, by TransformerLens name, and may change
// its values (the reference then computes on from what it left).
using RefVisitor = std::function<void(const std::string& site, RefTensor& values)>;

struct ReferenceRun {
  std::vector<std::vector<double>> logits;  // [tokens][vocab]
};

// A Llama GGUF model run on `tokens` at positions 0..n-1, one stage at a
// time over every position, with `visit` called at each hook site.
inline ReferenceRun ReferenceForward(const GgufFile& f, const std::vector<int32_t>& tokens,
                                     const RefVisitor& visit = {}) {
  auto u32 = [&](const std::string& k, uint32_t dflt) {
    auto v = f.GetUint32Or(k, dflt);
    return v.ok() ? static_cast<int>(*v) : static_cast<int>(dflt);
  };
  const int L = u32("llama.block_count", 0), D = u32("llama.embedding_length", 0);
  const int H = u32("llama.attention.head_count", 0);
  const int KV = u32("llama.attention.head_count_kv", H);
  const int F = u32("llama.feed_forward_length", 0);
  const int hd = D / H;
  const int rope_dim = u32("llama.rope.dimension_count", hd);
  const double eps = f.GetFloat32Or("llama.attention.layer_norm_rms_epsilon", 1e-5f).value();
  const double base = f.GetFloat32Or("llama.rope.freq_base", 10000.f).value();
  auto T = [&](const std::string& name) { return TensorAsDouble(*f.FindTensor(name)); };
  const std::vector<double> emb = T("token_embd.weight");
  const int V = static_cast<int>(f.FindTensor("token_embd.weight")->dims[1]);
  const int n = static_cast<int>(tokens.size());
  auto site = [&](const std::string& name, RefTensor& t) {
    if (visit) visit(name, t);
  };

  // Y[t] = W X[t] for every position, with W stored [out][in] and X [n, in].
  auto linear = [&](const std::vector<double>& W, const RefTensor& X, std::vector<int> out_shape) {
    const int in = static_cast<int>(X.data.size() / n);
    RefTensor Y(std::move(out_shape));
    const int out = static_cast<int>(Y.data.size() / n);
    for (int t = 0; t < n; ++t)
      for (int o = 0; o < out; ++o) {
        double acc = 0;
        for (int i = 0; i < in; ++i)
          acc += W[static_cast<size_t>(o) * in + i] * X.data[static_cast<size_t>(t) * in + i];
        Y.data[static_cast<size_t>(t) * out + o] = acc;
      }
    return Y;
  };
  // RMSNorm in TransformerLens's steps: scale = sqrt(mean(x^2) + eps) (hook_scale),
  // x / scale (hook_normalized), then times the gain.
  auto rmsnorm = [&](const RefTensor& X, const std::vector<double>& w, const std::string& prefix) {
    RefTensor scale({n, 1}), normed({n, D});
    for (int t = 0; t < n; ++t) {
      double ss = 0;
      for (int i = 0; i < D; ++i) ss += X.data[t * D + i] * X.data[t * D + i];
      scale.data[t] = std::sqrt(ss / D + eps);
    }
    site(prefix + "hook_scale", scale);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < D; ++i) normed.data[t * D + i] = X.data[t * D + i] / scale.data[t];
    site(prefix + "hook_normalized", normed);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < D; ++i) normed.data[t * D + i] *= w[i];
    return normed;
  };
  // Rotate adjacent pairs (GGUF llama tensors are permuted for this form).
  auto rope = [&](RefTensor& X, int heads) {
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < rope_dim / 2; ++i) {
          const double theta = t * std::pow(base, -2.0 * i / rope_dim);
          double* v = &X.data[(static_cast<size_t>(t) * heads + h) * hd];
          const double a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * std::cos(theta) - b * std::sin(theta);
          v[2 * i + 1] = a * std::sin(theta) + b * std::cos(theta);
        }
  };

  RefTensor x({n, D});
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < D; ++i) x.data[t * D + i] = emb[static_cast<size_t>(tokens[t]) * D + i];
  site("hook_embed", x);
  for (int l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const std::string b = "blocks." + std::to_string(l) + ".";
    site(b + "hook_resid_pre", x);
    const RefTensor xn = rmsnorm(x, T(p + "attn_norm.weight"), b + "ln1.");
    RefTensor q = linear(T(p + "attn_q.weight"), xn, {n, H, hd});
    RefTensor k = linear(T(p + "attn_k.weight"), xn, {n, KV, hd});
    RefTensor v = linear(T(p + "attn_v.weight"), xn, {n, KV, hd});
    site(b + "attn.hook_q", q);
    site(b + "attn.hook_k", k);
    site(b + "attn.hook_v", v);
    rope(q, H);
    rope(k, KV);
    site(b + "attn.hook_rot_q", q);
    site(b + "attn.hook_rot_k", k);
    RefTensor scores({H, n, n});
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < n; ++t)
        for (int u = 0; u < n; ++u) {
          double d = -INFINITY;
          if (u <= t) {
            d = 0;
            const int kh = h / (H / KV);
            for (int i = 0; i < hd; ++i) d += q.data[(t * H + h) * hd + i] * k.data[(u * KV + kh) * hd + i];
            d /= std::sqrt(static_cast<double>(hd));
          }
          scores.data[(static_cast<size_t>(h) * n + t) * n + u] = d;
        }
    site(b + "attn.hook_attn_scores", scores);
    RefTensor pattern({H, n, n});
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < n; ++t) {
        const double* s = &scores.data[(static_cast<size_t>(h) * n + t) * n];
        double mx = -INFINITY, sum = 0;
        for (int u = 0; u <= t; ++u) mx = std::max(mx, s[u]);
        for (int u = 0; u <= t; ++u) sum += std::exp(s[u] - mx);
        for (int u = 0; u <= t; ++u) pattern.data[(static_cast<size_t>(h) * n + t) * n + u] = std::exp(s[u] - mx) / sum;
      }
    site(b + "attn.hook_pattern", pattern);
    RefTensor z({n, H, hd});
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < n; ++t)
        for (int u = 0; u <= t; ++u) {
          const double w = pattern.data[(static_cast<size_t>(h) * n + t) * n + u];
          const int kh = h / (H / KV);
          for (int i = 0; i < hd; ++i) z.data[(t * H + h) * hd + i] += w * v.data[(u * KV + kh) * hd + i];
        }
    site(b + "attn.hook_z", z);
    RefTensor attn_out = linear(T(p + "attn_output.weight"), z, {n, D});
    site(b + "hook_attn_out", attn_out);
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] += attn_out.data[i];
    site(b + "hook_resid_mid", x);
    const RefTensor xn2 = rmsnorm(x, T(p + "ffn_norm.weight"), b + "ln2.");
    RefTensor gate = linear(T(p + "ffn_gate.weight"), xn2, {n, F});
    RefTensor up = linear(T(p + "ffn_up.weight"), xn2, {n, F});
    site(b + "mlp.hook_pre", gate);
    site(b + "mlp.hook_pre_linear", up);
    RefTensor post({n, F});
    for (size_t i = 0; i < post.data.size(); ++i) {
      const double g = gate.data[i];
      post.data[i] = g / (1 + std::exp(-g)) * up.data[i];
    }
    site(b + "mlp.hook_post", post);
    RefTensor mlp_out = linear(T(p + "ffn_down.weight"), post, {n, D});
    site(b + "hook_mlp_out", mlp_out);
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] += mlp_out.data[i];
    site(b + "hook_resid_post", x);
  }
  const RefTensor final_normed = rmsnorm(x, T("output_norm.weight"), "ln_final.");
  const std::vector<double> out = f.FindTensor("output.weight") ? T("output.weight") : emb;
  const RefTensor logits = linear(out, final_normed, {n, V});
  ReferenceRun run;
  run.logits.resize(n);
  for (int t = 0; t < n; ++t)
    run.logits[t].assign(logits.data.begin() + static_cast<size_t>(t) * V,
                         logits.data.begin() + static_cast<size_t>(t + 1) * V);
  return run;
}

// Logits [tokens][vocab] of a Llama GGUF model for `tokens` at positions 0..n-1.
inline std::vector<std::vector<double>> ReferenceLogits(const GgufFile& f, const std::vector<int32_t>& tokens) {
  return ReferenceForward(f, tokens).logits;
}

}  // namespace aperture::engine::testing
