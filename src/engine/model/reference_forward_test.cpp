// The engine's logits against the float64 reference forward pass, for
// generated models of every supported tensor type and for the real models
// in ../shared/models.
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/kernels/cpu_features.h"
#include "engine/model/llama_model.h"
#include "engine/model/reference_test_util.h"
#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".gguf")).string();
}

// Max over positions of max |engine - reference| / rms(reference logits).
double RelativeError(const std::vector<std::vector<double>>& ref, Runner& runner, int entry) {
  double worst = 0;
  for (size_t t = 0; t < ref.size(); ++t) {
    std::span<const float> got = runner.Logits(entry, static_cast<int>(t));
    double ss = 0, maxdiff = 0;
    for (size_t v = 0; v < ref[t].size(); ++v) {
      ss += ref[t][v] * ref[t][v];
      maxdiff = std::max(maxdiff, std::fabs(got[v] - ref[t][v]));
    }
    worst = std::max(worst, maxdiff / std::sqrt(ss / ref[t].size()));
  }
  return worst;
}

double CompareToReference(const std::string& path, const std::vector<int32_t>& tokens, LoadOptions options = {},
                          int threads = 2) {
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  const auto ref = testing::ReferenceLogits(**file, tokens);
  auto model = LlamaModel::Load(path, options);
  EXPECT_TRUE(model.ok()) << model.status();
  Runner runner(**model, {.threads = threads});
  Sequence seq((*model)->config(), 64);
  EXPECT_TRUE(runner.Forward({{BatchEntry{&seq, tokens, /*all_logits=*/true}}}).ok());
  return RelativeError(ref, runner, 0);
}

struct TypeCase {
  GgmlType type;
  // Stated tolerance: max logit error relative to the logits' RMS. Types the
  // engine multiplies with 8-bit quantized activations (Q8_0, Q4_0) carry
  // that rounding too; the others compute in float32 throughout.
  double tolerance;
};

class ReferenceTest : public ::testing::TestWithParam<TypeCase> {};

TEST_P(ReferenceTest, GeneratedModelMatchesFloat64Reference) {
  const TypeCase c = GetParam();
  TestModelSpec spec{
      .layers = 2, .dim = 256, .heads = 4, .kv_heads = 2, .ffn = 512, .vocab = 320, .type = c.type, .seed = 11};
  const std::string path = TempPath(std::string("ref-") + GgmlTypeName(c.type));
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  const std::vector<int32_t> tokens = {1, 300, 17, 5, 260, 99, 3, 42, 310, 7, 150, 280};
  for (bool repack : {true, false}) {
    const double err = CompareToReference(path, tokens, {.repack = repack});
    EXPECT_LE(err, c.tolerance) << GgmlTypeName(c.type) << " repack=" << repack;
    RecordProperty(std::string("rel_error_") + GgmlTypeName(c.type) + (repack ? "" : "_rows"), std::to_string(err));
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ReferenceTest,
                         ::testing::Values(TypeCase{GgmlType::kF32, 1e-4}, TypeCase{GgmlType::kF16, 1e-4},
                                           TypeCase{GgmlType::kBF16, 1e-4}, TypeCase{GgmlType::kQ8_0, 0.05},
                                           TypeCase{GgmlType::kQ4_0, 0.05}, TypeCase{GgmlType::kQ4_1, 1e-4},
                                           TypeCase{GgmlType::kQ4_K, 1e-4}, TypeCase{GgmlType::kQ5_K, 1e-4},
                                           TypeCase{GgmlType::kQ6_K, 1e-4}),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param.type)); });

TEST(ReferenceTest, UntiedOutputAndGroupedQueryAttention) {
  TestModelSpec spec{.layers = 3,
                     .dim = 96,
                     .heads = 6,
                     .kv_heads = 2,
                     .ffn = 160,
                     .vocab = 300,
                     .type = GgmlType::kF32,
                     .seed = 5,
                     .tied_output = false};
  const std::string path = TempPath("ref-untied");
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  EXPECT_LE(CompareToReference(path, {1, 2, 3, 250, 260, 270, 280, 290}), 1e-4);
  std::filesystem::remove(path);
}

TEST(ReferenceTest, Stories260KMatchesFloat64Reference) {
  const std::string path = std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf";
  // "<s> Once upon a time" in the model's vocabulary, then a few more ids.
  EXPECT_LE(CompareToReference(path, {1, 403, 407, 261, 378, 60, 300, 290, 400, 13}), 1e-4);
  EXPECT_LE(CompareToReference(path, {1, 403, 407, 261, 378}, {}, 1), 1e-4);
}

TEST(ReferenceTest, TinyRandomLlama2MatchesFloat64Reference) {
  const std::string path = std::string(APERTURE_SHARED_DIR) + "/models/llama-2-tiny-random.gguf";
  EXPECT_LE(CompareToReference(path, {1, 15043, 3186, 29991, 22, 31999, 500}), 1e-4);
}

TEST(ReferenceTest, EveryIsaMatchesReference) {
  TestModelSpec spec{
      .layers = 1, .dim = 128, .heads = 4, .kv_heads = 4, .ffn = 256, .vocab = 300, .type = GgmlType::kQ4_0, .seed = 2};
  const std::string path = TempPath("ref-isa");
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    SetActiveIsa(isa);
    EXPECT_LE(CompareToReference(path, {1, 5, 9, 200}), 0.05) << IsaName(isa);
  }
  SetActiveIsa(DetectIsa());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace aperture::engine
