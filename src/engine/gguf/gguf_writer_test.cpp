#include "engine/gguf/gguf_writer.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

TEST(GgufWriterTest, RoundTripsEveryValueType) {
  GgufWriter w;
  w.Set("u8", GgufValue::Uint8(200));
  w.Set("i8", GgufValue::Int8(-100));
  w.Set("u16", GgufValue::Uint16(60000));
  w.Set("i16", GgufValue::Int16(-30000));
  w.SetUint32("u32", 4000000000u);
  w.SetInt32("i32", -2000000000);
  w.SetFloat32("f32", 0.125f);
  w.SetBool("bool", true);
  w.SetString("str", "héllo ▁ world");
  w.SetUint64("u64", ~uint64_t{0});
  w.Set("i64", GgufValue::Int64(INT64_MIN));
  w.Set("f64", GgufValue::Float64(1e300));
  w.SetStringArray("strs", {"a", "", "ccc"});
  std::vector<float> floats = {1.0f, -2.5f};
  w.SetFloat32Array("floats", floats);
  std::vector<int32_t> ints = {1, -2, 3};
  w.SetInt32Array("ints", ints);
  w.Set("nested",
        GgufValue::Array(GgufValueType::kArray, {GgufValue::Array(GgufValueType::kUint8, {GgufValue::Uint8(1)}),
                                                 GgufValue::Array(GgufValueType::kString, {})}));
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.metadata().size(), 16u);
  EXPECT_EQ(g.metadata()[0].key, "u8");
  EXPECT_EQ(*g.Find("u8"), GgufValue::Uint8(200));
  EXPECT_EQ(*g.Find("i8"), GgufValue::Int8(-100));
  EXPECT_EQ(*g.Find("u16"), GgufValue::Uint16(60000));
  EXPECT_EQ(*g.Find("i16"), GgufValue::Int16(-30000));
  EXPECT_EQ(*g.GetUint32("u32"), 4000000000u);
  EXPECT_EQ(*g.GetInt32("i32"), -2000000000);
  EXPECT_EQ(*g.GetFloat32("f32"), 0.125f);
  EXPECT_TRUE(*g.GetBool("bool"));
  EXPECT_EQ(*g.GetString("str"), "héllo ▁ world");
  EXPECT_EQ(*g.GetUint64("u64"), ~uint64_t{0});
  EXPECT_EQ(*g.GetInt64("i64"), INT64_MIN);
  EXPECT_EQ(g.Find("f64")->as_double(), 1e300);
  EXPECT_EQ(*g.GetStringArray("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(*g.GetFloat32Array("floats"), floats);
  EXPECT_EQ(*g.GetInt32Array("ints"), ints);
  EXPECT_EQ(
      *g.Find("nested"), *[&] {
        for (const auto& kv : g.metadata())
          if (kv.key == "nested") return &kv.value;
        return static_cast<const GgufValue*>(nullptr);
      }());
  const GgufValue* nested = g.Find("nested");
  ASSERT_EQ(nested->array().size(), 2u);
  EXPECT_EQ(nested->array()[0].array()[0], GgufValue::Uint8(1));
  EXPECT_EQ(nested->array()[1].array_type(), GgufValueType::kString);
}

TEST(GgufWriterTest, RoundTripsTensorsAndAlignment) {
  for (uint32_t version : {2u, 3u}) {
    for (uint32_t alignment : {1u, 32u, 64u, 4096u}) {
      GgufWriter w;
      w.SetVersion(version);
      w.SetAlignment(alignment);
      const auto a = Bytes(3 * 4, 1);
      const auto b = Bytes(2 * 34 * 2, 2);  // q8_0, 64 x 2
      const auto c = Bytes(144, 3);         // q4_k, 256
      ASSERT_TRUE(w.AddTensor("a", {3}, GgmlType::kF32, a).ok());
      ASSERT_TRUE(w.AddTensor("b", {64, 2}, GgmlType::kQ8_0, b).ok());
      ASSERT_TRUE(w.AddTensor("c", {256, 1, 1, 1}, GgmlType::kQ4_K, c).ok());
      auto bytes = w.Serialize();
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      auto f = GgufFile::FromBuffer(*bytes);
      ASSERT_TRUE(f.ok()) << f.status();
      const GgufFile& g = **f;
      EXPECT_EQ(g.version(), version);
      EXPECT_EQ(g.alignment(), alignment);
      ASSERT_EQ(g.tensors().size(), 3u);
      const GgufTensor* tb = g.FindTensor("b");
      ASSERT_NE(tb, nullptr);
      EXPECT_EQ(tb->dims, (std::vector<int64_t>{64, 2}));
      EXPECT_EQ(tb->type, GgmlType::kQ8_0);
      EXPECT_EQ(tb->rows(), 2);
      EXPECT_EQ(std::vector<uint8_t>(tb->data, tb->data + tb->size_bytes), b);
      EXPECT_EQ(std::vector<uint8_t>(g.FindTensor("a")->data, g.FindTensor("a")->data + 12), a);
      EXPECT_EQ(std::memcmp(g.FindTensor("c")->data, c.data(), c.size()), 0);
      for (const GgufTensor& t : g.tensors()) {
        EXPECT_EQ(t.offset % alignment, 0u);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % std::min(alignment, 64u), 0u);
      }
    }
  }
}

TEST(GgufWriterTest, WriteFileMatchesSerialize) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.AddTensor("t", {5}, GgmlType::kF16, Bytes(10, 9)).ok());
  const std::string path = ::testing::TempDir() + "/writer_test.gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto mem = w.Serialize();
  ASSERT_EQ((*f)->file_size(), mem->size());
  EXPECT_EQ(std::memcmp((*f)->file_data(), mem->data(), mem->size()), 0);
  std::remove(path.c_str());
}

TEST(GgufWriterTest, RejectsBadTensors) {
  GgufWriter w;
  EXPECT_THAT(std::string(w.AddTensor("", {4}, GgmlType::kF32, Bytes(16, 0)).message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(w.AddTensor("x", {4}, GgmlType::kF32, Bytes(15, 0)).message()), HasSubstr("needs 16 bytes"));
  EXPECT_FALSE(w.AddTensor("x", {1, 1, 1, 1, 1}, GgmlType::kF32, Bytes(4, 0)).ok());
  EXPECT_FALSE(w.AddTensor("x", {16}, GgmlType::kQ4_0, Bytes(9, 0)).ok());
  ASSERT_TRUE(w.AddTensor("x", {4}, GgmlType::kF32, Bytes(16, 0)).ok());
  EXPECT_THAT(std::string(w.AddTensor("x", {4}, GgmlType::kF32, Bytes(16, 0)).message()), HasSubstr("duplicate"));
}

TEST(GgufWriterTest, RejectsBadSettings) {
  GgufWriter v;
  v.SetVersion(1);
  EXPECT_FALSE(v.Serialize().ok());
  GgufWriter a;
  a.SetAlignment(48);
  EXPECT_FALSE(a.Serialize().ok());
  GgufWriter mixed;
  mixed.Set("m", GgufValue::Array(GgufValueType::kUint8, {GgufValue::String("no")}));
  EXPECT_THAT(std::string(mixed.Serialize().status().message()), HasSubstr("'m'"));
}

TEST(GgufWriterTest, SetReplacesKeepingOrder) {
  GgufWriter w;
  w.SetUint32("a", 1);
  w.SetUint32("b", 2);
  w.SetUint32("a", 3);
  auto f = GgufFile::FromBuffer(*w.Serialize());
  ASSERT_TRUE(f.ok());
  ASSERT_EQ((*f)->metadata().size(), 2u);
  EXPECT_EQ((*f)->metadata()[0].key, "a");
  EXPECT_EQ(*(*f)->GetUint32("a"), 3u);
}

}  // namespace
}  // namespace aperture::engine

namespace aperture::engine {
namespace {

TEST(GgufValueTest, FileBackedArraysDecodeLazilyAndCopyOut) {
  GgufWriter w;
  w.SetStringArray("tokens", {"a", "bb", "a much longer token than fifteen bytes"});
  w.Set("nested",
        GgufValue::Array(GgufValueType::kArray, {GgufValue::Array(GgufValueType::kInt32, {GgufValue::Int32(-7)})}));
  auto f = GgufFile::FromBuffer(*w.Serialize());
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufValue* tokens = (*f)->Find("tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->array_elements(), nullptr);  // kept as a reference into the file
  EXPECT_EQ(tokens->array_size(), 3u);
  std::vector<std::string> seen;
  tokens->ForEachArrayElement([&](GgufValue& e) { seen.push_back(e.as_string()); });
  EXPECT_EQ(seen[2], "a much longer token than fifteen bytes");

  // Copies made with Materialized(), or through a writer, outlive the file.
  GgufValue copy = tokens->Materialized();
  GgufValue nested = (*f)->Find("nested")->Materialized();
  GgufWriter again;
  again.Set("tokens", *tokens);
  f->reset();
  ASSERT_NE(copy.array_elements(), nullptr);
  EXPECT_EQ(copy.array()[1].as_string(), "bb");
  EXPECT_EQ(nested.array()[0].array()[0].as_int(), -7);
  auto g = GgufFile::FromBuffer(*again.Serialize());
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->GetStringArray("tokens")->at(2), "a much longer token than fifteen bytes");
  EXPECT_EQ(*(*g)->Find("tokens"), copy);
}

}  // namespace
}  // namespace aperture::engine

namespace aperture::engine {
namespace {

TEST(GgufValueTest, NanValuesCompareEqualAfterARoundTrip) {
  GgufWriter w;
  w.SetFloat32Array("scores", std::vector<float>{std::nanf(""), 1.0f});
  auto f = GgufFile::FromBuffer(*w.Serialize());
  ASSERT_TRUE(f.ok());
  GgufWriter again;
  again.Set("scores", *(*f)->Find("scores"));
  auto g = GgufFile::FromBuffer(*again.Serialize());
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*(*g)->Find("scores"), *(*f)->Find("scores"));
}

TEST(GgufWriterTest, RemovesATensorByName) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("a", {4}, GgmlType::kF32, Bytes(16, 1)).ok());
  ASSERT_TRUE(w.AddTensor("b", {4}, GgmlType::kF32, Bytes(16, 2)).ok());
  ASSERT_TRUE(w.RemoveTensor("a").ok());
  EXPECT_EQ(w.RemoveTensor("a").code(), absl::StatusCode::kNotFound);
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->tensors().size(), 1u);
  EXPECT_NE((*f)->FindTensor("b"), nullptr);
}

}  // namespace
}  // namespace aperture::engine
