// Portable K-quant kernels (Q4_K, Q5_K, Q6_K against 8-bit super-block
// activations): the reference semantics every SIMD path reproduces. Per
// output and super-block, in integers:
//   Q4_K/Q5_K: S = sum_j sc[j] * dot(q_j, x_j),  M = sum_j min[j] * sum(x_j)   (8 sub-blocks of 32)
//   Q6_K:      S = sum_s sc[s] * (dot(q_s, x_s) - 32 * sum(x_s))             (16 sub-blocks of 16)
// then acc = fma(S, d * dx, acc) and (Q4_K/Q5_K) acc = fma(-M, dmin * dx, acc),
// super-block after super-block.
#include <cmath>
#include <cstring>

#include "engine/kernels/fp16.h"
#include "engine/kernels/matmul_kernels.h"
#include "engine/kernels/quantize_k.h"

namespace aperture::engine::internal {
namespace {

inline float HalfAt(const unsigned char* p, int r) {
  uint16_t h;
  std::memcpy(&h, p + 2 * r, 2);
  return Fp16ToFp32(h);
}

// Q4_K (kQ5 = false) or Q5_K.
template <bool kQ5>
void AffineK(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols() / kQKK;
  const int64_t block_bytes = kQ5 ? kQ5KBlockBytes : kQ4KBlockBytes;
  const int64_t scales_at = kQ5 ? kQ5KScalesOffset : kQ4KScalesOffset;
  const int64_t d_at = kQ5 ? kQ5KDOffset : kQ4KDOffset;
  const int64_t dmin_at = kQ5 ? kQ5KDminOffset : kQ4KDminOffset;
  for (int64_t g = g0; g < g1; ++g) {
    const unsigned char* grp = w.group_data(g);
    const int nr = RowsInGroup(w, g);
    for (int m = 0; m < x.m(); ++m) {
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < blocks; ++b) {
          const unsigned char* base = grp + b * block_bytes;
          uint8_t s12[12];
          for (int wd = 0; wd < 3; ++wd) std::memcpy(s12 + 4 * wd, base + scales_at + wd * 64 + r * 4, 4);
          const int8_t* xq = x.q8k(b, m);
          const int16_t* sums = x.sums8k(b, m);
          int32_t S = 0, M = 0;
          for (int j = 0; j < 8; ++j) {
            uint8_t sc, mn;
            ScaleMinK4(j, s12, &sc, &mn);
            const int p = j / 2, shift = 4 * (j % 2);
            int32_t dot = 0;
            for (int c = 0; c < 8; ++c) {
              for (int t = 0; t < 4; ++t) {
                int q = (base[p * 512 + c * 64 + r * 4 + t] >> shift) & 0xF;
                if constexpr (kQ5) q |= ((base[kQ5KHighOffset + c * 64 + r * 4 + t] >> j) & 1) << 4;
                dot += q * xq[32 * j + 4 * c + t];
              }
            }
            S += sc * dot;
            M += mn * (sums[2 * j] + sums[2 * j + 1]);
          }
          const float dx = *x.d8k(b, m);
          acc = std::fma(static_cast<float>(S), HalfAt(base + d_at, r) * dx, acc);
          acc = std::fma(-static_cast<float>(M), HalfAt(base + dmin_at, r) * dx, acc);
        }
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

}  // namespace

void MatMulQ4Kx16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  AffineK<false>(w, x, y, ldy, g0, g1);
}

void MatMulQ5Kx16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  AffineK<true>(w, x, y, ldy, g0, g1);
}

void MatMulQ6Kx16_Scalar(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols() / kQKK;
  for (int64_t g = g0; g < g1; ++g) {
    const unsigned char* grp = w.group_data(g);
    const unsigned char* d_all = grp + Q6KDOffset(blocks);
    const int nr = RowsInGroup(w, g);
    for (int m = 0; m < x.m(); ++m) {
      for (int r = 0; r < nr; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < blocks; ++b) {
          const unsigned char* base = grp + b * kQ6KBlockBytes;
          const int8_t* xq = x.q8k(b, m);
          const int16_t* sums = x.sums8k(b, m);
          int32_t S = 0;
          for (int s = 0; s < 16; ++s) {
            // Sub-block s = elements 16s..16s+15 = 128n + 32k + 16(c / 4) + 4(c % 4) + t.
            const int n = s / 8, k = (s % 8) / 2, hi_c = s % 2;
            int32_t dot = -32 * sums[s];
            for (int c = 4 * hi_c; c < 4 * hi_c + 4; ++c) {
              for (int t = 0; t < 4; ++t) {
                const unsigned char low_byte = base[Q6KLowOffset(n, k % 2, c) + r * 4 + t];
                const int low = k < 2 ? (low_byte & 0xF) : (low_byte >> 4);
                const int high = (base[Q6KHighOffset(n, c) + r * 4 + t] >> (2 * k)) & 3;
                dot += (low | (high << 4)) * xq[128 * n + 32 * k + 4 * c + t];
              }
            }
            S += static_cast<int8_t>(base[Q6KScaleOffset(s) + r]) * dot;
          }
          acc = std::fma(static_cast<float>(S), HalfAt(d_all + b * kRowGroup * 2, r) * *x.d8k(b, m), acc);
        }
        y[m * ldy + g * kRowGroup + r] = acc;
      }
    }
  }
}

}  // namespace aperture::engine::internal
