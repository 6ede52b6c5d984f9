#include "engine/kernels/matmul.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/cpu_features.h"
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
  acts.Bind(x.data(), m, w.cols(), w.cols(), w.needs_q8_activations());
  acts.QuantizeRows(0, m);
  std::vector<float> y(static_cast<size_t>(m) * w.rows(), -1.f);
  MatMulGroups(w, acts, y.data(), w.rows(), 0, w.groups());
  SetActiveIsa(DetectIsa());
  return y;
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
    const double tol = w->needs_q8_activations() ? 0.02 : 1e-5;
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) continue;
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

// The interleaved integer and F32 kernels agree bit for bit across ISAs and
// do not depend on how many activation rows share the call.
class InterleavedMatMulTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(InterleavedMatMulTest, IsaPathsAndBatchSizesGiveIdenticalResults) {
  const GgmlType type = GetParam();
  const int64_t rows = 64, cols = 512;
  const int m = 11;
  Fixture f = MakeWeights(type, rows, cols, 3);
  auto w = PackedMatrix::Create(type, f.wbytes.data(), rows, cols, true);
  ASSERT_TRUE(w.ok());
  ASSERT_NE(w->format(), PackedFormat::kRows);
  const std::vector<float> x = RandomVec(m * cols, 4);
  const std::vector<float> scalar = RunMatMul(*w, x, m, Isa::kScalar);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) continue;
    const std::vector<float> y = RunMatMul(*w, x, m, isa);
    EXPECT_EQ(0, std::memcmp(y.data(), scalar.data(), y.size() * sizeof(float)))
        << GgmlTypeName(type) << " " << IsaName(isa);
    for (int i = 0; i < m; ++i) {
      std::vector<float> one(x.begin() + i * cols, x.begin() + (i + 1) * cols);
      const std::vector<float> y1 = RunMatMul(*w, one, 1, isa);
      EXPECT_EQ(0, std::memcmp(y1.data(), y.data() + i * rows, rows * sizeof(float)))
          << "row " << i << " " << IsaName(isa);
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
                                           GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ4_K, GgmlType::kQ5_K,
                                           GgmlType::kQ6_K),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

INSTANTIATE_TEST_SUITE_P(Repacked, InterleavedMatMulTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kQ8_0, GgmlType::kQ4_0),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

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
  a.Bind(x.data(), 1, 64, 64, true);
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

}  // namespace
}  // namespace aperture::engine
