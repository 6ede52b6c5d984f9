// Portable kernels: the reference semantics every SIMD path reproduces.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/fp16.h"
#include "engine/kernels/matmul_kernels.h"

namespace aperture::engine::internal {

void MatMulF32x16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t K = w.cols();
  for (int64_t g = g0; g < g1; ++g) {
    const float* wg = reinterpret_cast<const float*>(w.group_data(g));
    const int nr = RowsInGroup(w, g);
    for (int m = 0; m < x.m(); ++m) {
      const float* xm = x.f32() + m * x.ld();
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t k = 0; k < K; ++k) acc = std::fma(wg[k * kRowGroup + r], xm[k], acc);
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

void MatMulQ8x16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols() / 32;
  for (int64_t g = g0; g < g1; ++g) {
    const unsigned char* grp = w.group_data(g);
    const uint16_t* scales = reinterpret_cast<const uint16_t*>(grp + Q8GroupScalesOffset(blocks));
    const int nr = static_cast<int>(std::min<int64_t>(kRowGroup, w.rows() - g * kRowGroup));
    for (int m = 0; m < x.m(); ++m) {
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < blocks; ++b) {
          const int8_t* q = x.q(b, m);
          int32_t isum = -128 * *x.s(b, m);
          const unsigned char* wb = grp + b * 512;
          for (int c = 0; c < 8; ++c)
            for (int j = 0; j < 4; ++j) isum += wb[c * 64 + r * 4 + j] * q[c * 4 + j];
          const float scale = Fp16ToFp32(scales[b * kRowGroup + r]) * *x.d(b, m);
          acc = std::fma(static_cast<float>(isum), scale, acc);
        }
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

void MatMulQ4x16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols() / 32;
  for (int64_t g = g0; g < g1; ++g) {
    const unsigned char* grp = w.group_data(g);
    const uint16_t* scales = reinterpret_cast<const uint16_t*>(grp + Q4GroupScalesOffset(blocks));
    const int nr = static_cast<int>(std::min<int64_t>(kRowGroup, w.rows() - g * kRowGroup));
    for (int m = 0; m < x.m(); ++m) {
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < blocks; ++b) {
          const int8_t* q = x.q(b, m);
          int32_t isum = -8 * *x.s(b, m);
          const unsigned char* wb = grp + b * 256;
          for (int c = 0; c < 4; ++c)
            for (int j = 0; j < 4; ++j) {
              const unsigned char v = wb[c * 64 + r * 4 + j];
              isum += (v & 0xF) * q[c * 4 + j] + (v >> 4) * q[16 + c * 4 + j];
            }
          const float scale = Fp16ToFp32(scales[b * kRowGroup + r]) * *x.d(b, m);
          acc = std::fma(static_cast<float>(isum), scale, acc);
        }
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

void MatMulF16x16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t K = w.cols();
  for (int64_t g = g0; g < g1; ++g) {
    const uint16_t* wg = reinterpret_cast<const uint16_t*>(w.group_data(g));
    const int nr = RowsInGroup(w, g);
    for (int m = 0; m < x.m(); ++m) {
      const float* xm = x.f32() + m * x.ld();
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t k = 0; k < K; ++k) acc = std::fma(Fp16ToFp32(wg[k * kRowGroup + r]), xm[k], acc);
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

// vdpbf16ps's arithmetic: per pair of k, acc += w[odd] x[odd], then acc +=
// w[even] x[even], each product exact and each sum rounded once.
void MatMulBF16x16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t pairs = w.cols() / 2;
  for (int64_t g = g0; g < g1; ++g) {
    const uint16_t* wg = reinterpret_cast<const uint16_t*>(w.group_data(g));
    const int nr = RowsInGroup(w, g);
    for (int m = 0; m < x.m(); ++m) {
      const uint16_t* xm = x.bf16(m);
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t p = 0; p < pairs; ++p) {
          const uint16_t* wp = wg + p * 2 * kRowGroup + r * 2;
          acc = std::fma(Bf16ToFp32(wp[1]), Bf16ToFp32(xm[2 * p + 1]), acc);
          acc = std::fma(Bf16ToFp32(wp[0]), Bf16ToFp32(xm[2 * p]), acc);
        }
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

// 16 lanes, lane l summing elements l, l+16, ...; then a fixed pairwise tree
// (l + l+8, then +4, +2, +1) and the tail in order.
float DotF32_Scalar(const float* a, const float* b, int64_t n) {
  float lane[16] = {};
  const int64_t n16 = n / 16 * 16;
  for (int64_t i = 0; i < n16; i += 16)
    for (int l = 0; l < 16; ++l) lane[l] = std::fma(a[i + l], b[i + l], lane[l]);
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] = lane[l] + lane[l + w];
  float acc = lane[0];
  for (int64_t i = n16; i < n; ++i) acc = std::fma(a[i], b[i], acc);
  return acc;
}

void AxpyF32_Scalar(float a, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

int64_t ArgMaxF32_Scalar(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return n > 0 ? best : -1;
}

void ExpF32_Scalar(const float* x, float shift, float scale, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = (x[i] - shift) * scale;
    if (std::isnan(d)) {
      out[i] = d;
    } else if (d < kExpMin) {
      out[i] = 0.0f;
    } else if (d > kExpMax) {
      out[i] = INFINITY;
    } else {
      const float fx = std::nearbyint(d * kLog2e);
      const float r = std::fma(fx, -kLn2Lo, std::fma(fx, -kLn2Hi, d));
      float p = kExpPoly[0];
      for (int k = 1; k < 6; ++k) p = std::fma(p, r, kExpPoly[k]);
      const float e = std::fma(p, r * r, r) + 1.0f;
      const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(fx) + 127) << 23;
      float two_n;
      std::memcpy(&two_n, &bits, sizeof(two_n));
      out[i] = e * two_n;
    }
  }
}

// Row after row, with this file's own Dot and Axpy inlined: the same results
// as calling them one row at a time, without a call and a dispatch per row.
void DotRowsF32_Scalar(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale,
                       float* out) {
  for (int64_t r = 0; r < count; ++r) out[r] = DotF32_Scalar(q, rows + r * stride, n) * scale;
}

void AxpyRowsF32_Scalar(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y) {
  for (int64_t r = 0; r < count; ++r) AxpyF32_Scalar(w[r], rows + r * stride, n, y);
}

void QuantizeActRow_Scalar(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  for (int64_t b = 0; b < k / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float db = amax / 127.f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int v = static_cast<int>(std::nearbyint(x[b * 32 + j] * id));
      q[b * 32 + j] = static_cast<int8_t>(v);
      sum += v;
    }
    d[b] = db;
    s[b] = sum;
  }
}

void QuantizeActRowK_Scalar(const float* x, int64_t k, int8_t* q, float* d, int16_t* sums) {
  for (int64_t b = 0; b < k / kQKK; ++b) {
    const float* xb = x + b * kQKK;
    float amax = 0;
    for (int j = 0; j < kQKK; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float db = amax / 127.f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    for (int s = 0; s < 16; ++s) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) {
        const int v = static_cast<int>(std::nearbyint(xb[16 * s + j] * id));
        q[b * kQKK + 16 * s + j] = static_cast<int8_t>(v);
        sum += v;
      }
      sums[b * 16 + s] = static_cast<int16_t>(sum);
    }
    d[b] = db;
  }
}

void RoundActRowBf16_Scalar(const float* x, int64_t k, uint16_t* out) {
  for (int64_t i = 0; i < k; ++i) out[i] = RoundToBf16FlushSubnormal(x[i]);
}

}  // namespace aperture::engine::internal
