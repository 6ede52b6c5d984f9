// Test-only: an unoptimised float64 Llama forward pass written from the
// architecture (not from the engine's code), used as the reference the
// engine's logits must match. It decodes the simple block formats itself;
// for the K-quants it uses the engine's DequantizeRow, which
// quantize_test.cpp checks against hand-built blocks.
#pragma once

#include <cmath>
#include <cstring>
#include <string>
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
