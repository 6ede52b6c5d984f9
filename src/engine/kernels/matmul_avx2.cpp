// AVX2 + FMA + F16C kernels (16 rows = two 8-lane halves). Compiled for that
// ISA via the target pragma after every include; called only when present.
// The integer paths use vpmaddubsw with |w| and sign-adjusted activations,
// which cannot saturate, so the integer sums equal the other paths' exactly.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine/kernels/matmul_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace aperture::engine::internal {
namespace {

inline int RowsIn(const PackedMatrix& w, int64_t g) {
  return static_cast<int>(std::min<int64_t>(kRowGroup, w.rows() - g * kRowGroup));
}

inline void StoreRows(float* dst, __m256 lo, __m256 hi, int nr) {
  if (nr == kRowGroup) {
    _mm256_storeu_ps(dst, lo);
    _mm256_storeu_ps(dst + 8, hi);
    return;
  }
  alignas(32) float tmp[16];
  _mm256_store_ps(tmp, lo);
  _mm256_store_ps(tmp + 8, hi);
  for (int r = 0; r < nr; ++r) dst[r] = tmp[r];
}

// 8 weights (half of one k of a group) as floats: F32 as stored, F16 converted (exact).
inline __m256 LoadWeights(const float* p) { return _mm256_load_ps(p); }
inline __m256 LoadWeights(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
}

// G groups x T rows of an F32x16 (W = float) or F16x16 (W = uint16_t) matrix.
template <typename W, int G, int T>
inline void F32Tile(const PackedMatrix& w, int64_t g, const float* x, int64_t ldx, float* y, int64_t ldy) {
  const int64_t K = w.cols();
  const W* wg[G];
  for (int i = 0; i < G; ++i) wg[i] = reinterpret_cast<const W*>(w.group_data(g + i));
  __m256 acc[G][T][2];
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t][0] = acc[i][t][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
#pragma GCC unroll 8
    for (int i = 0; i < G; ++i) {
      const __m256 w0 = LoadWeights(wg[i] + k * kRowGroup);
      const __m256 w1 = LoadWeights(wg[i] + k * kRowGroup + 8);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m256 xv = _mm256_broadcast_ss(x + t * ldx + k);
        acc[i][t][0] = _mm256_fmadd_ps(w0, xv, acc[i][t][0]);
        acc[i][t][1] = _mm256_fmadd_ps(w1, xv, acc[i][t][1]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
    const int nr = RowsIn(w, g + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) StoreRows(y + t * ldy + (g + i) * kRowGroup, acc[i][t][0], acc[i][t][1], nr);
  }
}

template <typename W>
void F32Matrix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  int64_t g = g0;
  const int64_t ldx = x.ld();
  if (x.m() == 1) {
    for (; g + 4 <= g1; g += 4) F32Tile<W, 4, 1>(w, g, x.f32(), ldx, y, ldy);
  }
  for (; g < g1; ++g) {
    int m = 0;
    for (; m + 6 <= x.m(); m += 6) F32Tile<W, 1, 6>(w, g, x.f32() + m * ldx, ldx, y + m * ldy, ldy);
    for (; m < x.m(); ++m) F32Tile<W, 1, 1>(w, g, x.f32() + m * ldx, ldx, y + m * ldy, ldy);
  }
}

// One group x one row of a BF16x16 matrix with vdpbf16ps's arithmetic in
// FMAs: per pair of k, the odd product then the even one.
inline void Bf16Tile(const PackedMatrix& w, int64_t g, const Activations& x, int m, float* y, int64_t ldy) {
  const int64_t pairs = w.cols() / 2;
  const unsigned char* wg = w.group_data(g);
  const uint16_t* xr = x.bf16(m);
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t p = 0; p < pairs; ++p) {
    int32_t v;
    std::memcpy(&v, xr + 2 * p, 4);
    const __m256i xv = _mm256_set1_epi32(v);
    const __m256 xo = _mm256_castsi256_ps(_mm256_and_si256(xv, high));
    const __m256 xe = _mm256_castsi256_ps(_mm256_slli_epi32(xv, 16));
    for (int h = 0; h < 2; ++h) {
      const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + p * 64 + h * 32));
      acc[h] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(wv, high)), xo, acc[h]);
      acc[h] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(wv, 16)), xe, acc[h]);
    }
  }
  StoreRows(y + m * ldy + g * kRowGroup, acc[0], acc[1], RowsIn(w, g));
}

// One group x one activation row of a Q8_0x16 (kQ4 = false) or Q4_0x16 matrix.
template <bool kQ4>
inline void QTile(const PackedMatrix& w, int64_t g, const Activations& x, int m, float* y, int64_t ldy) {
  const int64_t blocks = w.cols() / 32;
  const unsigned char* grp = w.group_data(g);
  const uint16_t* scales =
      reinterpret_cast<const uint16_t*>(grp + (kQ4 ? Q4GroupScalesOffset(blocks) : Q8GroupScalesOffset(blocks)));
  __m256 facc0 = _mm256_setzero_ps(), facc1 = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < blocks; ++b) {
    const int8_t* qb = x.q(b, m);
    const int32_t s_b = *x.s(b, m);
    __m256i i0, i1;
    if constexpr (kQ4) {
      i0 = i1 = _mm256_set1_epi32(-8 * s_b);
      const unsigned char* wb = grp + b * 256;
      for (int c = 0; c < 4; ++c) {
        int32_t xl, xh;
        std::memcpy(&xl, qb + c * 4, 4);
        std::memcpy(&xh, qb + 16 + c * 4, 4);
        const __m256i vxl = _mm256_set1_epi32(xl), vxh = _mm256_set1_epi32(xh);
        for (int h = 0; h < 2; ++h) {
          const __m256i p = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + c * 64 + h * 32));
          const __m256i lo = _mm256_and_si256(p, low_mask);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low_mask);
          const __m256i sum = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, vxl), ones),
                                               _mm256_madd_epi16(_mm256_maddubs_epi16(hi, vxh), ones));
          if (h == 0)
            i0 = _mm256_add_epi32(i0, sum);
          else
            i1 = _mm256_add_epi32(i1, sum);
        }
      }
    } else {
      i0 = i1 = _mm256_setzero_si256();
      const unsigned char* wb = grp + b * 512;
      for (int c = 0; c < 8; ++c) {
        int32_t xv;
        std::memcpy(&xv, qb + c * 4, 4);
        const __m256i vx = _mm256_set1_epi32(xv);
        for (int h = 0; h < 2; ++h) {
          const __m256i u = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + c * 64 + h * 32));
          const __m256i ws = _mm256_xor_si256(u, flip);  // back to signed weights
          const __m256i prod = _mm256_maddubs_epi16(_mm256_abs_epi8(ws), _mm256_sign_epi8(vx, ws));
          const __m256i sum = _mm256_madd_epi16(prod, ones);
          if (h == 0)
            i0 = _mm256_add_epi32(i0, sum);
          else
            i1 = _mm256_add_epi32(i1, sum);
        }
      }
    }
    const __m256 dx = _mm256_set1_ps(*x.d(b, m));
    const __m256 dw0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + b * kRowGroup)));
    const __m256 dw1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + b * kRowGroup + 8)));
    facc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), _mm256_mul_ps(dw0, dx), facc0);
    facc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), _mm256_mul_ps(dw1, dx), facc1);
  }
  StoreRows(y + m * ldy + g * kRowGroup, facc0, facc1, RowsIn(w, g));
}

}  // namespace

void MatMulF32x16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  F32Matrix<float>(w, x, y, ldy, g0, g1);
}

void MatMulF16x16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  F32Matrix<uint16_t>(w, x, y, ldy, g0, g1);
}

void MatMulBF16x16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  for (int64_t g = g0; g < g1; ++g)
    for (int m = 0; m < x.m(); ++m) Bf16Tile(w, g, x, m, y, ldy);
}

void MatMulQ8x16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  for (int64_t g = g0; g < g1; ++g)
    for (int m = 0; m < x.m(); ++m) QTile<false>(w, g, x, m, y, ldy);
}

void MatMulQ4x16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  for (int64_t g = g0; g < g1; ++g)
    for (int m = 0; m < x.m(); ++m) QTile<true>(w, g, x, m, y, ldy);
}

float DotF32_Avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t n16 = n / 16 * 16;
  for (int64_t i = 0; i < n16; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  const __m256 h8 = _mm256_add_ps(acc0, acc1);
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  __m128 h1 = _mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1));
  for (int64_t i = n16; i < n; ++i) h1 = _mm_fmadd_ss(_mm_set_ss(a[i]), _mm_set_ss(b[i]), h1);
  return _mm_cvtss_f32(h1);
}

void AxpyF32_Avx2(float a, const float* x, int64_t n, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
  for (; i < n; ++i) y[i] += a * x[i];
}

namespace {

__m256 Exp8(__m256 x, __m256 shift, __m256 scale) {
  const __m256 d = _mm256_mul_ps(_mm256_sub_ps(x, shift), scale);
  const __m256 dc = _mm256_min_ps(_mm256_max_ps(d, _mm256_set1_ps(kExpMin)), _mm256_set1_ps(kExpMax));
  const __m256 fx =
      _mm256_round_ps(_mm256_mul_ps(dc, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(fx, _mm256_set1_ps(-kLn2Hi), dc);
  r = _mm256_fmadd_ps(fx, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int k = 1; k < 6; ++k) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[k]));
  const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(d, _mm256_set1_ps(kExpMin), _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(d, _mm256_set1_ps(kExpMax), _CMP_GT_OQ));
  return _mm256_blendv_ps(y, d, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));
}

}  // namespace

int64_t ArgMaxF32_Avx2(const float* x, int64_t n) {
  if (n <= 0) return -1;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  float m = _mm_cvtss_f32(m4);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  const __m256 vm = _mm256_set1_ps(m);
  for (i = 0; i + 8 <= n; i += 8) {
    const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ));
    if (hits != 0) return i + __builtin_ctz(static_cast<unsigned>(hits));
  }
  for (; i < n; ++i) {
    if (x[i] == m) return i;
  }
  return 0;  // only -inf everywhere... or NaNs: the first element
}

void ExpF32_Avx2(const float* x, float shift, float scale, int64_t n, float* out) {
  const __m256 vs = _mm256_set1_ps(shift), vc = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, Exp8(_mm256_loadu_ps(x + i), vs, vc));
  if (i < n) {  // the tail through a padded copy, so every element takes the same path
    alignas(32) float tmp[8] = {};
    std::copy(x + i, x + n, tmp);
    _mm256_store_ps(tmp, Exp8(_mm256_load_ps(tmp), vs, vc));
    std::copy(tmp, tmp + (n - i), out + i);
  }
}

// Row after row, with this file's own Dot and Axpy inlined: the same results
// as calling them one row at a time, without a call and a dispatch per row.
void DotRowsF32_Avx2(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale,
                     float* out) {
  for (int64_t r = 0; r < count; ++r) out[r] = DotF32_Avx2(q, rows + r * stride, n) * scale;
}

void AxpyRowsF32_Avx2(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y) {
  for (int64_t r = 0; r < count; ++r) AxpyF32_Avx2(w[r], rows + r * stride, n, y);
}

void QuantizeActRow_Avx2(const float* x, int64_t k, int8_t* q, float* d, int32_t* s) {
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / 32; ++b) {
    __m256 v[4];
    __m256 a = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + b * 32 + i * 8);
      a = _mm256_max_ps(a, _mm256_and_ps(v[i], sign_mask));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float amax = _mm_cvtss_f32(m4);
    const float db = amax / 127.f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    int32_t sum = 0;
    alignas(32) int32_t tmp[8];
    for (int i = 0; i < 4; ++i) {
      const __m256i iv = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), iv);
      for (int j = 0; j < 8; ++j) {
        q[b * 32 + i * 8 + j] = static_cast<int8_t>(tmp[j]);
        sum += tmp[j];
      }
    }
    d[b] = db;
    s[b] = sum;
  }
}

void RoundActRowBf16_Avx2(const float* x, int64_t k, uint16_t* out) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i exp_bits = _mm256_set1_epi32(0x7F80), sign = _mm256_set1_epi32(0x8000);
  int64_t i = 0;
  alignas(32) int32_t tmp[8];
  for (; i + 8 <= k; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    __m256i h = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, bias), _mm256_and_si256(_mm256_srli_epi32(u, 16), one)), 16);
    // Results below the normal range become signed zero; NaN stays a quiet NaN.
    const __m256i tiny = _mm256_cmpeq_epi32(_mm256_and_si256(h, exp_bits), _mm256_setzero_si256());
    h = _mm256_blendv_epi8(h, _mm256_and_si256(h, sign), tiny);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    h = _mm256_blendv_epi8(h, _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40)), nan);
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), h);
    for (int j = 0; j < 8; ++j) out[i + j] = static_cast<uint16_t>(tmp[j]);
  }
  for (; i < k; ++i) out[i] = RoundToBf16FlushSubnormal(x[i]);
}

}  // namespace aperture::engine::internal

#pragma GCC pop_options
