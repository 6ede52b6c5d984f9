#include "engine/kernels/ops.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/kernels/cpu_features.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Inputs across the whole range, the cut-offs and the special values; an
// odd count so every ISA also takes its tail path.
std::vector<float> ExpInputs() {
  std::vector<float> x;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> wide(-100.0f, 100.0f);
  for (int i = 0; i < 20001; ++i) x.push_back(wide(rng));
  for (float v : {0.0f, -0.0f, 1.0f, -1.0f, -87.0f, -87.0001f, -86.9999f, 88.3f, 88.31f, 1e-8f, -1e-8f, kInf, -kInf,
                  std::numeric_limits<float>::quiet_NaN()})
    x.push_back(v);
  return x;
}

std::vector<float> ExpOn(Isa isa, const std::vector<float>& x, float shift, float scale) {
  SetActiveIsa(isa);
  std::vector<float> out(x.size());
  ExpShifted(x.data(), shift, scale, static_cast<int64_t>(x.size()), out.data());
  SetActiveIsa(DetectIsa());
  return out;
}

TEST(ExpShiftedTest, CloseToStdExpWithExactCutoffs) {
  const std::vector<float> x = ExpInputs();
  const std::vector<float> y = ExpOn(DetectIsa(), x, 0.0f, 1.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    const float d = x[i];
    if (std::isnan(d)) {
      EXPECT_TRUE(std::isnan(y[i]));
    } else if (d < -87.0f) {
      EXPECT_EQ(y[i], 0.0f) << d;
    } else if (d > 88.3f) {
      EXPECT_EQ(y[i], kInf) << d;
    } else {
      const double want = std::exp(static_cast<double>(d));
      EXPECT_NEAR(y[i], want, want * 3e-7) << d;
    }
  }
}

TEST(ExpShiftedTest, EveryIsaGivesTheSameBits) {
  const std::vector<float> x = ExpInputs();
  for (const auto& [shift, scale] : {std::pair{0.0f, 1.0f}, {3.5f, 0.7f}, {0.0f, -1.0f}, {-20.0f, 1.3f}}) {
    const std::vector<float> scalar = ExpOn(Isa::kScalar, x, shift, scale);
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) continue;
      const std::vector<float> simd = ExpOn(isa, x, shift, scale);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(std::memcmp(&simd[i], &scalar[i], sizeof(float)), 0)
            << IsaName(isa) << " x=" << x[i] << " shift=" << shift << " scale=" << scale << ": " << simd[i] << " vs "
            << scalar[i];
      }
    }
  }
}

TEST(ExpShiftedTest, WorksInPlaceAndOnShortRows) {
  for (int n = 0; n < 40; ++n) {
    std::vector<float> x(n);
    for (int i = 0; i < n; ++i) x[i] = 0.25f * static_cast<float>(i) - 3.0f;
    const std::vector<float> want = ExpOn(Isa::kScalar, x, 1.0f, 2.0f);
    ExpShifted(x.data(), 1.0f, 2.0f, n, x.data());
    EXPECT_EQ(x, want) << n;
  }
}

TEST(OpsTest, RowKernelsEqualTheirOneRowCallsOnEveryIsa) {
  constexpr int64_t kRows = 37, kStride = 200, kN = 72;  // n not a multiple of 16: the tails too
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  std::vector<float> rows(kRows * kStride), q(kN), w(kRows);
  for (float& v : rows) v = dist(rng);
  for (float& v : q) v = dist(rng);
  for (float& v : w) v = dist(rng);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) continue;
    SetActiveIsa(isa);
    std::vector<float> scores(kRows), y(kN, 0.5f), y_one(kN, 0.5f);
    DotRowsF32(q.data(), rows.data() + 3, kStride, kRows, kN, 0.125f, scores.data());
    AxpyRowsF32(w.data(), rows.data() + 3, kStride, kRows, kN, y.data());
    for (int64_t r = 0; r < kRows; ++r) {
      EXPECT_EQ(scores[r], DotF32(q.data(), rows.data() + 3 + r * kStride, kN) * 0.125f) << IsaName(isa) << " " << r;
      Axpy(w[r], rows.data() + 3 + r * kStride, kN, y_one.data());
    }
    EXPECT_EQ(y, y_one) << IsaName(isa);
  }
  SetActiveIsa(DetectIsa());
}

TEST(OpsTest, ArgMaxIsTheFirstLargestOnEveryIsa) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(-3, 3);
  for (int n : {0, 1, 7, 16, 17, 100, 32000}) {
    std::vector<float> x(n);
    for (float& v : x) v = static_cast<float>(small(rng));  // many ties
    if (n > 5) x[n - 1] = 9.0f, x[n / 2] = 9.0f;            // the first of two maxima, one in a tail
    int64_t want = n == 0 ? -1 : 0;
    for (int i = 1; i < n; ++i) {
      if (x[i] > x[want]) want = i;
    }
    std::vector<float> all_banned(n, -kInf);
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) continue;
      SetActiveIsa(isa);
      EXPECT_EQ(ArgMaxF32(x.data(), n), want) << IsaName(isa) << " n=" << n;
      EXPECT_EQ(ArgMaxF32(all_banned.data(), n), n == 0 ? -1 : 0) << IsaName(isa) << " n=" << n;
    }
    SetActiveIsa(DetectIsa());
  }
}

TEST(OpsTest, SoftmaxSumsToOneAndSiluMatchesDefinition) {
  std::vector<float> x = {1.0f, 2.0f, 3.0f, -kInf, 0.5f};
  Softmax(x.data(), static_cast<int64_t>(x.size()));
  double sum = 0;
  for (float v : x) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_EQ(x[3], 0.0f);
  EXPECT_NEAR(x[2] / x[1], std::exp(1.0), 1e-5);

  const std::vector<float> gate = {-100.0f, -3.0f, 0.0f, 0.5f, 4.0f, 100.0f}, up = {1, 2, 3, 4, 5, 6};
  std::vector<float> out(gate.size());
  SiluMul(gate.data(), up.data(), static_cast<int64_t>(gate.size()), out.data());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    EXPECT_NEAR(out[i], g / (1 + std::exp(-g)) * up[i], 1e-5 * std::abs(g * up[i]) + 1e-30) << g;
  }
}

TEST(OpsTest, GeluTanhAndSoftCapMatchTheirDefinitionsOnEveryIsa) {
  const std::vector<float> gate = {-100.0f, -6.0f, -1.0f, -1e-3f, 0.0f, 0.25f, 1.5f, 7.0f, 100.0f};
  const std::vector<float> up = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> first;
  for (Isa isa : AvailableIsas()) {
    SetActiveIsa(isa);
    std::vector<float> out(gate.size());
    GeluTanhMul(gate.data(), up.data(), static_cast<int64_t>(gate.size()), out.data());
    for (size_t i = 0; i < gate.size(); ++i) {
      const double g = gate[i];
      const double want = 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) * up[i];
      EXPECT_NEAR(out[i], want, 1e-6 * std::abs(g * up[i]) + 1e-12) << g << " " << IsaName(isa);
    }
    if (first.empty()) first = out;
    EXPECT_EQ(out, first) << IsaName(isa);  // the same bits on every ISA

    std::vector<float> x(200);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((static_cast<double>(i) - 100) * 0.37);
    std::vector<float> capped = x;
    SoftCap(capped.data(), static_cast<int64_t>(capped.size()), 5.0f);
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(capped[i], 5.0 * std::tanh(x[i] / 5.0), 1e-6 * 5) << x[i] << " " << IsaName(isa);
      EXPECT_LE(std::fabs(capped[i]), 5.0f);
    }
  }
  SetActiveIsa(DetectIsa());
}

TEST(OpsTest, RopeHalvesRotatesPairsHalfARotaryWidthApart) {
  // One head of 6 with 4 rotated dimensions: pairs (0, 2) and (1, 3); 4 and 5 untouched.
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const double a0 = 0.3, a1 = 1.1;
  const std::vector<float> cs = {static_cast<float>(std::cos(a0)), static_cast<float>(std::sin(a0)),
                                 static_cast<float>(std::cos(a1)), static_cast<float>(std::sin(a1))};
  RopeHalves(x.data(), 1, 6, 4, cs.data());
  EXPECT_NEAR(x[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-6);
  EXPECT_NEAR(x[2], 1 * std::sin(a0) + 3 * std::cos(a0), 1e-6);
  EXPECT_NEAR(x[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
  EXPECT_NEAR(x[3], 2 * std::sin(a1) + 4 * std::cos(a1), 1e-6);
  EXPECT_EQ(x[4], 5.0f);
  EXPECT_EQ(x[5], 6.0f);
}

}  // namespace
}  // namespace aperture::engine
