#include "engine/gguf/ggml_type.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(GgmlTypeTest, BlockLayoutsMatchTheSpecification) {
  struct Case {
    GgmlType type;
    int64_t block;
    int64_t bytes;
  };
  for (const Case& c : std::vector<Case>{{GgmlType::kF32, 1, 4},
                                         {GgmlType::kF16, 1, 2},
                                         {GgmlType::kBF16, 1, 2},
                                         {GgmlType::kQ8_0, 32, 34},
                                         {GgmlType::kQ4_0, 32, 18},
                                         {GgmlType::kQ4_1, 32, 20},
                                         {GgmlType::kQ4_K, 256, 144},
                                         {GgmlType::kQ5_K, 256, 176},
                                         {GgmlType::kQ6_K, 256, 210},
                                         {GgmlType::kQ2_K, 256, 84},
                                         {GgmlType::kQ3_K, 256, 110},
                                         {GgmlType::kIQ4_XS, 256, 136}}) {
    auto info = GetGgmlTypeInfo(c.type);
    ASSERT_TRUE(info.has_value()) << GgmlTypeName(c.type);
    EXPECT_EQ(info->block_size, c.block) << GgmlTypeName(c.type);
    EXPECT_EQ(info->type_size, c.bytes) << GgmlTypeName(c.type);
    EXPECT_TRUE(IsEngineSupportedType(c.type));
  }
  EXPECT_FALSE(IsEngineSupportedType(GgmlType::kIQ2_XXS));
  EXPECT_FALSE(IsEngineSupportedType(GgmlType::kQ5_0));
}

TEST(GgmlTypeTest, UnknownIdsAreRejected) {
  EXPECT_FALSE(IsKnownGgmlType(4));
  EXPECT_FALSE(IsKnownGgmlType(5));
  EXPECT_FALSE(IsKnownGgmlType(31));
  EXPECT_FALSE(IsKnownGgmlType(0xffffffffu));
  EXPECT_TRUE(IsKnownGgmlType(30));
  EXPECT_FALSE(GgmlRowBytes(static_cast<GgmlType>(4), 32).ok());
}

TEST(GgmlTypeTest, NamesRoundTrip) {
  for (uint32_t id = 0; id <= 30; ++id) {
    if (!IsKnownGgmlType(id)) continue;
    const auto t = static_cast<GgmlType>(id);
    auto back = GgmlTypeFromName(GgmlTypeName(t));
    ASSERT_TRUE(back.has_value()) << id;
    EXPECT_EQ(*back, t);
  }
  EXPECT_EQ(GgmlTypeFromName("Q4_K"), GgmlType::kQ4_K);
  EXPECT_EQ(GgmlTypeFromName("q8_0"), GgmlType::kQ8_0);
  EXPECT_FALSE(GgmlTypeFromName("q9_9").has_value());
}

TEST(GgmlTypeTest, RowBytes) {
  EXPECT_EQ(*GgmlRowBytes(GgmlType::kF32, 10), 40u);
  EXPECT_EQ(*GgmlRowBytes(GgmlType::kQ4_0, 64), 36u);
  EXPECT_EQ(*GgmlRowBytes(GgmlType::kQ6_K, 512), 420u);
  EXPECT_FALSE(GgmlRowBytes(GgmlType::kQ4_0, 33).ok());
  EXPECT_FALSE(GgmlRowBytes(GgmlType::kF32, uint64_t{1} << 62).ok());
}

TEST(GgmlTypeTest, TensorBytesChecksOverflowAndBlocks) {
  std::vector<int64_t> dims = {64, 3};
  EXPECT_EQ(*GgmlTensorBytes(GgmlType::kQ8_0, dims), 2u * 34u * 3u);
  std::vector<int64_t> huge = {int64_t{1} << 32, int64_t{1} << 32};
  EXPECT_FALSE(GgmlTensorBytes(GgmlType::kF32, huge).ok());
  std::vector<int64_t> big = {int64_t{1} << 31, int64_t{1} << 30};  // 2^61 elements * 4 bytes
  EXPECT_FALSE(GgmlTensorBytes(GgmlType::kF32, big).ok());
  std::vector<int64_t> unaligned_row = {16, 2};
  EXPECT_FALSE(GgmlTensorBytes(GgmlType::kQ4_0, unaligned_row).ok());
  std::vector<int64_t> negative = {-1};
  EXPECT_FALSE(GgmlTensorBytes(GgmlType::kF32, negative).ok());
}

}  // namespace
}  // namespace aperture::engine
