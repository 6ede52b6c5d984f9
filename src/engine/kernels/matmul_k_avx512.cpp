// AVX-512 VNNI K-quant kernels (Q4_K, Q5_K, Q6_K): vpdpbusd of the 16 rows'
// unsigned quants against 4 broadcast activation bytes, one int32 sum per
// row and sub-block, scaled by the sub-block scales in integers (vpmulld),
// then the float steps of matmul_k_scalar.cpp. Compiled for the ISA by the
// target pragma after every include; called only when the CPU has it.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

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

inline __m512i Bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

inline __m512 Halves(const unsigned char* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Fetches super-block b + kAhead of the G groups at `base` (their super-block
// b) into the cache: the hardware prefetchers do not follow the jumps
// within a super-block soon enough, and every product waits on memory.
template <int G>
inline void PrefetchAhead(const unsigned char* const* base, int64_t b, int64_t blocks, int64_t block_bytes) {
  constexpr int64_t kAhead = 2;
  if (b + kAhead >= blocks) return;
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const unsigned char* ahead = base[i] + kAhead * block_bytes;
    for (int64_t line = 0; line < block_bytes; line += 64)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + line), _MM_HINT_T0);
  }
}

// The 6-bit scale (kMin = false) or min of sub-block j (0..7) of the 16 rows
// of a Q4_K/Q5_K super-block, from its three scale words (matmul_kernels.h).
template <int J, bool kMin>
inline __m512i ScaleK(const unsigned char* scales) {
  const __m512i v0 = _mm512_load_si512(scales);
  const __m512i v1 = _mm512_load_si512(scales + 64);
  const __m512i v2 = _mm512_load_si512(scales + 128);
  if constexpr (J < 4) {
    return _mm512_and_si512(_mm512_srli_epi32(kMin ? v1 : v0, 8 * J), _mm512_set1_epi32(63));
  } else {
    const __m512i low = _mm512_and_si512(_mm512_srli_epi32(v2, 8 * (J - 4) + (kMin ? 4 : 0)), _mm512_set1_epi32(15));
    const __m512i high = _mm512_and_si512(_mm512_srli_epi32(kMin ? v1 : v0, 8 * (J - 4) + 2), _mm512_set1_epi32(48));
    return _mm512_or_si512(low, high);
  }
}

// Moves bit kFrom of every byte to bit 4 (other bits: garbage, masked by the caller).
template <int kFrom>
inline __m512i BitTo4(__m512i v) {
  if constexpr (kFrom < 4) return _mm512_slli_epi16(v, 4 - kFrom);
  if constexpr (kFrom > 4) return _mm512_srli_epi16(v, kFrom - 4);
  return v;
}

// Sub-blocks 2P and 2P+1 of super-block `b` for G groups x T rows: adds
// sc[2P] * dot + sc[2P+1] * dot to S.
template <bool kQ5, int P, int G, int T>
inline void AffinePair(const unsigned char* const* base, const int8_t* xq, __m512i (&S)[G][T]) {
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  __m512i alo[G][T], ahi[G][T];
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) alo[i][t] = ahi[i][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) {
    __m512i xl[T], xh[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      xl[t] = Bcast4(xq + t * kQKK + 64 * P + 4 * c);
      xh[t] = Bcast4(xq + t * kQKK + 64 * P + 32 + 4 * c);
    }
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const __m512i wv = _mm512_load_si512(base[i] + P * 512 + c * 64);
      __m512i lo = _mm512_and_si512(wv, low_mask);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(wv, 4), low_mask);
      if constexpr (kQ5) {
        const __m512i h = _mm512_load_si512(base[i] + kQ5KHighOffset + c * 64);
        lo = _mm512_or_si512(lo, _mm512_and_si512(BitTo4<2 * P>(h), bit4));
        hi = _mm512_or_si512(hi, _mm512_and_si512(BitTo4<2 * P + 1>(h), bit4));
      }
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        alo[i][t] = _mm512_dpbusd_epi32(alo[i][t], lo, xl[t]);
        ahi[i][t] = _mm512_dpbusd_epi32(ahi[i][t], hi, xh[t]);
      }
    }
  }
  constexpr int64_t kScales = kQ5 ? kQ5KScalesOffset : kQ4KScalesOffset;
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const __m512i sc_lo = ScaleK<2 * P, false>(base[i] + kScales);
    const __m512i sc_hi = ScaleK<2 * P + 1, false>(base[i] + kScales);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      S[i][t] = _mm512_add_epi32(S[i][t], _mm512_mullo_epi32(alo[i][t], sc_lo));
      S[i][t] = _mm512_add_epi32(S[i][t], _mm512_mullo_epi32(ahi[i][t], sc_hi));
    }
  }
}

template <int J, int G, int T>
inline void AddMin(const unsigned char* const* scales, const int32_t (&sums32)[T][8], __m512i (&M)[G][T]) {
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const __m512i mn = ScaleK<J, true>(scales[i]);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      M[i][t] = _mm512_add_epi32(M[i][t], _mm512_mullo_epi32(mn, _mm512_set1_epi32(sums32[t][J])));
  }
}

// G consecutive groups x T activation rows (from m0) of a Q4_K/Q5_K matrix.
template <bool kQ5, int G, int T>
inline void AffineTile(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
  constexpr int64_t kBlockBytes = kQ5 ? kQ5KBlockBytes : kQ4KBlockBytes;
  constexpr int64_t kScales = kQ5 ? kQ5KScalesOffset : kQ4KScalesOffset;
  constexpr int64_t kD = kQ5 ? kQ5KDOffset : kQ4KDOffset;
  constexpr int64_t kDmin = kQ5 ? kQ5KDminOffset : kQ4KDminOffset;
  const int64_t blocks = w.cols() / kQKK;
  __m512 facc[G][T];
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) facc[i][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const unsigned char* base[G];
    const unsigned char* scales[G];
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      base[i] = w.group_data(g + i) + b * kBlockBytes;
      scales[i] = base[i] + kScales;
    }
    PrefetchAhead<G>(base, b, blocks, kBlockBytes);
    const int8_t* xq = x.q8k(b, m0);  // rows 256 bytes apart
    __m512i S[G][T], M[G][T];
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) S[i][t] = M[i][t] = _mm512_setzero_si512();
    AffinePair<kQ5, 0, G, T>(base, xq, S);
    AffinePair<kQ5, 1, G, T>(base, xq, S);
    AffinePair<kQ5, 2, G, T>(base, xq, S);
    AffinePair<kQ5, 3, G, T>(base, xq, S);
    int32_t sums32[T][8];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int16_t* s16 = x.sums8k(b, m0 + t);
      for (int j = 0; j < 8; ++j) sums32[t][j] = s16[2 * j] + s16[2 * j + 1];
    }
    AddMin<0, G, T>(scales, sums32, M);
    AddMin<1, G, T>(scales, sums32, M);
    AddMin<2, G, T>(scales, sums32, M);
    AddMin<3, G, T>(scales, sums32, M);
    AddMin<4, G, T>(scales, sums32, M);
    AddMin<5, G, T>(scales, sums32, M);
    AddMin<6, G, T>(scales, sums32, M);
    AddMin<7, G, T>(scales, sums32, M);
    const float* dx = x.d8k(b, m0);
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const __m512 dw = Halves(base[i] + kD);
      const __m512 dm = Halves(base[i] + kDmin);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m512 vdx = _mm512_set1_ps(dx[t]);
        facc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[i][t]), _mm512_mul_ps(dw, vdx), facc[i][t]);
        facc[i][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(M[i][t]), _mm512_mul_ps(dm, vdx), facc[i][t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const int nr = RowsInGroup(w, g + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) StoreRows(y + (m0 + t) * ldy + (g + i) * kRowGroup, facc[i][t], nr);
  }
}

// Sub-blocks s = 8N + HC + 2K and 8N + HC + 2K + 2 (K = 0: the low nibbles
// of the two parts of half N; K = 2: their high nibbles) of a Q6_K
// super-block, chunks 4HC..4HC+3: S += sc[s] * (dot - 32 * sum), the
// -32 * sum (`bias`, per row and sub-block) starting the dot. Two sub-blocks
// at a time keep every sum in a register for 4 rows.
template <int N, int HC, int K, int G, int T>
inline void Q6Pair(const unsigned char* const* base, const int8_t* xq, const int32_t (&bias)[T][16],
                   __m512i (&S)[G][T]) {
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i high_mask = _mm512_set1_epi8(0x30);
  constexpr int s0 = 8 * N + HC + 2 * K, s1 = s0 + 2;
  __m512i acc0[G][T], acc1[G][T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      acc0[i][t] = _mm512_set1_epi32(bias[t][s0]);
      acc1[i][t] = _mm512_set1_epi32(bias[t][s1]);
    }
  }
#pragma GCC unroll 4
  for (int c = 4 * HC; c < 4 * HC + 4; ++c) {
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const __m512i a = _mm512_load_si512(base[i] + Q6KLowOffset(N, 0, c));
      const __m512i bq = _mm512_load_si512(base[i] + Q6KLowOffset(N, 1, c));
      const __m512i h = _mm512_load_si512(base[i] + Q6KHighOffset(N, c));
      __m512i e0, e1;
      if constexpr (K == 0) {
        e0 = _mm512_or_si512(_mm512_and_si512(a, low_mask), _mm512_and_si512(_mm512_slli_epi16(h, 4), high_mask));
        e1 = _mm512_or_si512(_mm512_and_si512(bq, low_mask), _mm512_and_si512(_mm512_slli_epi16(h, 2), high_mask));
      } else {
        e0 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), low_mask), _mm512_and_si512(h, high_mask));
        e1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(bq, 4), low_mask),
                             _mm512_and_si512(_mm512_srli_epi16(h, 2), high_mask));
      }
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        acc0[i][t] = _mm512_dpbusd_epi32(acc0[i][t], e0, Bcast4(xq + t * kQKK + 128 * N + 32 * K + 4 * c));
        acc1[i][t] = _mm512_dpbusd_epi32(acc1[i][t], e1, Bcast4(xq + t * kQKK + 128 * N + 32 * K + 32 + 4 * c));
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const __m512i sc0 =
        _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(base[i] + Q6KScaleOffset(s0))));
    const __m512i sc1 =
        _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(base[i] + Q6KScaleOffset(s1))));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      S[i][t] = _mm512_add_epi32(S[i][t], _mm512_mullo_epi32(acc0[i][t], sc0));
      S[i][t] = _mm512_add_epi32(S[i][t], _mm512_mullo_epi32(acc1[i][t], sc1));
    }
  }
}

template <int G, int T>
inline void Q6Tile(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
  const int64_t blocks = w.cols() / kQKK;
  __m512 facc[G][T];
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) facc[i][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const unsigned char* base[G];
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) base[i] = w.group_data(g + i) + b * kQ6KBlockBytes;
    PrefetchAhead<G>(base, b, blocks, kQ6KBlockBytes);
    const int8_t* xq = x.q8k(b, m0);
    int32_t bias[T][16];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int16_t* sums = x.sums8k(b, m0 + t);
      for (int j = 0; j < 16; ++j) bias[t][j] = -32 * sums[j];
    }
    __m512i S[G][T];
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) S[i][t] = _mm512_setzero_si512();
    // In layout order: half N, chunks of HC, low then high nibbles.
    Q6Pair<0, 0, 0, G, T>(base, xq, bias, S);
    Q6Pair<0, 0, 2, G, T>(base, xq, bias, S);
    Q6Pair<0, 1, 0, G, T>(base, xq, bias, S);
    Q6Pair<0, 1, 2, G, T>(base, xq, bias, S);
    Q6Pair<1, 0, 0, G, T>(base, xq, bias, S);
    Q6Pair<1, 0, 2, G, T>(base, xq, bias, S);
    Q6Pair<1, 1, 0, G, T>(base, xq, bias, S);
    Q6Pair<1, 1, 2, G, T>(base, xq, bias, S);
    const float* dx = x.d8k(b, m0);
#pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const __m512 dw = Halves(w.group_data(g + i) + Q6KDOffset(blocks) + b * kRowGroup * 2);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        facc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[i][t]), _mm512_mul_ps(dw, _mm512_set1_ps(dx[t])), facc[i][t]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < G; ++i) {
    const int nr = RowsInGroup(w, g + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) StoreRows(y + (m0 + t) * ldy + (g + i) * kRowGroup, facc[i][t], nr);
  }
}

// Tiles: a few rows (decoding) take several groups at once so the core has
// independent chains; more rows take one group at a time while tiles of 4
// rows pass over its weights (in L1). Tile::kDecodeGroups is how many
// groups one row takes.
template <template <int, int> class Tile>
void Run(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  const int m = x.m();
  auto groups = [&](auto gt, auto tt, int m0) {
    constexpr int kG = decltype(gt)::value, kT = decltype(tt)::value;
    int64_t g = g0;
    for (; g + kG <= g1; g += kG) Tile<kG, kT>::Run(w, g, x, m0, y, ldy);
    for (; g < g1; ++g) Tile<1, kT>::Run(w, g, x, m0, y, ldy);
  };
  using I1 = std::integral_constant<int, 1>;
  using I2 = std::integral_constant<int, 2>;
  using I3 = std::integral_constant<int, 3>;
  using I4 = std::integral_constant<int, 4>;
  constexpr int kDecodeGroups = Tile<1, 1>::kDecodeGroups;
  switch (m) {
    case 1:
      return groups(std::integral_constant<int, kDecodeGroups>{}, I1{}, 0);
    case 2:
      return groups(std::integral_constant<int, kDecodeGroups / 2>{}, I2{}, 0);
    case 3:
      return groups(I1{}, I3{}, 0);
    case 4:
      return groups(I1{}, I4{}, 0);
    default:
      break;
  }
  constexpr int kT = 4;
  for (int64_t g = g0; g < g1; ++g) {
    int i = 0;
    for (; i + kT <= m; i += kT) Tile<1, kT>::Run(w, g, x, i, y, ldy);
    switch (m - i) {
      case 1:
        Tile<1, 1>::Run(w, g, x, i, y, ldy);
        break;
      case 2:
        Tile<1, 2>::Run(w, g, x, i, y, ldy);
        break;
      case 3:
        Tile<1, 3>::Run(w, g, x, i, y, ldy);
        break;
      default:
        break;
    }
  }
}

template <int G, int T>
struct Q4KTile {
  static constexpr int kDecodeGroups = 4;
  static void Run(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
    AffineTile<false, G, T>(w, g, x, m0, y, ldy);
  }
};
template <int G, int T>
struct Q5KTile {
  static constexpr int kDecodeGroups = 4;
  static void Run(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
    AffineTile<true, G, T>(w, g, x, m0, y, ldy);
  }
};
template <int G, int T>
struct Q6KTile {
  static constexpr int kDecodeGroups = 4;
  static void Run(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
    Q6Tile<G, T>(w, g, x, m0, y, ldy);
  }
};

}  // namespace

void MatMulQ4Kx16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  Run<Q4KTile>(w, x, y, ldy, g0, g1);
}

void MatMulQ5Kx16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  Run<Q5KTile>(w, x, y, ldy, g0, g1);
}

void MatMulQ6Kx16_Avx512(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  Run<Q6KTile>(w, x, y, ldy, g0, g1);
}

void QuantizeActRowK_Avx512(const float* x, int64_t k, int8_t* q, float* d, int16_t* sums) {
  for (int64_t b = 0; b < k / kQKK; ++b) {
    const float* xb = x + b * kQKK;
    __m512 a = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) a = _mm512_max_ps(a, _mm512_abs_ps(_mm512_loadu_ps(xb + 16 * i)));
    const float db = _mm512_reduce_max_ps(a) / 127.f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    for (int s = 0; s < 16; ++s) {
      const __m512i iv = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * s), vid));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kQKK + 16 * s), _mm512_cvtepi32_epi8(iv));
      sums[b * 16 + s] = static_cast<int16_t>(_mm512_reduce_add_epi32(iv));
    }
    d[b] = db;
  }
}

}  // namespace aperture::engine::internal

#pragma GCC pop_options
