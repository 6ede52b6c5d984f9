// The test-model generator: type names, the Q4_K_M / Q5_K_M recipes and the
// tensor types written.
#include "engine/model/test_model.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "engine/gguf/gguf_reader.h"
#include "engine/model/llama_model.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(TestModelTest, ParsesTypeNamesAndMixes) {
  TestModelSpec spec;
  ASSERT_TRUE(ParseTestModelType("Q4_K_M", &spec).ok());
  EXPECT_EQ(spec.type, GgmlType::kQ4_K);
  EXPECT_EQ(spec.mix, TypeMix::kQ4_K_M);
  EXPECT_EQ(TestModelTypeName(spec), "q4_k_m");
  ASSERT_TRUE(ParseTestModelType("iq4_xs", &spec).ok());
  EXPECT_EQ(spec.type, GgmlType::kIQ4_XS);
  EXPECT_EQ(spec.mix, TypeMix::kUniform);
  EXPECT_EQ(TestModelTypeName(spec), "iq4_xs");
  EXPECT_FALSE(ParseTestModelType("q9_K", &spec).ok());
  EXPECT_FALSE(ParseTestModelType("q8_K", &spec).ok());  // an activation format, not a weight type
  EXPECT_FALSE(ParseTestModelType("iq2_xxs", &spec).ok());
}

// llama.cpp's recipe on 8 layers: attn_v and ffn_down of layers 0 (first
// eighth), 7 (last eighth), 3 and 6 (every third from the first eighth) get
// Q6_K, as does the output (here the tied embedding matrix).
TEST(TestModelTest, Q4KMGivesMoreBitsWhereLlamaCppDoes) {
  TestModelSpec spec{.layers = 8};
  ASSERT_TRUE(ParseTestModelType("q4_k_m", &spec).ok());
  for (int l = 0; l < 8; ++l) {
    const bool more = l == 0 || l == 3 || l == 6 || l == 7;
    const GgmlType want = more ? GgmlType::kQ6_K : GgmlType::kQ4_K;
    const std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(TensorTypeFor(spec, p + "attn_v.weight"), want) << l;
    EXPECT_EQ(TensorTypeFor(spec, p + "ffn_down.weight"), want) << l;
    EXPECT_EQ(TensorTypeFor(spec, p + "attn_q.weight"), GgmlType::kQ4_K) << l;
    EXPECT_EQ(TensorTypeFor(spec, p + "ffn_up.weight"), GgmlType::kQ4_K) << l;
  }
  EXPECT_EQ(TensorTypeFor(spec, "token_embd.weight"), GgmlType::kQ6_K);
  spec.tied_output = false;
  EXPECT_EQ(TensorTypeFor(spec, "token_embd.weight"), GgmlType::kQ4_K);
  EXPECT_EQ(TensorTypeFor(spec, "output.weight"), GgmlType::kQ6_K);
}

TEST(TestModelTest, WritesEachTensorInItsType) {
  TestModelSpec spec{.layers = 3, .dim = 256, .heads = 4, .kv_heads = 2, .ffn = 512, .vocab = 300, .seed = 4};
  ASSERT_TRUE(ParseTestModelType("q5_k_m", &spec).ok());
  const std::string path =
      (std::filesystem::temp_directory_path() / ("mix-" + std::to_string(::getpid()) + ".gguf")).string();
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  int q5 = 0, q6 = 0;
  for (const GgufTensor& t : (*f)->tensors()) {
    if (t.dims.size() == 1) {
      EXPECT_EQ(t.type, GgmlType::kF32) << t.name;
      continue;
    }
    EXPECT_EQ(t.type, TensorTypeFor(spec, t.name)) << t.name;
    q5 += t.type == GgmlType::kQ5_K;
    q6 += t.type == GgmlType::kQ6_K;
  }
  EXPECT_GT(q5, q6);
  EXPECT_GT(q6, 0);
  EXPECT_EQ((*f)->GetUint32Or("general.file_type", 0).value(), 17u);  // LLAMA_FTYPE_MOSTLY_Q5_K_M
  auto model = LlamaModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_NE((*model)->Describe().find("q5_K + q6_K (repacked)"), std::string::npos) << (*model)->Describe();
  std::filesystem::remove(path);
}

TEST(TestModelTest, RejectsShapesTheTypeCannotHold) {
  TestModelSpec spec{.dim = 128, .ffn = 256};
  ASSERT_TRUE(ParseTestModelType("q4_K", &spec).ok());
  EXPECT_FALSE(ValidateTestModelSpec(spec).ok());  // dim not a multiple of 256
  spec.dim = 256;
  EXPECT_TRUE(ValidateTestModelSpec(spec).ok());
}

}  // namespace
}  // namespace aperture::engine
