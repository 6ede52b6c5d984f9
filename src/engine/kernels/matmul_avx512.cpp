// AVX-512 (F/BW/VL/VNNI) kernels. Compiled for that ISA function by function
// (the file's target pragma comes after every include, so inline functions
// from headers keep the baseline ISA) and only called when the CPU has it.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine/kernels/matmul_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")

namespace aperture::engine::internal {
namespace {

inline void StoreRows(float* dst, __m512 v, int nr) {
  if (nr == kRowGroup) {
    _mm512_storeu_ps(dst, v);
  } else {
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << nr) - 1), v);
  }
}

inline int RowsIn(const PackedMatrix& w, int64_t g) {
  return static_cast<int>(std::min<int64_t>(kRowGroup, w.rows() - g * kRowGroup));
}

// 16 weights (one k of a group) as floats: F32 as stored, F16 converted (exact).
inline __m512 LoadWeights(const float* p) { return _mm512_load_ps(p); }
inline __m512 LoadWeights(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}

// G consecutive groups x T activation rows of an F32x16 (W = float) or
// F16x16 (W = uint16_t) matrix, one accumulator each, k in order.
template <typename W, int G, int T>
inline void F32Tile(const PackedMatrix& w, int64_t g, const float* x, int64_t ldx, float* y, int64_t ldy) {
  const int64_t K = w.cols();
  const W* wg[G];
  for (int i = 0; i < G; ++i) wg[i] = reinterpret_cast<const W*>(w.group_data(g + i));
  __m512 acc[G][T];
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
#pragma GCC unroll 8
    for (int i = 0; i < G; ++i) {
      const __m512 wv = LoadWeights(wg[i] + k * kRowGroup);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[i][t] = _mm512_fmadd_ps(wv, _mm512_set1_ps(x[t * ldx + k]), acc[i][t]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
    const int nr = RowsIn(w, g + i);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) StoreRows(y + t * ldy + (g + i) * kRowGroup, acc[i][t], nr);
  }
}

template <typename W, int G>
inline void F32Rows(const PackedMatrix& w, int64_t g, const Activations& x, float* y, int64_t ldy) {
  constexpr int kT = G == 1 ? 12 : (G == 4 ? 6 : 12 / G);
  int m = 0;
  const int64_t ldx = x.ld();
  for (; m + kT <= x.m(); m += kT) F32Tile<W, G, kT>(w, g, x.f32() + m * ldx, ldx, y + m * ldy, ldy);
  const float* xr = x.f32() + m * ldx;
  float* yr = y + m * ldy;
  switch (x.m() - m) {
    case 0:
      break;
    case 1:
      F32Tile<W, G, 1>(w, g, xr, ldx, yr, ldy);
      break;
    case 2:
      F32Tile<W, G, 2>(w, g, xr, ldx, yr, ldy);
      break;
    case 3:
      F32Tile<W, G, 3>(w, g, xr, ldx, yr, ldy);
      break;
    case 4:
      F32Tile<W, G, 4>(w, g, xr, ldx, yr, ldy);
      break;
    case 5:
      F32Tile<W, G, 5>(w, g, xr, ldx, yr, ldy);
      break;
    default:
      for (; m < x.m(); ++m) F32Tile<W, G, 1>(w, g, x.f32() + m * ldx, ldx, y + m * ldy, ldy);
  }
}

template <typename W>
void F32Matrix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  int64_t g = g0;
  if (x.m() == 1) {
    for (; g + 4 <= g1; g += 4) F32Tile<W, 4, 1>(w, g, x.f32(), x.ld(), y, ldy);
  } else {
    for (; g + 4 <= g1; g += 4) F32Rows<W, 4>(w, g, x, y, ldy);
  }
  for (; g < g1; ++g) F32Rows<W, 1>(w, g, x, y, ldy);
}

// G groups x T rows of a BF16x16 matrix with vdpbf16ps's arithmetic in
// FMAs: per pair of k, the odd product then the even one.
template <int G, int T>
inline void Bf16Tile(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
  const int64_t pairs = w.cols() / 2;
  const unsigned char* wg[G];
  for (int i = 0; i < G; ++i) wg[i] = w.group_data(g + i);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 acc[G][T];
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512 xo[T], xe[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      int32_t v;
      std::memcpy(&v, x.bf16(m0 + t) + 2 * p, 4);
      const __m512i xv = _mm512_set1_epi32(v);
      xo[t] = _mm512_castsi512_ps(_mm512_and_si512(xv, high));
      xe[t] = _mm512_castsi512_ps(_mm512_slli_epi32(xv, 16));
    }
#pragma GCC unroll 8
    for (int i = 0; i < G; ++i) {
      const __m512i wv = _mm512_load_si512(wg[i] + p * 64);
      const __m512 wo = _mm512_castsi512_ps(_mm512_and_si512(wv, high));
      const __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(wv, 16));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        acc[i][t] = _mm512_fmadd_ps(wo, xo[t], acc[i][t]);
        acc[i][t] = _mm512_fmadd_ps(we, xe[t], acc[i][t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
    const int nr = RowsIn(w, g + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) StoreRows(y + (m0 + t) * ldy + (g + i) * kRowGroup, acc[i][t], nr);
  }
}

// G consecutive groups x T activation rows of a Q8_0x16 (kQ4 = false) or
// Q4_0x16 matrix. Several groups give the out-of-order core independent
// dependency chains when T is small (decode).
template <bool kQ4, int G, int T>
inline void QTile(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
  const int64_t blocks = w.cols() / 32;
  const unsigned char* grp[G];
  const uint16_t* scales[G];
  for (int i = 0; i < G; ++i) {
    grp[i] = w.group_data(g + i);
    scales[i] =
        reinterpret_cast<const uint16_t*>(grp[i] + (kQ4 ? Q4GroupScalesOffset(blocks) : Q8GroupScalesOffset(blocks)));
  }
  __m512 facc[G][T];
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) facc[i][t] = _mm512_setzero_ps();
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  constexpr int64_t kBlockBytes = kQ4 ? 256 : 512;
  for (int64_t b = 0; b < blocks; ++b) {
    if constexpr (G > 1 && T > 1) {
      // Decoding a few sequences (QGroups): each block's arithmetic is long
      // enough to hide memory only if its weights are already on their way,
      // so fetch 4 blocks ahead. (Larger batches reuse a group from L1.)
#pragma GCC unroll 4
      for (int i = 0; i < G; ++i) {
        const unsigned char* ahead = grp[i] + std::min(b + 4, blocks - 1) * kBlockBytes;
#pragma GCC unroll 8
        for (int64_t line = 0; line < kBlockBytes; line += 64)
          _mm_prefetch(reinterpret_cast<const char*>(ahead + line), _MM_HINT_T0);
      }
    }
    // Block b of rows m0.. : quants 32 bytes apart, scales and sums adjacent.
    const int8_t* qb = x.q(b, m0);
    const float* db = x.d(b, m0);
    const int32_t* sb = x.s(b, m0);
    __m512i isum[G][T];
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512i init = _mm512_set1_epi32((kQ4 ? -8 : -128) * sb[t]);
#pragma GCC unroll 4
      for (int i = 0; i < G; ++i) isum[i][t] = init;
    }
    if constexpr (kQ4) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        __m512i xl[T], xh[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          int32_t vl, vh;
          std::memcpy(&vl, qb + t * 32 + c * 4, 4);
          std::memcpy(&vh, qb + t * 32 + 16 + c * 4, 4);
          xl[t] = _mm512_set1_epi32(vl);
          xh[t] = _mm512_set1_epi32(vh);
        }
#pragma GCC unroll 4
        for (int i = 0; i < G; ++i) {
          const __m512i p = _mm512_load_si512(grp[i] + b * 256 + c * 64);
          const __m512i lo = _mm512_and_si512(p, low_mask);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(p, 4), low_mask);
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], lo, xl[t]);
            isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], hi, xh[t]);
          }
        }
      }
    } else {
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        __m512i xv[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          int32_t v;
          std::memcpy(&v, qb + t * 32 + c * 4, 4);
          xv[t] = _mm512_set1_epi32(v);
        }
#pragma GCC unroll 4
        for (int i = 0; i < G; ++i) {
          const __m512i wv = _mm512_load_si512(grp[i] + b * 512 + c * 64);
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) isum[i][t] = _mm512_dpbusd_epi32(isum[i][t], wv, xv[t]);
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const __m512 dw =
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales[i] + b * kRowGroup)));
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(db[t]));
        facc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][t]), scale, facc[i][t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const int nr = RowsIn(w, g + i);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) StoreRows(y + (m0 + t) * ldy + (g + i) * kRowGroup, facc[i][t], nr);
  }
}

// Rows m0..m0+T of groups [g0, g1): G groups at a time, then singles.
template <bool kQ4, int G, int T>
inline void QGroups(const PackedMatrix& w, const Activations& x, int m0, float* y, int64_t ldy, int64_t g0,
                    int64_t g1) {
  int64_t g = g0;
  for (; g + G <= g1; g += G) QTile<kQ4, G, T>(w, g, x, m0, y, ldy);
  for (; g < g1; ++g) QTile<kQ4, 1, T>(w, g, x, m0, y, ldy);
}

template <bool kQ4>
void QRows(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int m = x.m();
  if (m <= 4) {
    switch (m) {
      case 1:
        return QGroups<kQ4, 4, 1>(w, x, 0, y, ldy, g0, g1);
      case 2:
        return QGroups<kQ4, 4, 2>(w, x, 0, y, ldy, g0, g1);
      case 3:
        return QGroups<kQ4, 2, 3>(w, x, 0, y, ldy, g0, g1);
      default:
        return QGroups<kQ4, 2, 4>(w, x, 0, y, ldy, g0, g1);
    }
  }
  // Larger batches: one group's weights stay in L1 while tiles of 8 rows pass.
  constexpr int kT = 8;
  for (int64_t g = g0; g < g1; ++g) {
    int i = 0;
    for (; i + kT <= m; i += kT) QTile<kQ4, 1, kT>(w, g, x, i, y, ldy);
    switch (m - i) {
      case 0:
        break;
      case 1:
        QTile<kQ4, 1, 1>(w, g, x, i, y, ldy);
        break;
      case 2:
        QTile<kQ4, 1, 2>(w, g, x, i, y, ldy);
        break;
      case 3:
        QTile<kQ4, 1, 3>(w, g, x, i, y, ldy);
        break;
      case 4:
        QTile<kQ4, 1, 4>(w, g, x, i, y, ldy);
        break;
      case 5:
        QTile<kQ4, 1, 5>(w, g, x, i, y, ldy);
        break;
      case 6:
        QTile<kQ4, 1, 6>(w, g, x, i, y, ldy);
        break;
      case 7:
        QTile<kQ4, 1, 7>(w, g, x, i, y, ldy);
        break;
    }
  }
}

}  // namespace

void MatMulF32x16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  F32Matrix<float>(w, x, y, ldy, g0, g1);
}

void MatMulF16x16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  F32Matrix<uint16_t>(w, x, y, ldy, g0, g1);
}

void MatMulBF16x16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  int64_t g = g0;
  if (x.m() == 1) {
    for (; g + 4 <= g1; g += 4) Bf16Tile<4, 1>(w, g, x, 0, y, ldy);
  }
  for (; g < g1; ++g) {
    int m = 0;
    for (; m + 6 <= x.m(); m += 6) Bf16Tile<1, 6>(w, g, x, m, y, ldy);
    for (; m < x.m(); ++m) Bf16Tile<1, 1>(w, g, x, m, y, ldy);
  }
}

void MatMulQ8x16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  QRows<false>(w, x, y, ldy, g0, g1);
}

void MatMulQ4x16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  QRows<true>(w, x, y, ldy, g0, g1);
}

float DotF32_Avx512(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  const int64_t n16 = n / 16 * 16;
  for (int64_t i = 0; i < n16; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  const __m256 h8 =
      _mm256_add_ps(_mm512_castps512_ps256(acc), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  __m128 h1 = _mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1));
  for (int64_t i = n16; i < n; ++i) h1 = _mm_fmadd_ss(_mm_set_ss(a[i]), _mm_set_ss(b[i]), h1);
  return _mm_cvtss_f32(h1);
}

void AxpyF32_Avx512(float a, const float* x, int64_t n, float* y) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  // Multiply then add (no fused multiply-add) to round exactly as the scalar path.
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_mul_ps(va, _mm512_loadu_ps(x + i))));
  for (; i < n; ++i) y[i] += a * x[i];
}

// Row after row, with this file's own Dot and Axpy inlined: the same results
// as calling them one row at a time, without a call and a dispatch per row.
void DotRowsF32_Avx512(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale,
                       float* out) {
  for (int64_t r = 0; r < count; ++r) out[r] = DotF32_Avx512(q, rows + r * stride, n) * scale;
}

void AxpyRowsF32_Avx512(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y) {
  for (int64_t r = 0; r < count; ++r) AxpyF32_Avx512(w[r], rows + r * stride, n, y);
}

void QuantizeActRow_Avx512(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  for (int64_t b = 0; b < k / 32; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * 32);
    const __m512 v1 = _mm512_loadu_ps(x + b * 32 + 16);
    const __m512 a = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
    const float amax = _mm512_reduce_max_ps(a);
    const float db = amax / 127.f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
    const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32), _mm512_cvtepi32_epi8(i0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16), _mm512_cvtepi32_epi8(i1));
    d[b] = db;
    s[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
  }
}

void RoundActRowBf16_Avx512(const float* x, int64_t k, uint16_t* out) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m512i u = _mm512_castps_si512(_mm512_loadu_ps(x + i));
    __m512i h = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_srli_epi32(u, 16), one)), 16);
    // Results below the normal range become signed zero; NaN stays a quiet NaN.
    const __mmask16 tiny = _mm512_test_epi32_mask(h, _mm512_set1_epi32(0x7F80)) ^ 0xFFFF;
    h = _mm512_mask_and_epi32(h, tiny, h, _mm512_set1_epi32(0x8000));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
    h = _mm512_mask_or_epi32(h, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(h));
  }
  for (; i < k; ++i) out[i] = RoundToBf16FlushSubnormal(x[i]);
}

namespace {

__m512 Exp16(__m512 x, __m512 shift, __m512 scale) {
  const __m512 d = _mm512_mul_ps(_mm512_sub_ps(x, shift), scale);
  const __m512 dc = _mm512_min_ps(_mm512_max_ps(d, _mm512_set1_ps(kExpMin)), _mm512_set1_ps(kExpMax));
  const __m512 fx =
      _mm512_roundscale_ps(_mm512_mul_ps(dc, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(fx, _mm512_set1_ps(-kLn2Hi), dc);
  r = _mm512_fmadd_ps(fx, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (int k = 1; k < 6; ++k) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[k]));
  const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  __m512 y = _mm512_mul_ps(e, _mm512_castsi512_ps(bits));
  y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(d, _mm512_set1_ps(kExpMin), _CMP_LT_OQ), _mm512_setzero_ps());
  y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(d, _mm512_set1_ps(kExpMax), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
  return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q), d);
}

}  // namespace

int64_t ArgMaxF32_Avx512(const float* x, int64_t n) {
  if (n <= 0) return -1;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
  float m = _mm512_reduce_max_ps(vmax);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  const __m512 vm = _mm512_set1_ps(m);
  for (i = 0; i + 16 <= n; i += 16) {
    const __mmask16 hits = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), vm, _CMP_EQ_OQ);
    if (hits != 0) return i + __builtin_ctz(static_cast<unsigned>(hits));
  }
  for (; i < n; ++i) {
    if (x[i] == m) return i;
  }
  return 0;  // only -inf everywhere... or NaNs: the first element
}

void ExpF32_Avx512(const float* x, float shift, float scale, int64_t n, float* out) {
  const __m512 vs = _mm512_set1_ps(shift), vc = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, Exp16(_mm512_loadu_ps(x + i), vs, vc));
  if (i < n) {  // masked tail: the lanes past n are neither read nor written
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(out + i, m, Exp16(_mm512_maskz_loadu_ps(m, x + i), vs, vc));
  }
}

}  // namespace aperture::engine::internal

#pragma GCC pop_options
