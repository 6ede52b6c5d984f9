// Test-only: an unoptimised float64 Llama forward pass written from the
// architecture (not from the engine's code), used as the reference the
// engine's logits must match. Weights of every type are decoded to float64
// from the GGUF block layouts (block_decode_test_util.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
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

// Logits [tokens][vocab] of a Llama GGUF model for `tokens` at positions 0..n-1.
inline std::vector<std::vector<double>> ReferenceLogits(const GgufFile& f, const std::vector<int32_t>& tokens) {
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

  // y = W x with W stored [out][in].
  auto matvec = [](const std::vector<double>& W, const std::vector<double>& x, int out) {
    const size_t in = x.size();
    std::vector<double> y(out, 0.0);
    for (int o = 0; o < out; ++o)
      for (size_t i = 0; i < in; ++i) y[o] += W[o * in + i] * x[i];
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, const std::vector<double>& w) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / x.size() + eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
    return y;
  };
  // Rotate adjacent pairs (GGUF llama tensors are permuted for this form).
  auto rope = [&](std::vector<double>& v, int heads, int pos) {
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < rope_dim / 2; ++i) {
        const double theta = pos * std::pow(base, -2.0 * i / rope_dim);
        const double a = v[h * hd + 2 * i], b = v[h * hd + 2 * i + 1];
        v[h * hd + 2 * i] = a * std::cos(theta) - b * std::sin(theta);
        v[h * hd + 2 * i + 1] = a * std::sin(theta) + b * std::cos(theta);
      }
  };

  std::vector<std::vector<double>> x(n);
  for (int t = 0; t < n; ++t) x[t].assign(emb.begin() + tokens[t] * D, emb.begin() + (tokens[t] + 1) * D);
  for (int l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const auto wq = T(p + "attn_q.weight"), wk = T(p + "attn_k.weight"), wv = T(p + "attn_v.weight");
    const auto wo = T(p + "attn_output.weight"), w1 = T(p + "ffn_gate.weight");
    const auto w3 = T(p + "ffn_up.weight"), w2 = T(p + "ffn_down.weight");
    const auto an = T(p + "attn_norm.weight"), fn = T(p + "ffn_norm.weight");
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int t = 0; t < n; ++t) {
      const auto xn = rmsnorm(x[t], an);
      q[t] = matvec(wq, xn, H * hd);
      k[t] = matvec(wk, xn, KV * hd);
      v[t] = matvec(wv, xn, KV * hd);
      rope(q[t], H, t);
      rope(k[t], KV, t);
    }
    for (int t = 0; t < n; ++t) {
      std::vector<double> att(H * hd, 0.0);
      for (int h = 0; h < H; ++h) {
        const int kh = h / (H / KV);
        std::vector<double> s(t + 1);
        double mx = -INFINITY;
        for (int u = 0; u <= t; ++u) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += q[t][h * hd + i] * k[u][kh * hd + i];
          s[u] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[u]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int u = 0; u <= t; ++u)
          for (int i = 0; i < hd; ++i) att[h * hd + i] += s[u] / sum * v[u][kh * hd + i];
      }
      const auto o = matvec(wo, att, D);
      for (int i = 0; i < D; ++i) x[t][i] += o[i];
      const auto xn = rmsnorm(x[t], fn);
      auto g = matvec(w1, xn, F);
      const auto u = matvec(w3, xn, F);
      for (int i = 0; i < F; ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
      const auto m = matvec(w2, g, D);
      for (int i = 0; i < D; ++i) x[t][i] += m[i];
    }
  }
  const auto on = T("output_norm.weight");
  const std::vector<double> out = f.FindTensor("output.weight") ? T("output.weight") : emb;
  std::vector<std::vector<double>> logits(n);
  for (int t = 0; t < n; ++t) logits[t] = matvec(out, rmsnorm(x[t], on), V);
  return logits;
}

}  // namespace aperture::engine::testing
