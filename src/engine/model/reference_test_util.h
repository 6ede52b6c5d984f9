// Test-only: an unoptimised float64 Llama forward pass written from the
// architecture (not from the engine's code), used as the reference the
// engine's logits and every hook site's values must match; a visitor sees
// (and may change) each site, so interventions have a reference too. It decodes the simple block formats itself;
// for the K-quants it uses the engine's DequantizeRow, which
// quantize_test.cpp checks against hand-built blocks.
#pragma once

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/kernels/quantize.h"

namespace aperture::engine::testing {

inline double HalfAsDouble(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(1024 + mant, exp - 25);
  }
  return sign ? -v : v;
}

// Tensor as doubles, row-major [rows][dims[0]].
inline std::vector<double> TensorAsDouble(const GgufTensor& t) {
  const int64_t n = static_cast<int64_t>(t.n_elements);
  std::vector<double> out(n);
  const uint8_t* p = t.data;
  switch (t.type) {
    case GgmlType::kF32:
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out[i] = f;
      }
      break;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = HalfAsDouble(h);
      }
      break;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        uint32_t bits = static_cast<uint32_t>(h) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        out[i] = f;
      }
      break;
    case GgmlType::kQ8_0:  // { half d; int8 q[32] }: x = d * q
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 34;
        uint16_t d;
        std::memcpy(&d, blk, 2);
        for (int j = 0; j < 32; ++j) out[b * 32 + j] = HalfAsDouble(d) * static_cast<int8_t>(blk[2 + j]);
      }
      break;
    case GgmlType::kQ4_0:  // { half d; uint8 qs[16] }: x[j] = d * (lo(qs[j]) - 8), x[j+16] = d * (hi - 8)
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 18;
        uint16_t d;
        std::memcpy(&d, blk, 2);
        for (int j = 0; j < 16; ++j) {
          out[b * 32 + j] = HalfAsDouble(d) * ((blk[2 + j] & 0xF) - 8);
          out[b * 32 + j + 16] = HalfAsDouble(d) * ((blk[2 + j] >> 4) - 8);
        }
      }
      break;
    case GgmlType::kQ4_1:  // { half d, m; uint8 qs[16] }: x = d * q + m
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 20;
        uint16_t d, m;
        std::memcpy(&d, blk, 2);
        std::memcpy(&m, blk + 2, 2);
        for (int j = 0; j < 16; ++j) {
          out[b * 32 + j] = HalfAsDouble(d) * (blk[4 + j] & 0xF) + HalfAsDouble(m);
          out[b * 32 + j + 16] = HalfAsDouble(d) * (blk[4 + j] >> 4) + HalfAsDouble(m);
        }
      }
      break;
    default: {
      std::vector<float> f(n);
      DequantizeRow(t.type, p, f.data(), n);
      for (int64_t i = 0; i < n; ++i) out[i] = f[i];
    }
  }
  return out;
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
