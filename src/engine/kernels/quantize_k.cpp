// Encoding and decoding of the super-block types; see quantize_k.h.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/fp16.h"
#include "engine/kernels/quantize_k.h"

namespace aperture::engine::internal {
namespace {

inline int NearestInt(float f) { return static_cast<int>(std::nearbyint(f)); }

// The signed value of largest magnitude among x[0..n) (0 when all are 0).
float SignedAbsMax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// Shared by Q4_K and Q5_K: per 32-element sub-block an affine scale and min,
// both quantized to 6 bits against the super-block's d and dmin. Writes the
// level of every element (0..nmax) into L.
void QuantKAffine(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales, uint8_t* L) {
  float sub_scale[8], sub_min[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float mn = 0, mx = x[j * 32];
    for (int l = 0; l < 32; ++l) {
      mn = std::min(mn, x[j * 32 + l]);
      mx = std::max(mx, x[j * 32 + l]);
    }
    sub_scale[j] = (mx - mn) / nmax;
    sub_min[j] = -mn;
    max_scale = std::max(max_scale, sub_scale[j]);
    max_min = std::max(max_min, sub_min[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(std::min(63, NearestInt(inv_scale * sub_scale[j])));
    lm[j] = static_cast<uint8_t>(std::min(63, NearestInt(inv_min * sub_min[j])));
  }
  std::memset(scales, 0, kKScaleSize);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j - 0] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
  *d_out = Fp32ToFp16(max_scale / 63.f);
  *dmin_out = Fp32ToFp16(max_min / 63.f);
  const float d = Fp16ToFp32(*d_out), dmin = Fp16ToFp32(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    ScaleMinK4(j, scales, &sc, &m);
    const float ds = d * sc;
    const float dm = dmin * m;
    for (int l = 0; l < 32; ++l) {
      const int q = ds != 0 ? NearestInt((x[j * 32 + l] + dm) / ds) : 0;
      L[j * 32 + l] = static_cast<uint8_t>(std::clamp(q, 0, nmax));
    }
  }
}

// The level of kIq4NlValues nearest to v.
int NearestIq4Level(float v) {
  int best = 0;
  for (int k = 1; k < 16; ++k) {
    if (std::fabs(v - kIq4NlValues[k]) < std::fabs(v - kIq4NlValues[best])) best = k;
  }
  return best;
}

}  // namespace

void DequantQ2_K(const BlockQ2_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = Fp16ToFp32(x[i].d);
    const float dmin = Fp16ToFp32(x[i].dmin);
    for (int s = 0; s < 16; ++s) {
      const uint8_t sc = x[i].scales[s];
      const float dl = d * static_cast<float>(sc & 0xF);
      const float ml = dmin * static_cast<float>(sc >> 4);
      // Sub-block s: elements 16s.. = 128n + 32j + 16h + l.
      const int n = s / 8, j = (s % 8) / 2, h = s % 2;
      for (int l = 0; l < 16; ++l) {
        const int q = (x[i].qs[32 * n + 16 * h + l] >> (2 * j)) & 3;
        y[16 * s + l] = dl * static_cast<float>(q) - ml;
      }
    }
  }
}

void DequantQ3_K(const BlockQ3_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(ScaleQ3K(s, x[i].scales) - 32);
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * s + l;
        const int low = (x[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        const int high = (x[i].hmask[e % 32] >> (e / 32)) & 1;
        y[e] = dl * static_cast<float>(low + 4 * high - 4);
      }
    }
  }
}

void DequantQ4_K(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = Fp16ToFp32(x[i].d);
    const float dmin = Fp16ToFp32(x[i].dmin);
    int is = 0;
    for (int j = 0; j < kQKK; j += 64) {
      uint8_t sc, m;
      ScaleMinK4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void DequantQ5_K(const BlockQ5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = Fp16ToFp32(x[i].d);
    const float dmin = Fp16ToFp32(x[i].dmin);
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQKK; j += 64) {
      uint8_t sc, m;
      ScaleMinK4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void DequantQ6_K(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQKK; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = static_cast<int>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = static_cast<int>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void DequantIQ4_XS(const BlockIQ4_XS* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int s = 0; s < 8; ++s) {
      const float dl = d * static_cast<float>(ScaleIQ4XS(s, x[i]) - 32);
      for (int j = 0; j < 16; ++j) {
        const uint8_t q = x[i].qs[16 * s + j];
        y[32 * s + j] = dl * static_cast<float>(kIq4NlValues[q & 0xF]);
        y[32 * s + 16 + j] = dl * static_cast<float>(kIq4NlValues[q >> 4]);
      }
    }
  }
}

void DequantQ8_K(const BlockQ8_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i)
    for (int j = 0; j < kQKK; ++j) *y++ = x[i].d * x[i].qs[j];
}

// Per 16-element sub-block an affine scale and min (4 bits each against the
// super-block's d and dmin), 2-bit levels.
void QuantQ2_K(const float* x, BlockQ2_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float sub_scale[16], sub_min[16];
    float max_scale = 0, max_min = 0;
    for (int s = 0; s < 16; ++s) {
      float mn = 0, mx = x[16 * s];
      for (int l = 0; l < 16; ++l) {
        mn = std::min(mn, x[16 * s + l]);
        mx = std::max(mx, x[16 * s + l]);
      }
      sub_scale[s] = (mx - mn) / 3;
      sub_min[s] = -mn;
      max_scale = std::max(max_scale, sub_scale[s]);
      max_min = std::max(max_min, sub_min[s]);
    }
    y[i].d = Fp32ToFp16(max_scale / 15);
    y[i].dmin = Fp32ToFp16(max_min / 15);
    const float d = Fp16ToFp32(y[i].d), dmin = Fp16ToFp32(y[i].dmin);
    std::memset(y[i].qs, 0, sizeof(y[i].qs));
    for (int s = 0; s < 16; ++s) {
      const int ls = d > 0 ? std::clamp(NearestInt(sub_scale[s] / d), 0, 15) : 0;
      const int lm = dmin > 0 ? std::clamp(NearestInt(sub_min[s] / dmin), 0, 15) : 0;
      y[i].scales[s] = static_cast<uint8_t>(ls | (lm << 4));
      const float dl = d * static_cast<float>(ls), ml = dmin * static_cast<float>(lm);
      const int n = s / 8, j = (s % 8) / 2, h = s % 2;
      for (int l = 0; l < 16; ++l) {
        const int q = dl > 0 ? std::clamp(NearestInt((x[16 * s + l] + ml) / dl), 0, 3) : 0;
        y[i].qs[32 * n + 16 * h + l] |= static_cast<uint8_t>(q << (2 * j));
      }
    }
  }
}

// Per 16-element sub-block a signed scale (6 bits against d) chosen so the
// element of largest magnitude lands on level -4; levels -4..3.
void QuantQ3_K(const float* x, BlockQ3_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float scale[16];
    for (int s = 0; s < 16; ++s) scale[s] = SignedAbsMax(x + 16 * s, 16) / -4.f;
    const float max_scale = SignedAbsMax(scale, 16);
    std::memset(&y[i], 0, sizeof(BlockQ3_K));
    y[i].d = Fp32ToFp16(max_scale / -32.f);
    const float d = Fp16ToFp32(y[i].d);
    for (int s = 0; s < 16; ++s) {
      const int ls = d != 0 ? std::clamp(NearestInt(scale[s] / d), -32, 31) : 0;
      const uint8_t stored = static_cast<uint8_t>(ls + 32);
      if (s < 8) {
        y[i].scales[s] |= stored & 0xF;
      } else {
        y[i].scales[s - 8] |= static_cast<uint8_t>((stored & 0xF) << 4);
      }
      y[i].scales[8 + s % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (s / 4)));
      const float dl = d * static_cast<float>(ls);
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * s + l;
        const int q = (dl != 0 ? std::clamp(NearestInt(x[e] / dl), -4, 3) : 0) + 4;
        y[i].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q & 3) << (2 * ((e / 32) % 4)));
        y[i].hmask[e % 32] |= static_cast<uint8_t>((q >> 2) << (e / 32));
      }
    }
  }
}

void QuantQ4_K(const float* x, BlockQ4_K* y, int64_t nb) {
  uint8_t L[kQKK];
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    QuantKAffine(x, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQKK; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
  }
}

void QuantQ5_K(const float* x, BlockQ5_K* y, int64_t nb) {
  uint8_t L[kQKK];
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    QuantKAffine(x, 31, &y[i].d, &y[i].dmin, y[i].scales, L);
    uint8_t* qh = y[i].qh;
    uint8_t* ql = y[i].qs;
    std::memset(qh, 0, kQKK / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < kQKK; n += 64) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        int l2 = L[n + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

void QuantQ6_K(const float* x, BlockQ6_K* y, int64_t nb) {
  int8_t L[kQKK];
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float scale[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      float amax = 0, max = 0;
      for (int l = 0; l < 16; ++l) {
        const float v = x[ib * 16 + l];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          max = v;
        }
      }
      scale[ib] = max / -32.f;
      if (std::fabs(scale[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scale[ib]);
        max_scale = scale[ib];
      }
    }
    if (max_abs_scale == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = Fp32ToFp16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib)
      y[i].scales[ib] = static_cast<int8_t>(std::clamp(NearestInt(iscale * scale[ib]), -128, 127));
    const float d0 = Fp16ToFp32(y[i].d);
    for (int ib = 0; ib < 16; ++ib) {
      const float d = d0 * y[i].scales[ib];
      for (int l = 0; l < 16; ++l) {
        const int q = d != 0 ? NearestInt(x[ib * 16 + l] / d) : 0;
        L[ib * 16 + l] = static_cast<int8_t>(std::clamp(q, -32, 31) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQKK; j += 128) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                     ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}
// Per 32-element sub-block a signed scale (6 bits against d) chosen so the
// element of largest magnitude lands on the level -127; every element then
// takes the nearest of the 16 levels.
void QuantIQ4_XS(const float* x, BlockIQ4_XS* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float scale[8];
    for (int s = 0; s < 8; ++s) scale[s] = SignedAbsMax(x + 32 * s, 32) / -127.f;
    const float max_scale = SignedAbsMax(scale, 8);
    std::memset(&y[i], 0, sizeof(BlockIQ4_XS));
    y[i].d = Fp32ToFp16(max_scale / -32.f);
    const float d = Fp16ToFp32(y[i].d);
    for (int s = 0; s < 8; ++s) {
      const int ls = d != 0 ? std::clamp(NearestInt(scale[s] / d), -32, 31) : 0;
      const int stored = ls + 32;
      y[i].scales_l[s / 2] |= static_cast<uint8_t>((stored & 0xF) << (4 * (s % 2)));
      y[i].scales_h |= static_cast<uint16_t>((stored >> 4) << (2 * s));
      const float dl = d * static_cast<float>(ls);
      for (int j = 0; j < 16; ++j) {
        const int lo = dl != 0 ? NearestIq4Level(x[32 * s + j] / dl) : 8;
        const int hi = dl != 0 ? NearestIq4Level(x[32 * s + 16 + j] / dl) : 8;
        y[i].qs[16 * s + j] = static_cast<uint8_t>(lo | (hi << 4));
      }
    }
  }
}

}  // namespace aperture::engine::internal
