#include "engine/kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/block_decode_test_util.h"
#include "engine/kernels/fp16.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

std::vector<float> RandomRow(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(Fp16Test, RoundTripsExactValuesAndRoundsToNearestEven) {
  for (float f : {0.f, -0.f, 1.f, -2.5f, 65504.f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(Fp16ToFp32(Fp32ToFp16(f)), f) << f;
  }
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3C00);
  EXPECT_EQ(Fp32ToFp16(1e6f), 0x7C00);  // overflow to infinity
  // 1 + 2^-11 is halfway between 1 and the next half; ties go to even (1.0).
  EXPECT_EQ(Fp32ToFp16(1.0f + 0.00048828125f), 0x3C00);
  EXPECT_EQ(Fp16ToFp32(0x7C00), INFINITY);
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0x7E00)));
}

TEST(Bf16Test, RoundTrips) {
  EXPECT_EQ(Bf16ToFp32(Fp32ToBf16(1.5f)), 1.5f);
  EXPECT_EQ(Fp32ToBf16(1.0f), 0x3F80);
  EXPECT_NEAR(Bf16ToFp32(Fp32ToBf16(3.14159f)), 3.14159f, 0.01f);
}

TEST(DequantizeTest, DecodesHandBuiltQ4_0AndQ8_0Blocks) {
  BlockQ4_0 q4{};
  q4.d = Fp32ToFp16(0.5f);
  for (int j = 0; j < 16; ++j) q4.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[32];
  DequantizeRow(GgmlType::kQ4_0, &q4, out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], (j - 8) * 0.5f);
    EXPECT_EQ(out[j + 16], (15 - j - 8) * 0.5f);
  }
  BlockQ8_0 q8{};
  q8.d = Fp32ToFp16(0.25f);
  for (int j = 0; j < 32; ++j) q8.qs[j] = static_cast<int8_t>(j * 4 - 64);
  DequantizeRow(GgmlType::kQ8_0, &q8, out, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], (j * 4 - 64) * 0.25f);
}

TEST(DequantizeTest, DecodesHandBuiltQ4_KBlock) {
  BlockQ4_K b{};
  b.d = Fp32ToFp16(1.0f);
  b.dmin = Fp32ToFp16(0.5f);
  // Sub-block 0: scale 2, min 3; sub-block 5: scale 33 (high bits in scales[1]), min 7.
  b.scales[0] = 2;
  b.scales[4] = 3;
  b.scales[9] = static_cast<uint8_t>((33 & 0xF) | ((7 & 0xF) << 4));
  b.scales[1] |= static_cast<uint8_t>((33 >> 4) << 6);
  for (int l = 0; l < 128; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  std::vector<float> out(256);
  DequantizeRow(GgmlType::kQ4_K, &b, out.data(), 256);
  EXPECT_EQ(out[0], 2.0f * 0 - 1.5f);
  EXPECT_EQ(out[5], 2.0f * 5 - 1.5f);
  // Sub-block 5 is the high nibbles of qs[64..95] (elements 160..191).
  EXPECT_EQ(out[160 + 3], 33.0f * (15 - (64 + 3) % 16) - 3.5f);
}

// Quantizing then dequantizing a Gaussian row stays within each format's
// expected error (relative RMS).
TEST(QuantizeTest, RoundTripErrorIsWithinFormatPrecision) {
  const int n = 1024;
  const std::vector<float> x = RandomRow(n, 7);
  struct Case {
    GgmlType type;
    double max_rel_rms;
  };
  for (const Case& c : {Case{GgmlType::kF32, 0.0}, Case{GgmlType::kF16, 1e-3}, Case{GgmlType::kBF16, 5e-3},
                        Case{GgmlType::kQ8_0, 0.01}, Case{GgmlType::kQ4_0, 0.15}, Case{GgmlType::kQ4_1, 0.12},
                        Case{GgmlType::kQ4_K, 0.15}, Case{GgmlType::kQ5_K, 0.08}, Case{GgmlType::kQ6_K, 0.04},
                        Case{GgmlType::kQ2_K, 0.45}, Case{GgmlType::kQ3_K, 0.3}, Case{GgmlType::kIQ4_XS, 0.15}}) {
    std::vector<uint8_t> buf(RowBytes(c.type, n));
    ASSERT_TRUE(QuantizeRow(c.type, x.data(), buf.data(), n).ok()) << GgmlTypeName(c.type);
    std::vector<float> y(n);
    DequantizeRow(c.type, buf.data(), y.data(), n);
    double err = 0, ref = 0;
    for (int i = 0; i < n; ++i) {
      err += (x[i] - y[i]) * (x[i] - y[i]);
      ref += x[i] * x[i];
    }
    EXPECT_LE(std::sqrt(err / ref), c.max_rel_rms) << GgmlTypeName(c.type);
  }
}

// Every block type decoded by the engine equals the float64 decoding written
// from the GGUF layouts, on blocks of random bytes (random scales, mins and
// quants; only the f16 super-block scales are drawn from finite values).
TEST(DequantizeTest, EveryBlockTypeMatchesTheSpecification) {
  std::mt19937 rng(12);
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.f, 1.f);
  struct Case {
    GgmlType type;
    std::vector<int> half_offsets;  // f16 fields within a block
  };
  for (const Case& c : {Case{GgmlType::kQ4_0, {0}}, Case{GgmlType::kQ4_1, {0, 2}}, Case{GgmlType::kQ8_0, {0}},
                        Case{GgmlType::kQ2_K, {80, 82}}, Case{GgmlType::kQ3_K, {108}}, Case{GgmlType::kQ4_K, {0, 2}},
                        Case{GgmlType::kQ5_K, {0, 2}}, Case{GgmlType::kQ6_K, {208}}, Case{GgmlType::kIQ4_XS, {0}},
                        Case{GgmlType::kF16, {}}, Case{GgmlType::kBF16, {}}}) {
    const auto info = *GetGgmlTypeInfo(c.type);
    const int64_t n = 1024, nb = n / info.block_size;
    std::vector<uint8_t> data(RowBytes(c.type, n));
    for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
    double scale_bound = 0;  // the largest f16 scale: bounds every term
    for (int64_t b = 0; b < nb; ++b) {
      for (int off : c.half_offsets) {
        const uint16_t h = Fp32ToFp16(normal(rng));
        std::memcpy(data.data() + b * info.type_size + off, &h, 2);
        scale_bound = std::max(scale_bound, static_cast<double>(std::fabs(Fp16ToFp32(h))));
      }
    }
    if (c.type == GgmlType::kF16 || c.type == GgmlType::kBF16) {
      // Random 16-bit patterns include infinities and NaNs; keep finite ones.
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data.data() + 2 * i, 2);
        const uint16_t exp_mask = c.type == GgmlType::kF16 ? 0x7C00 : 0x7F80;
        if ((h & exp_mask) == exp_mask) h = static_cast<uint16_t>(h & ~0x4000);
        std::memcpy(data.data() + 2 * i, &h, 2);
      }
    }
    std::vector<float> got(n);
    DequantizeRow(c.type, data.data(), got.data(), n);
    const std::vector<double> want = testing::DecodeAsDouble(c.type, data.data(), n);
    ASSERT_EQ(want.size(), static_cast<size_t>(n)) << GgmlTypeName(c.type);
    for (int64_t i = 0; i < n; ++i) {
      // Float rounding of d * scale * q - dmin * min: a few ulps of terms of
      // at most |d| * 127 * 127.
      const double tol = c.half_offsets.empty() ? 0.0 : 1e-6 * scale_bound * 127 * 127;
      ASSERT_NEAR(got[i], want[i], tol) << GgmlTypeName(c.type) << " element " << i;
    }
  }
}

TEST(QuantizeTest, RejectsBadLengthAndUnsupportedType) {
  std::vector<float> x(48);
  std::vector<uint8_t> buf(1024);
  EXPECT_FALSE(QuantizeRow(GgmlType::kQ4_0, x.data(), buf.data(), 48).ok());
  EXPECT_FALSE(QuantizeRow(GgmlType::kIQ2_XXS, x.data(), buf.data(), 32).ok());
}

}  // namespace
}  // namespace aperture::engine
