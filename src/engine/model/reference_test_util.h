// Test-only: an unoptimised float64 forward pass of every supported
// architecture, written from each architecture (not from the engine's code), used as the reference the
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

// A model of any supported architecture run on `tokens` at positions
// 0..n-1, one stage at a time over every position, with `visit` called at
// each hook site. Each family's steps are written from its published
// definition (the Hugging Face / reference implementations), read from the
// GGUF keys and tensor names llama.cpp's converters write:
//   llama   RMSNorm, RoPE on adjacent pairs (GGUF permutes Q/K rows for it),
//           SwiGLU, Q/K/V biases when the file has them
//   qwen2   RoPE on halves (rotate_half), biases on Q/K/V
//   qwen3   RMSNorm over each head of q and k before RoPE
//   phi3    fused qkv and [gate | up]; partial rotary over
//           rope.dimension_count; LongRoPE: inverse frequencies divided by
//           the short factors, or the long ones when the sequence's context
//           exceeds the original one, cos and sin times attn_factor
//   gemma2  embeddings * sqrt(d_model); norms multiply by the stored
//           1 + weight; post-norms on the attention and MLP outputs;
//           GeGLU with tanh GELU; scores soft-capped c * tanh(s / c) after
//           scaling by query_pre_attn_scalar^-1/2 (d_model / heads for the
//           46-layer 27B, else the head size); even layers see only the
//           last sliding_window keys; final logits soft-capped
//   gemma3  as gemma2 without soft-capping, per-head Q/K norms, layers
//           l % 6 != 5 sliding with RoPE base 10000 (unscaled), the others
//           with rope.freq_base and the linear scaling (query scalar from
//           the 62-layer 27B)
// `context` is the context the sequence may reach (LongRoPE picks its
// factors by it); 0 means n.
inline ReferenceRun ReferenceForward(const GgufFile& f, const std::vector<int32_t>& tokens,
                                     const RefVisitor& visit = {}, int context = 0) {
  const std::string arch = f.GetStringOr("general.architecture", "llama").value();
  const std::string k = arch + ".";
  auto u32 = [&](const std::string& key, uint32_t dflt) {
    auto v = f.GetUint32Or(k + key, dflt);
    return v.ok() ? static_cast<int>(*v) : static_cast<int>(dflt);
  };
  auto f32 = [&](const std::string& key, float dflt) {
    auto v = f.GetFloat32Or(k + key, dflt);
    return v.ok() ? static_cast<double>(*v) : static_cast<double>(dflt);
  };
  const bool gemma = arch == "gemma2" || arch == "gemma3";
  const int L = u32("block_count", 0), D = u32("embedding_length", 0);
  const int H = u32("attention.head_count", 0);
  const int KV = u32("attention.head_count_kv", H);
  const int F = u32("feed_forward_length", 0);
  const int hd = u32("attention.key_length", D / H);
  const int rope_dim = u32("rope.dimension_count", hd);
  const double eps = f32("attention.layer_norm_rms_epsilon", 1e-5f);
  const double base = f32("rope.freq_base", 10000.f);
  const double linear_scale =
      f.GetStringOr(k + "rope.scaling.type", "none").value() == "linear" ? f32("rope.scaling.factor", 1.f) : 1.0;
  const int n = static_cast<int>(tokens.size());
  if (context <= 0) context = n;
  auto T = [&](const std::string& name) { return TensorAsDouble(*f.FindTensor(name)); };
  auto has = [&](const std::string& name) { return f.FindTensor(name) != nullptr; };
  const std::vector<double> emb = T("token_embd.weight");
  const int V = static_cast<int>(f.FindTensor("token_embd.weight")->dims[1]);
  auto site = [&](const std::string& name, RefTensor& t) {
    if (visit) visit(name, t);
  };

  // Gemma: the query scalar, the soft-caps and which layers slide.
  double query_scalar = hd;
  if ((arch == "gemma2" && L == 46) || (arch == "gemma3" && L == 62)) query_scalar = static_cast<double>(D) / H;
  const double attn_cap = arch == "gemma2" ? f32("attn_logit_softcapping", 50.f) : 0.0;
  const double final_cap = arch == "gemma2"   ? f32("final_logit_softcapping", 30.f)
                           : arch == "gemma3" ? f32("final_logit_softcapping", 0.f)
                                              : 0.0;
  const int window = gemma ? u32("attention.sliding_window", 0) : 0;
  auto sliding = [&](int l) {
    if (window <= 0) return false;
    return arch == "gemma2" ? l % 2 == 0 : l % 6 != 5;
  };
  auto softcap = [](double x, double cap) { return cap > 0 ? cap * std::tanh(x / cap) : x; };

  // Rotary inverse frequencies of layer l and the cos/sin multiplier.
  std::vector<double> factors;
  double mscale = 1;
  if (arch == "phi3" && has("rope_factors_long.weight")) {
    const int original = u32("rope.scaling.original_context_length", 0);
    factors = T(context > original ? "rope_factors_long.weight" : "rope_factors_short.weight");
    mscale = f32("rope.scaling.attn_factor", 1.f);
  }
  auto inv_freq = [&](int l, int i) {
    if (arch == "gemma3" && sliding(l)) return std::pow(10000.0, -2.0 * i / rope_dim);
    double theta = std::pow(base, -2.0 * i / rope_dim) / linear_scale;
    if (!factors.empty()) theta /= factors[i];
    return theta;
  };

  // Y[t] = W X[t] (+ b) for every position, with W stored [out][in] from row
  // `first` on and X [n, in].
  auto linear_rows = [&](const std::vector<double>& W, int64_t first, const RefTensor& X, std::vector<int> out_shape,
                         const std::vector<double>* bias = nullptr) {
    const int in = static_cast<int>(X.data.size() / n);
    RefTensor Y(std::move(out_shape));
    const int out = static_cast<int>(Y.data.size() / n);
    for (int t = 0; t < n; ++t)
      for (int o = 0; o < out; ++o) {
        double acc = bias != nullptr ? (*bias)[o] : 0.0;
        for (int i = 0; i < in; ++i)
          acc += W[static_cast<size_t>(first + o) * in + i] * X.data[static_cast<size_t>(t) * in + i];
        Y.data[static_cast<size_t>(t) * out + o] = acc;
      }
    return Y;
  };
  auto linear = [&](const std::vector<double>& W, const RefTensor& X, std::vector<int> out_shape) {
    return linear_rows(W, 0, X, std::move(out_shape));
  };
  // RMSNorm over groups of `width` values in TransformerLens's steps: scale
  // = sqrt(mean(x^2) + eps) per group (hook_scale), x / scale
  // (hook_normalized), then times the stored gain.
  auto rmsnorm_groups = [&](const RefTensor& X, const std::vector<double>& w, int width, const std::string& prefix,
                            std::vector<int> scale_shape) {
    const size_t groups = X.data.size() / width;
    RefTensor scale(std::move(scale_shape)), normed = X;
    for (size_t g = 0; g < groups; ++g) {
      double ss = 0;
      for (int i = 0; i < width; ++i) ss += X.data[g * width + i] * X.data[g * width + i];
      scale.data[g] = std::sqrt(ss / width + eps);
    }
    site(prefix + "hook_scale", scale);
    for (size_t g = 0; g < groups; ++g)
      for (int i = 0; i < width; ++i) normed.data[g * width + i] = X.data[g * width + i] / scale.data[g];
    site(prefix + "hook_normalized", normed);
    for (size_t g = 0; g < groups; ++g)
      for (int i = 0; i < width; ++i) normed.data[g * width + i] *= w[i];
    return normed;
  };
  auto rmsnorm = [&](const RefTensor& X, const std::vector<double>& w, const std::string& prefix) {
    return rmsnorm_groups(X, w, D, prefix, {n, 1});
  };
  // RoPE: llama rotates adjacent pairs (2i, 2i+1) (GGUF llama tensors are
  // permuted for this form); the others pairs (i, i + rope_dim/2).
  auto rope = [&](RefTensor& X, int heads, int l) {
    const bool halves = arch != "llama";
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < rope_dim / 2; ++i) {
          const double theta = t * inv_freq(l, i);
          double* v = &X.data[(static_cast<size_t>(t) * heads + h) * hd];
          const int ia = halves ? i : 2 * i, ib = halves ? i + rope_dim / 2 : 2 * i + 1;
          const double a = v[ia], b = v[ib];
          const double c = std::cos(theta) * mscale, s = std::sin(theta) * mscale;
          v[ia] = a * c - b * s;
          v[ib] = a * s + b * c;
        }
  };

  RefTensor x({n, D});
  const double embed_scale = gemma ? std::sqrt(static_cast<double>(D)) : 1.0;
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < D; ++i) x.data[t * D + i] = emb[static_cast<size_t>(tokens[t]) * D + i] * embed_scale;
  site("hook_embed", x);
  for (int l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const std::string b = "blocks." + std::to_string(l) + ".";
    site(b + "hook_resid_pre", x);
    const RefTensor xn = rmsnorm(x, T(p + "attn_norm.weight"), b + "ln1.");
    auto bias_of = [&](const std::string& name) { return has(name) ? T(name) : std::vector<double>(); };
    RefTensor q, kk, v;
    if (has(p + "attn_qkv.weight")) {  // rows [q | k | v]
      const std::vector<double> W = T(p + "attn_qkv.weight");
      q = linear_rows(W, 0, xn, {n, H, hd});
      kk = linear_rows(W, static_cast<int64_t>(H) * hd, xn, {n, KV, hd});
      v = linear_rows(W, static_cast<int64_t>(H + KV) * hd, xn, {n, KV, hd});
    } else {
      const std::vector<double> bq = bias_of(p + "attn_q.bias"), bk = bias_of(p + "attn_k.bias"),
                                bv = bias_of(p + "attn_v.bias");
      q = linear_rows(T(p + "attn_q.weight"), 0, xn, {n, H, hd}, bq.empty() ? nullptr : &bq);
      kk = linear_rows(T(p + "attn_k.weight"), 0, xn, {n, KV, hd}, bk.empty() ? nullptr : &bk);
      v = linear_rows(T(p + "attn_v.weight"), 0, xn, {n, KV, hd}, bv.empty() ? nullptr : &bv);
    }
    site(b + "attn.hook_q", q);
    site(b + "attn.hook_k", kk);
    site(b + "attn.hook_v", v);
    if (has(p + "attn_q_norm.weight")) {
      q = rmsnorm_groups(q, T(p + "attn_q_norm.weight"), hd, b + "attn.q_norm.", {n, H, 1});
      kk = rmsnorm_groups(kk, T(p + "attn_k_norm.weight"), hd, b + "attn.k_norm.", {n, KV, 1});
    }
    rope(q, H, l);
    rope(kk, KV, l);
    site(b + "attn.hook_rot_q", q);
    site(b + "attn.hook_rot_k", kk);
    RefTensor scores({H, n, n});
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < n; ++t)
        for (int u = 0; u < n; ++u) {
          double d = -INFINITY;
          if (u <= t && !(sliding(l) && t - u >= window)) {
            d = 0;
            const int kh = h / (H / KV);
            for (int i = 0; i < hd; ++i) d += q.data[(t * H + h) * hd + i] * kk.data[(u * KV + kh) * hd + i];
            d = softcap(d / std::sqrt(query_scalar), attn_cap);
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
    if (gemma) attn_out = rmsnorm(attn_out, T(p + "post_attention_norm.weight"), b + "ln1_post.");
    site(b + "hook_attn_out", attn_out);
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] += attn_out.data[i];
    site(b + "hook_resid_mid", x);
    const RefTensor xn2 = rmsnorm(x, T(p + "ffn_norm.weight"), b + "ln2.");
    RefTensor gate, up;
    if (arch == "phi3") {  // ffn_up holds [gate | up]
      const std::vector<double> W = T(p + "ffn_up.weight");
      gate = linear_rows(W, 0, xn2, {n, F});
      up = linear_rows(W, F, xn2, {n, F});
    } else {
      gate = linear(T(p + "ffn_gate.weight"), xn2, {n, F});
      up = linear(T(p + "ffn_up.weight"), xn2, {n, F});
    }
    site(b + "mlp.hook_pre", gate);
    site(b + "mlp.hook_pre_linear", up);
    RefTensor post({n, F});
    for (size_t i = 0; i < post.data.size(); ++i) {
      const double g = gate.data[i];
      const double act =
          gemma ? 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) : g / (1 + std::exp(-g));
      post.data[i] = act * up.data[i];
    }
    site(b + "mlp.hook_post", post);
    RefTensor mlp_out = linear(T(p + "ffn_down.weight"), post, {n, D});
    if (gemma) mlp_out = rmsnorm(mlp_out, T(p + "post_ffw_norm.weight"), b + "ln2_post.");
    site(b + "hook_mlp_out", mlp_out);
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] += mlp_out.data[i];
    site(b + "hook_resid_post", x);
  }
  const RefTensor final_normed = rmsnorm(x, T("output_norm.weight"), "ln_final.");
  const std::vector<double> out = f.FindTensor("output.weight") ? T("output.weight") : emb;
  const RefTensor logits = linear(out, final_normed, {n, V});
  ReferenceRun run;
  run.logits.resize(n);
  for (int t = 0; t < n; ++t) {
    run.logits[t].assign(logits.data.begin() + static_cast<size_t>(t) * V,
                         logits.data.begin() + static_cast<size_t>(t + 1) * V);
    for (double& v : run.logits[t]) v = softcap(v, final_cap);
  }
  return run;
}

// Logits [tokens][vocab] of a model for `tokens` at positions 0..n-1 (a
// sequence that may reach `context` positions; 0: n).
inline std::vector<std::vector<double>> ReferenceLogits(const GgufFile& f, const std::vector<int32_t>& tokens,
                                                        int context = 0) {
  return ReferenceForward(f, tokens, {}, context).logits;
}

}  // namespace aperture::engine::testing
