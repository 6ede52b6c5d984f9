// AVX2 K-quant kernels (Q4_K, Q5_K, Q6_K): one group (two halves of 8 rows)
// by one activation row at a time; vpmaddubsw + vpmaddwd give the same
// integer sums as the other paths (the unsigned quants are below 64, so no
// pair of products saturates), then the float steps of matmul_k_scalar.cpp.
// Compiled for the ISA by the target pragma after every include.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/kernels/matmul_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace aperture::engine::internal {
namespace {

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

inline __m256i Bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i Load(const unsigned char* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

// sum over each 4 bytes of u8 w times s8 x, as int32 (exact for w < 64).
inline __m256i Dot4(__m256i w, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}

inline __m256 Halves(const unsigned char* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The 6-bit scale (kMin = false) or min of sub-block j of rows 8h..8h+7.
inline __m256i ScaleK(const unsigned char* scales, int h, int j, bool min) {
  const __m256i v0 = Load(scales + h * 32), v1 = Load(scales + 64 + h * 32), v2 = Load(scales + 128 + h * 32);
  if (j < 4) return _mm256_and_si256(_mm256_srli_epi32(min ? v1 : v0, 8 * j), _mm256_set1_epi32(63));
  const __m256i low = _mm256_and_si256(_mm256_srli_epi32(v2, 8 * (j - 4) + (min ? 4 : 0)), _mm256_set1_epi32(15));
  const __m256i high = _mm256_and_si256(_mm256_srli_epi32(min ? v1 : v0, 8 * (j - 4) + 2), _mm256_set1_epi32(48));
  return _mm256_or_si256(low, high);
}

// Bit `from` of every byte moved to bit 4 (others masked by the caller).
inline __m256i BitTo4(__m256i v, int from) {
  if (from < 4) return _mm256_sll_epi16(v, _mm_cvtsi32_si128(4 - from));
  return _mm256_srl_epi16(v, _mm_cvtsi32_si128(from - 4));
}

template <bool kQ5>
void AffineK(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  constexpr int64_t kBlockBytes = kQ5 ? kQ5KBlockBytes : kQ4KBlockBytes;
  constexpr int64_t kScales = kQ5 ? kQ5KScalesOffset : kQ4KScalesOffset;
  constexpr int64_t kD = kQ5 ? kQ5KDOffset : kQ4KDOffset;
  constexpr int64_t kDmin = kQ5 ? kQ5KDminOffset : kQ4KDminOffset;
  const int64_t blocks = w.cols() / kQKK;
  const __m256i low_mask = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
  for (int64_t g = g0; g < g1; ++g) {
    for (int m = 0; m < x.m(); ++m) {
      __m256 facc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t b = 0; b < blocks; ++b) {
        const unsigned char* base = w.group_data(g) + b * kBlockBytes;
        const int8_t* xq = x.q8k(b, m);
        const int16_t* s16 = x.sums8k(b, m);
        const float dx = *x.d8k(b, m);
        for (int h = 0; h < 2; ++h) {
          __m256i S = _mm256_setzero_si256(), M = _mm256_setzero_si256();
          for (int p = 0; p < 4; ++p) {
            __m256i alo = _mm256_setzero_si256(), ahi = _mm256_setzero_si256();
            for (int c = 0; c < 8; ++c) {
              const __m256i wv = Load(base + p * 512 + c * 64 + h * 32);
              __m256i lo = _mm256_and_si256(wv, low_mask);
              __m256i hi = _mm256_and_si256(_mm256_srli_epi16(wv, 4), low_mask);
              if constexpr (kQ5) {
                const __m256i hb = Load(base + kQ5KHighOffset + c * 64 + h * 32);
                lo = _mm256_or_si256(lo, _mm256_and_si256(BitTo4(hb, 2 * p), bit4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(BitTo4(hb, 2 * p + 1), bit4));
              }
              alo = _mm256_add_epi32(alo, Dot4(lo, Bcast4(xq + 64 * p + 4 * c)));
              ahi = _mm256_add_epi32(ahi, Dot4(hi, Bcast4(xq + 64 * p + 32 + 4 * c)));
            }
            S = _mm256_add_epi32(S, _mm256_mullo_epi32(alo, ScaleK(base + kScales, h, 2 * p, false)));
            S = _mm256_add_epi32(S, _mm256_mullo_epi32(ahi, ScaleK(base + kScales, h, 2 * p + 1, false)));
          }
          for (int j = 0; j < 8; ++j) {
            const __m256i sum = _mm256_set1_epi32(s16[2 * j] + s16[2 * j + 1]);
            M = _mm256_add_epi32(M, _mm256_mullo_epi32(ScaleK(base + kScales, h, j, true), sum));
          }
          const __m256 vdx = _mm256_set1_ps(dx);
          facc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), _mm256_mul_ps(Halves(base + kD + h * 16), vdx), facc[h]);
          facc[h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(M), _mm256_mul_ps(Halves(base + kDmin + h * 16), vdx), facc[h]);
        }
      }
      StoreRows(y + m * ldy + g * kRowGroup, facc[0], facc[1], RowsInGroup(w, g));
    }
  }
}

}  // namespace

void MatMulQ4Kx16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  AffineK<false>(w, x, y, ldy, g0, g1);
}

void MatMulQ5Kx16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  AffineK<true>(w, x, y, ldy, g0, g1);
}

void MatMulQ6Kx16_Avx2(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols() / kQKK;
  const __m256i low_mask = _mm256_set1_epi8(0x0F), high_mask = _mm256_set1_epi8(0x30);
  for (int64_t g = g0; g < g1; ++g) {
    const unsigned char* d_all = w.group_data(g) + Q6KDOffset(blocks);
    for (int m = 0; m < x.m(); ++m) {
      __m256 facc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t b = 0; b < blocks; ++b) {
        const unsigned char* base = w.group_data(g) + b * kQ6KBlockBytes;
        const int8_t* xq = x.q8k(b, m);
        const int16_t* sums = x.sums8k(b, m);
        for (int h = 0; h < 2; ++h) {
          __m256i S = _mm256_setzero_si256();
          for (int n = 0; n < 2; ++n) {
            for (int hc = 0; hc < 2; ++hc) {
              __m256i acc[4];
              for (int k = 0; k < 4; ++k) acc[k] = _mm256_set1_epi32(-32 * sums[8 * n + 2 * k + hc]);
              for (int c = 4 * hc; c < 4 * hc + 4; ++c) {
                const __m256i a = Load(base + Q6KLowOffset(n, 0, c) + h * 32);
                const __m256i bq = Load(base + Q6KLowOffset(n, 1, c) + h * 32);
                const __m256i hb = Load(base + Q6KHighOffset(n, c) + h * 32);
                const __m256i e[4] = {_mm256_or_si256(_mm256_and_si256(a, low_mask),
                                                      _mm256_and_si256(_mm256_slli_epi16(hb, 4), high_mask)),
                                      _mm256_or_si256(_mm256_and_si256(bq, low_mask),
                                                      _mm256_and_si256(_mm256_slli_epi16(hb, 2), high_mask)),
                                      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low_mask),
                                                      _mm256_and_si256(hb, high_mask)),
                                      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bq, 4), low_mask),
                                                      _mm256_and_si256(_mm256_srli_epi16(hb, 2), high_mask))};
                for (int k = 0; k < 4; ++k)
                  acc[k] = _mm256_add_epi32(acc[k], Dot4(e[k], Bcast4(xq + 128 * n + 32 * k + 4 * c)));
              }
              for (int k = 0; k < 4; ++k) {
                const int s = 8 * n + 2 * k + hc;
                const __m256i sc = _mm256_cvtepi8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i*>(base + Q6KScaleOffset(s) + h * 8)));
                S = _mm256_add_epi32(S, _mm256_mullo_epi32(acc[k], sc));
              }
            }
          }
          const __m256 dw = Halves(d_all + b * kRowGroup * 2 + h * 16);
          facc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), _mm256_mul_ps(dw, _mm256_set1_ps(*x.d8k(b, m))), facc[h]);
        }
      }
      StoreRows(y + m * ldy + g * kRowGroup, facc[0], facc[1], RowsInGroup(w, g));
    }
  }
}

void QuantizeActRowK_Avx2(const float* x, int64_t k, int8_t* q, float* d, int16_t* sums) {
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / kQKK; ++b) {
    const float* xb = x + b * kQKK;
    __m256 a = _mm256_setzero_ps();
    for (int i = 0; i < 32; ++i) a = _mm256_max_ps(a, _mm256_and_ps(_mm256_loadu_ps(xb + 8 * i), sign_mask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float db = _mm_cvtss_f32(m4) / 127.f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    alignas(32) int32_t tmp[16];
    for (int s = 0; s < 16; ++s) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp),
                         _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 16 * s), vid)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8),
                         _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 16 * s + 8), vid)));
      int sum = 0;
      for (int j = 0; j < 16; ++j) {
        q[b * kQKK + 16 * s + j] = static_cast<int8_t>(tmp[j]);
        sum += tmp[j];
      }
      sums[b * 16 + s] = static_cast<int16_t>(sum);
    }
    d[b] = db;
  }
}

}  // namespace aperture::engine::internal

#pragma GCC pop_options
