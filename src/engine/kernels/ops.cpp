#include "engine/kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/cpu_features.h"
#include "engine/kernels/matmul_kernels.h"

namespace aperture::engine {

float DotF32(const float* a, const float* b, int64_t n) {
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return internal::DotF32_Avx512(a, b, n);
    case Isa::kAvx2:
      return internal::DotF32_Avx2(a, b, n);
    case Isa::kScalar:
      break;
  }
  return internal::DotF32_Scalar(a, b, n);
}

void DotRowsF32(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale, float* out) {
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return internal::DotRowsF32_Avx512(q, rows, stride, count, n, scale, out);
    case Isa::kAvx2:
      return internal::DotRowsF32_Avx2(q, rows, stride, count, n, scale, out);
    case Isa::kScalar:
      break;
  }
  internal::DotRowsF32_Scalar(q, rows, stride, count, n, scale, out);
}

void AxpyRowsF32(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y) {
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return internal::AxpyRowsF32_Avx512(w, rows, stride, count, n, y);
    case Isa::kAvx2:
      return internal::AxpyRowsF32_Avx2(w, rows, stride, count, n, y);
    case Isa::kScalar:
      break;
  }
  internal::AxpyRowsF32_Scalar(w, rows, stride, count, n, y);
}

void RmsNorm(const float* x, const float* w, float eps, int64_t n, float* out) {
  const float ss = DotF32(x, x, n);
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  if (w == nullptr) {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale;
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
  }
}

void RopeNorm(float* x, int n_heads, int head_dim, int rope_dim, const float* cos_sin) {
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < rope_dim / 2; ++i) {
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c - b * s;
      v[2 * i + 1] = a * s + b * c;
    }
  }
}

void RopeHalves(float* x, int n_heads, int head_dim, int rope_dim, const float* cos_sin) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = a * s + b * c;
    }
  }
}

int64_t ArgMaxF32(const float* x, int64_t n) {
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return internal::ArgMaxF32_Avx512(x, n);
    case Isa::kAvx2:
      return internal::ArgMaxF32_Avx2(x, n);
    case Isa::kScalar:
      break;
  }
  return internal::ArgMaxF32_Scalar(x, n);
}

void ExpShifted(const float* x, float shift, float scale, int64_t n, float* out) {
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return internal::ExpF32_Avx512(x, shift, scale, n, out);
    case Isa::kAvx2:
      return internal::ExpF32_Avx2(x, shift, scale, n, out);
    case Isa::kScalar:
      break;
  }
  internal::ExpF32_Scalar(x, shift, scale, n, out);
}

void Softmax(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  ExpShifted(x, mx, 1.0f, n, x);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  ExpShifted(gate, 0.0f, -1.0f, n, out);  // out = e^-g, then silu(g) * up in place
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + out[i]) * up[i];
}

void GeluTanhMul(const float* gate, const float* up, int64_t n, float* out) {
  // gelu_tanh(g) = g * sigmoid(2u), u = sqrt(2/pi) (g + 0.044715 g^3): out
  // first holds u, then e^-2u, then the result.
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = kSqrt2OverPi * (g + 0.044715f * g * g * g);
  }
  ExpShifted(out, 0.0f, -2.0f, n, out);
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + out[i]) * up[i];
}

void SoftCap(float* x, int64_t n, float cap) {
  // tanh(|t|) = (1 - e) / (1 + e) with e = e^(-2|t|), the sign put back.
  constexpr int64_t kChunk = 64;
  float e[kChunk];
  const float inv_cap = 1.0f / cap;
  for (int64_t b = 0; b < n; b += kChunk) {
    const int64_t k = std::min(kChunk, n - b);
    for (int64_t i = 0; i < k; ++i) e[i] = std::fabs(x[b + i]) * inv_cap;
    ExpShifted(e, 0.0f, -2.0f, k, e);
    for (int64_t i = 0; i < k; ++i) x[b + i] = std::copysign(cap * ((1.0f - e[i]) / (1.0f + e[i])), x[b + i]);
  }
}

void Axpy(float a, const float* x, int64_t n, float* y) {
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return internal::AxpyF32_Avx512(a, x, n, y);
    case Isa::kAvx2:
      return internal::AxpyF32_Avx2(a, x, n, y);
    case Isa::kScalar:
      break;
  }
  internal::AxpyF32_Scalar(a, x, n, y);
}

void AddInPlace(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace aperture::engine
