// Test-only: float64 decoding of every GGUF block type the engine reads,
// written from the block layouts of the GGUF specification (ggml-common.h),
// not from the engine's code, so the engine's dequantization, repacking and
// reference forward passes can be checked against it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/gguf/ggml_type.h"

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

inline double Bf16AsDouble(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t U16At(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// The 2-bit field `field` (0..3) of byte b.
inline int Bits2(uint8_t b, int field) { return (b >> (2 * field)) & 3; }

// Decodes n elements of `type` at p into doubles; false for a type not covered.
inline bool DecodeAsDouble(GgmlType type, const uint8_t* p, int64_t n, double* out) {
  switch (type) {
    case GgmlType::kF32:
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out[i] = f;
      }
      return true;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = HalfAsDouble(U16At(p + 2 * i));
      return true;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16AsDouble(U16At(p + 2 * i));
      return true;
    case GgmlType::kQ8_0:  // { half d; int8 q[32] }: x = d * q
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 34;
        for (int j = 0; j < 32; ++j) out[b * 32 + j] = HalfAsDouble(U16At(blk)) * static_cast<int8_t>(blk[2 + j]);
      }
      return true;
    case GgmlType::kQ4_0:  // { half d; uint8 qs[16] }: x[j] = d (lo(qs[j]) - 8), x[j+16] = d (hi - 8)
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 18;
        const double d = HalfAsDouble(U16At(blk));
        for (int j = 0; j < 16; ++j) {
          out[b * 32 + j] = d * ((blk[2 + j] & 0xF) - 8);
          out[b * 32 + j + 16] = d * ((blk[2 + j] >> 4) - 8);
        }
      }
      return true;
    case GgmlType::kQ4_1:  // { half d, m; uint8 qs[16] }: x = d q + m
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 20;
        const double d = HalfAsDouble(U16At(blk)), m = HalfAsDouble(U16At(blk + 2));
        for (int j = 0; j < 16; ++j) {
          out[b * 32 + j] = d * (blk[4 + j] & 0xF) + m;
          out[b * 32 + j + 16] = d * (blk[4 + j] >> 4) + m;
        }
      }
      return true;
    case GgmlType::kQ2_K:  // { uint8 scales[16]; uint8 qs[64]; half d, dmin }
      for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = p + b * 84;
        const uint8_t* scales = blk;
        const uint8_t* qs = blk + 16;
        const double d = HalfAsDouble(U16At(blk + 80)), dmin = HalfAsDouble(U16At(blk + 82));
        // Each 128-element half takes 32 bytes of qs; its 4 slices of 32
        // elements are the 4 bit-pairs of those bytes, low pair first.
        for (int e = 0; e < 256; ++e) {
          const int half = e / 128, slice = (e % 128) / 32, l = e % 32;
          const int q = Bits2(qs[32 * half + l], slice);
          const uint8_t sc = scales[e / 16];
          out[b * 256 + e] = d * (sc & 0xF) * q - dmin * (sc >> 4);
        }
      }
      return true;
    case GgmlType::kQ3_K:  // { uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d }
      for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = p + b * 110;
        const uint8_t* hmask = blk;
        const uint8_t* qs = blk + 32;
        const uint8_t* scales = blk + 96;
        const double d = HalfAsDouble(U16At(blk + 108));
        int sc[16];
        for (int i = 0; i < 16; ++i) {
          // Low 4 bits: the nibbles of bytes 0..7 (low nibbles for 0..7, high for 8..15);
          // high 2 bits: bytes 8..11, bit pair i / 4 of byte 8 + i % 4.
          const int low = (i < 8) ? (scales[i] & 0xF) : (scales[i - 8] >> 4);
          sc[i] = (low | (Bits2(scales[8 + i % 4], i / 4) << 4)) - 32;
        }
        for (int e = 0; e < 256; ++e) {
          const int half = e / 128, slice = (e % 128) / 32, l = e % 32;
          const int low = Bits2(qs[32 * half + l], slice);
          const int high = (hmask[l] >> (e / 32)) & 1;  // set: +0, clear: -4
          out[b * 256 + e] = d * sc[e / 16] * (low - (high ? 0 : 4));
        }
      }
      return true;
    case GgmlType::kQ4_K:  // { half d, dmin; uint8 scales[12]; uint8 qs[128] }
    case GgmlType::kQ5_K:  // { half d, dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128] }
      for (int64_t b = 0; b < n / 256; ++b) {
        const bool q5 = type == GgmlType::kQ5_K;
        const uint8_t* blk = p + b * (q5 ? 176 : 144);
        const double d = HalfAsDouble(U16At(blk)), dmin = HalfAsDouble(U16At(blk + 2));
        const uint8_t* s = blk + 4;
        const uint8_t* qh = blk + 16;
        const uint8_t* qs = blk + (q5 ? 48 : 16);
        for (int e = 0; e < 256; ++e) {
          const int j = e / 32;  // sub-block: scale and min are 6 bits each
          int sc, mn;
          if (j < 4) {
            sc = s[j] & 63;
            mn = s[j + 4] & 63;
          } else {
            sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
            mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
          }
          // Sub-blocks 2i and 2i+1 are the low and high nibbles of qs[32i..32i+32).
          const uint8_t byte = qs[32 * (j / 2) + e % 32];
          int q = (j % 2 == 0) ? (byte & 0xF) : (byte >> 4);
          if (q5) q += ((qh[e % 32] >> j) & 1) * 16;
          out[b * 256 + e] = d * sc * q - dmin * mn;
        }
      }
      return true;
    case GgmlType::kQ6_K:  // { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d }
      for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = p + b * 210;
        const uint8_t* ql = blk;
        const uint8_t* qh = blk + 128;
        const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
        const double d = HalfAsDouble(U16At(blk + 208));
        for (int e = 0; e < 256; ++e) {
          // Per 128-element half: 64 bytes of ql, 32 of qh. Slice k (32
          // elements) takes the low (k = 0, 1) or high (k = 2, 3) nibbles of
          // ql[32 (k % 2) ..] and bit pair k of qh.
          const int half = e / 128, k = (e % 128) / 32, l = e % 32;
          const uint8_t lo_byte = ql[64 * half + 32 * (k % 2) + l];
          const int lo = k < 2 ? (lo_byte & 0xF) : (lo_byte >> 4);
          const int q = lo | (Bits2(qh[32 * half + l], k) << 4);
          out[b * 256 + e] = d * scales[e / 16] * (q - 32);
        }
      }
      return true;
    case GgmlType::kIQ4_XS: {  // { half d; uint16 scales_h; uint8 scales_l[4]; uint8 qs[128] }
      static constexpr int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
      for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* blk = p + b * 136;
        const double d = HalfAsDouble(U16At(blk));
        const uint16_t scales_h = U16At(blk + 2);
        const uint8_t* scales_l = blk + 4;
        const uint8_t* qs = blk + 8;
        for (int e = 0; e < 256; ++e) {
          const int j = e / 32;
          const int ls = ((scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((scales_h >> (2 * j)) & 3) << 4);
          const uint8_t byte = qs[16 * j + e % 16];
          const int q = (e % 32) < 16 ? (byte & 0xF) : (byte >> 4);
          out[b * 256 + e] = d * (ls - 32) * kLevels[q];
        }
      }
      return true;
    }
    default:
      return false;
  }
}

inline std::vector<double> DecodeAsDouble(GgmlType type, const uint8_t* p, int64_t n) {
  std::vector<double> out(n);
  if (!DecodeAsDouble(type, p, n, out.data())) out.clear();
  return out;
}

}  // namespace aperture::engine::testing
