#include "engine/kernels/quantize.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

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
                        Case{GgmlType::kQ4_K, 0.15}, Case{GgmlType::kQ5_K, 0.08}, Case{GgmlType::kQ6_K, 0.04}}) {
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

TEST(QuantizeTest, RejectsBadLengthAndUnsupportedType) {
  std::vector<float> x(48);
  std::vector<uint8_t> buf(1024);
  EXPECT_FALSE(QuantizeRow(GgmlType::kQ4_0, x.data(), buf.data(), 48).ok());
  EXPECT_FALSE(QuantizeRow(GgmlType::kIQ2_XXS, x.data(), buf.data(), 32).ok());
}

}  // namespace
}  // namespace aperture::engine
