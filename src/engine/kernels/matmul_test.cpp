#include "engine/kernels/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/cpu_features.h"
#include "engine/kernels/fp16.h"
#include "engine/kernels/quantize.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

std::vector<float> RandomVec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Fixture {
  int64_t rows, cols;
  std::vector<uint8_t> wbytes;  // file layout
  std::vector<float> wdeq;      // dequantized weights
};

Fixture MakeWeights(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  Fixture f{rows, cols, {}, {}};
  const std::vector<float> w = RandomVec(rows * cols, seed);
  f.wbytes.resize(RowBytes(type, cols) * rows);
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_TRUE(QuantizeRow(type, &w[r * cols], f.wbytes.data() + r * RowBytes(type, cols), cols).ok());
  f.wdeq.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    DequantizeRow(type, f.wbytes.data() + r * RowBytes(type, cols), &f.wdeq[r * cols], cols);
  return f;
}

std::vector<float> RunMatMul(const PackedMatrix& w, const std::vector<float>& x, int m, Isa isa) {
  SetActiveIsa(isa);
  Activations acts;
  acts.Bind(x.data(), m, w.cols(), w.cols(), w.activation_forms());
  acts.QuantizeRows(0, m);
  std::vector<float> y(static_cast<size_t>(m) * w.rows(), -1.f);
  MatMulGroups(w, acts, y.data(), w.rows(), 0, w.groups());
  SetActiveIsa(DetectIsa());
  return y;
}

// Bound on |y - exact| relative to sum |w x| for a layout: 8-bit activations
// for the integer kernels, bfloat16 activations for BF16, float sums otherwise.
double Tolerance(const PackedMatrix& w) {
  const unsigned forms = w.activation_forms();
  if ((forms & (kActivationsQ8 | kActivationsQ8K)) != 0) return 0.02;
  if ((forms & kActivationsBf16) != 0) return 0.004;
  return 1e-5;
}

class MatMulTest : public ::testing::TestWithParam<GgmlType> {};

// Against a float64 product of the dequantized weights and the input: the
// integer paths also quantize the input to 8 bits, so their tolerance is
// larger (relative to the row's magnitude).
TEST_P(MatMulTest, MatchesFloat64ReferenceOnEveryIsa) {
  const GgmlType type = GetParam();
  const int64_t rows = 45, cols = 256;  // a partial last group of 16 rows
  const int m = 13;
  Fixture f = MakeWeights(type, rows, cols, 1);
  const std::vector<float> x = RandomVec(m * cols, 2);
  for (bool repack : {true, false}) {
    auto w = PackedMatrix::Create(type, f.wbytes.data(), rows, cols, repack);
    ASSERT_TRUE(w.ok()) << w.status();
    const double tol = Tolerance(*w);
    for (Isa isa : AvailableIsas()) {
      const std::vector<float> y = RunMatMul(*w, x, m, isa);
      for (int i = 0; i < m; ++i) {
        for (int64_t n = 0; n < rows; ++n) {
          double ref = 0, mag = 0;
          for (int64_t k = 0; k < cols; ++k) {
            ref += static_cast<double>(f.wdeq[n * cols + k]) * x[i * cols + k];
            mag += std::fabs(static_cast<double>(f.wdeq[n * cols + k]) * x[i * cols + k]);
          }
          ASSERT_NEAR(y[i * rows + n], ref, tol * mag)
              << GgmlTypeName(type) << " isa=" << IsaName(isa) << " repack=" << repack;
        }
      }
    }
  }
}

// The interleaved kernels agree bit for bit across ISAs (the scalar
// fallback included) and do not depend on how many activation rows share the
// call (every tile shape: 1..4 rows over several groups, 4-row tiles and
// their remainders), over a partial last group.
class InterleavedMatMulTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(InterleavedMatMulTest, IsaPathsAndBatchSizesGiveIdenticalResults) {
  const GgmlType type = GetParam();
  const int64_t rows = 88, cols = 512;
  const int m = 11;
  Fixture f = MakeWeights(type, rows, cols, 3);
  auto w = PackedMatrix::Create(type, f.wbytes.data(), rows, cols, true);
  ASSERT_TRUE(w.ok());
  ASSERT_NE(w->format(), PackedFormat::kRows);
  const std::vector<float> x = RandomVec(m * cols, 4);
  const std::vector<float> scalar = RunMatMul(*w, x, m, Isa::kScalar);
  for (Isa isa : AvailableIsas()) {
    const std::vector<float> y = RunMatMul(*w, x, m, isa);
    EXPECT_EQ(0, std::memcmp(y.data(), scalar.data(), y.size() * sizeof(float)))
        << GgmlTypeName(type) << " " << IsaName(isa);
    for (int batch : {1, 2, 3, 4, 5, 6, 9}) {
      for (int i = 0; i + batch <= m; i += batch) {
        std::vector<float> part(x.begin() + i * cols, x.begin() + (i + batch) * cols);
        const std::vector<float> yb = RunMatMul(*w, part, batch, isa);
        EXPECT_EQ(0, std::memcmp(yb.data(), y.data() + i * rows, batch * rows * sizeof(float)))
            << GgmlTypeName(type) << " rows " << i << ".." << i + batch << " " << IsaName(isa);
      }
    }
  }
}

TEST_P(MatMulTest, GetRowMatchesDequantizedRow) {
  const GgmlType type = GetParam();
  Fixture f = MakeWeights(type, 20, 256, 5);
  auto w = PackedMatrix::Create(type, f.wbytes.data(), 20, 256, true);
  ASSERT_TRUE(w.ok());
  std::vector<float> row(256);
  for (int r = 0; r < 20; ++r) {
    w->GetRow(r, row.data());
    for (int k = 0; k < 256; ++k) ASSERT_EQ(row[k], f.wdeq[r * 256 + k]) << r << "," << k;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatMulTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
                                           GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ2_K, GgmlType::kQ3_K,
                                           GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kIQ4_XS),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

INSTANTIATE_TEST_SUITE_P(Repacked, InterleavedMatMulTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
                                           GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

// Matrices of these types keep the file's bytes (read a row at a time).
TEST(PackedMatrixTest, TypesWithoutInterleavedLayoutAreNotDequantizedAtLoad) {
  for (GgmlType type : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kIQ4_XS, GgmlType::kQ4_1}) {
    Fixture f = MakeWeights(type, 20, 256, 8);
    auto w = PackedMatrix::Create(type, f.wbytes.data(), 20, 256, true);
    ASSERT_TRUE(w.ok()) << GgmlTypeName(type);
    EXPECT_EQ(w->format(), PackedFormat::kRows);
    EXPECT_EQ(w->bytes(), 0u) << GgmlTypeName(type);
  }
}

// The interleaved layouts take the file's bytes, plus at most 63 per group.
TEST(PackedMatrixTest, LayoutsAreNoLargerThanTheFile) {
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0, GgmlType::kQ4_0,
                        GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    const int64_t rows = 64, cols = 768;
    Fixture f = MakeWeights(type, rows, cols, 9);
    auto w = PackedMatrix::Create(type, f.wbytes.data(), rows, cols, true);
    ASSERT_TRUE(w.ok()) << GgmlTypeName(type);
    EXPECT_LE(w->bytes(), f.wbytes.size() + 63 * static_cast<size_t>(w->groups())) << GgmlTypeName(type);
  }
}

TEST(PackedMatrixTest, StackConcatenatesRows) {
  Fixture a = MakeWeights(GgmlType::kQ8_0, 10, 64, 6), b = MakeWeights(GgmlType::kQ8_0, 7, 64, 7);
  const void* parts[] = {a.wbytes.data(), b.wbytes.data()};
  const int64_t part_rows[] = {10, 7};
  auto w = PackedMatrix::Stack(GgmlType::kQ8_0, parts, part_rows, 2, 64);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->rows(), 17);
  std::vector<float> row(64);
  w->GetRow(12, row.data());
  for (int k = 0; k < 64; ++k) EXPECT_EQ(row[k], b.wdeq[2 * 64 + k]);
}

TEST(PackedMatrixTest, RejectsColumnsNotMultipleOfBlock) {
  std::vector<uint8_t> buf(4096);
  EXPECT_FALSE(PackedMatrix::Create(GgmlType::kQ4_0, buf.data(), 2, 40, true).ok());
}

TEST(DotTest, QuantizedActivationsSumMatchesQuants) {
  const std::vector<float> x = RandomVec(64, 9);
  Activations a;
  a.Bind(x.data(), 1, 64, 64, kActivationsQ8);
  a.QuantizeRows(0, 1);
  for (int b = 0; b < 2; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      s += a.q(b, 0)[j];
      EXPECT_NEAR(a.q(b, 0)[j] * *a.d(b, 0), x[b * 32 + j], *a.d(b, 0) * 0.5001f);
    }
    EXPECT_EQ(s, *a.s(b, 0));
  }
}

// Super-block activations: quants within half a step of x / d, sums of 16
// quants exact, and the same bits on every ISA.
TEST(DotTest, SuperBlockActivationsAreTheSameOnEveryIsa) {
  const int m = 3;
  std::vector<float> x = RandomVec(m * 512, 10);
  x[7] = 0;  // a zero and a large value in the first super-block
  x[9] = 40.f;
  std::vector<int8_t> q0;
  for (Isa isa : AvailableIsas()) {
    SetActiveIsa(isa);
    Activations a;
    a.Bind(x.data(), m, 512, 512, kActivationsQ8K);
    a.QuantizeRows(0, m);
    SetActiveIsa(DetectIsa());
    std::vector<int8_t> q;
    for (int r = 0; r < m; ++r) {
      for (int b = 0; b < 2; ++b) {
        const float d = *a.d8k(b, r);
        for (int s = 0; s < 16; ++s) {
          int sum = 0;
          for (int j = 0; j < 16; ++j) {
            const int8_t v = a.q8k(b, r)[16 * s + j];
            EXPECT_NEAR(v * d, x[r * 512 + b * 256 + 16 * s + j], d * 0.5001f);
            sum += v;
            q.push_back(v);
          }
          EXPECT_EQ(sum, a.sums8k(b, r)[s]);
        }
      }
    }
    if (q0.empty()) q0 = q;
    EXPECT_EQ(q, q0) << IsaName(isa);
  }
}

// bfloat16 activations: round to nearest even, subnormal results flushed to
// signed zero (as vdpbf16ps reads them), NaN kept, on every ISA.
TEST(DotTest, Bf16ActivationsRoundToNearestEvenAndFlushSubnormals) {
  std::vector<float> x = RandomVec(40, 11);
  const float specials[] = {1.0f + 0x1p-8f, 1.0f + 0x1p-7f + 0x1p-8f, 1e-39f, -1e-39f, 0x1p-126f, -0.f, INFINITY, NAN,
                            3.0e38f,        0x1.fffffep-127f};
  std::copy(std::begin(specials), std::end(specials), x.begin());
  const uint16_t want[] = {0x3F80, 0x3F82, 0x0000, 0x8000, 0x0080, 0x8000, 0x7F80, 0x7FC0, 0x7F62, 0x0080};
  for (Isa isa : AvailableIsas()) {
    SetActiveIsa(isa);
    Activations a;
    a.Bind(x.data(), 1, 40, 40, kActivationsBf16);
    a.QuantizeRows(0, 1);
    SetActiveIsa(DetectIsa());
    for (int i = 0; i < 10; ++i) EXPECT_EQ(a.bf16(0)[i], want[i]) << i << " " << IsaName(isa);
    for (int i = 10; i < 40; ++i) EXPECT_EQ(a.bf16(0)[i], Fp32ToBf16(x[i])) << i << " " << IsaName(isa);
  }
}

}  // namespace
}  // namespace aperture::engine
