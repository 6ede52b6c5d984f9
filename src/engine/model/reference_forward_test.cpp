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

double CompareToReference(const std::string& path, const std::vector<std::vector<double>>& ref,
                          const std::vector<int32_t>& tokens, LoadOptions options = {}, int threads = 2) {
  auto model = LlamaModel::Load(path, options);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return INFINITY;
  Runner runner(**model, {.threads = threads});
  Sequence seq((*model)->config(), 64);
  EXPECT_TRUE(runner.Forward({{BatchEntry{&seq, tokens, /*all_logits=*/true}}}).ok());
  return RelativeError(ref, runner, 0);
}

double CompareToReference(const std::string& path, const std::vector<int32_t>& tokens, LoadOptions options = {},
                          int threads = 2) {
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return INFINITY;
  return CompareToReference(path, testing::ReferenceLogits(**file, tokens), tokens, options, threads);
}

class ReferenceTest : public ::testing::TestWithParam<const char*> {};

// Every kernel variant this CPU runs (forced one after the other, the
// scalar fallback first), with and without repacking, on a GQA model.
TEST_P(ReferenceTest, GeneratedModelMatchesFloat64ReferenceOnEveryIsa) {
  const std::string type = GetParam();
  const double tolerance = testing::StatedTolerance(type);
  TestModelSpec spec{.layers = 2, .dim = 256, .heads = 4, .kv_heads = 2, .ffn = 512, .vocab = 320, .seed = 11};
  ASSERT_TRUE(ParseTestModelType(type, &spec).ok());
  const std::string path = TempPath("ref-" + type);
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  const std::vector<int32_t> tokens = {1, 300, 17, 5, 260, 99, 3, 42, 310, 7, 150, 280};
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto ref = testing::ReferenceLogits(**file, tokens);
  for (Isa isa : AvailableIsas()) {
    SetActiveIsa(isa);
    for (bool repack : {true, false}) {
      const double err = CompareToReference(path, ref, tokens, {.repack = repack});
      EXPECT_LE(err, tolerance) << type << " " << IsaName(isa) << " repack=" << repack;
      RecordProperty("rel_error_" + type + "_" + IsaName(isa) + (repack ? "" : "_rows"), std::to_string(err));
    }
  }
  SetActiveIsa(DetectIsa());
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ReferenceTest,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q2_K", "q3_K", "q4_K", "q5_K",
                                           "q6_K", "iq4_xs", "q4_k_m", "q5_k_m"),
                         [](const auto& info) { return std::string(info.param); });

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

}  // namespace
}  // namespace aperture::engine
