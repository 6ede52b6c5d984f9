#include "engine/gguf/gguf_reader.h"

#include <string>
#include <vector>

#include "engine/gguf/gguf_test_util.h"
#include "engine/gguf/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

using ::aperture::engine::testing::RawGguf;
using ::testing::HasSubstr;

const std::string kModels = std::string(APERTURE_SHARED_DIR) + "/models/";

TEST(GgufReaderTest, ReadsStories260K) {
  auto f = GgufFile::Open(kModels + "stories260K.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(*g.GetString("general.architecture"), "llama");
  EXPECT_EQ(*g.GetUint32("llama.block_count"), 5u);
  EXPECT_EQ(*g.GetUint32("llama.embedding_length"), 64u);
  EXPECT_EQ(*g.GetUint32("llama.attention.head_count"), 8u);
  EXPECT_EQ(*g.GetUint32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(*g.GetString("tokenizer.ggml.model"), "llama");
  auto tokens = g.GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 512u);
  EXPECT_EQ(g.GetFloat32Array("tokenizer.ggml.scores")->size(), 512u);
  EXPECT_EQ(g.GetInt32Array("tokenizer.ggml.token_type")->size(), 512u);

  const GgufTensor* emb = g.FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GgmlType::kF32);
  EXPECT_EQ(emb->dims, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(emb->size_bytes, 64u * 512u * 4u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(emb->data) % 32, 0u);
  const GgufTensor* wq = g.FindTensor("blk.4.attn_q.weight");
  ASSERT_NE(wq, nullptr);
  EXPECT_EQ(wq->dims, (std::vector<int64_t>{64, 64}));
  const GgufTensor* wk = g.FindTensor("blk.0.attn_k.weight");
  ASSERT_NE(wk, nullptr);
  EXPECT_EQ(wk->dims, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(g.FindTensor("no.such.tensor"), nullptr);
  for (const GgufTensor& t : g.tensors()) {
    EXPECT_GE(t.data, g.file_data() + g.data_offset());
    EXPECT_LE(t.data + t.size_bytes, g.file_data() + g.file_size()) << t.name;
  }
}

TEST(GgufReaderTest, ReadsLlama2TinyRandom) {
  auto f = GgufFile::Open(kModels + "llama-2-tiny-random.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(*g.GetString("general.architecture"), "llama");
  EXPECT_EQ(*g.GetUint32("llama.block_count"), 1u);
  EXPECT_EQ(*g.GetUint32("llama.embedding_length"), 8u);
  EXPECT_EQ(g.GetStringArray("tokenizer.ggml.tokens")->size(), 32000u);
  const GgufTensor* emb = g.FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dims, (std::vector<int64_t>{8, 32000}));
  bool any_f16 = false;
  for (const GgufTensor& t : g.tensors()) any_f16 |= t.type == GgmlType::kF16;
  EXPECT_TRUE(any_f16);
}

TEST(GgufReaderTest, MissingFileIsNotFound) {
  auto f = GgufFile::Open(kModels + "does-not-exist.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("does-not-exist.gguf"));
}

TEST(GgufReaderTest, TypedGettersNameTheKeyOnMismatch) {
  GgufWriter w;
  w.SetString("s", "text");
  w.SetUint32("u", 7);
  w.Set("neg", GgufValue::Int32(-3));
  w.Set("big", GgufValue::Uint64(uint64_t{1} << 40));
  w.SetFloat32("f", 1.5f);
  w.SetBool("b", true);
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(*g.GetUint64("u"), 7u);
  EXPECT_EQ(*g.GetInt32("u"), 7);
  EXPECT_EQ(*g.GetInt32("neg"), -3);
  EXPECT_EQ(*g.GetUint64("big"), uint64_t{1} << 40);
  EXPECT_FLOAT_EQ(*g.GetFloat32("f"), 1.5f);
  EXPECT_TRUE(*g.GetBool("b"));

  auto s = g.GetUint32("s");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("'s'"));
  EXPECT_THAT(s.status().message(), HasSubstr("string"));
  EXPECT_THAT(g.GetUint32("neg").status().message(), HasSubstr("'neg'"));
  EXPECT_THAT(g.GetUint32("big").status().message(), HasSubstr("'big'"));
  EXPECT_FALSE(g.GetString("u").ok());
  EXPECT_FALSE(g.GetBool("u").ok());
  EXPECT_FALSE(g.GetFloat32("u").ok());
  EXPECT_FALSE(g.GetStringArray("s").ok());
  EXPECT_EQ(g.GetString("absent").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*g.GetUint32Or("absent", 9), 9u);
  EXPECT_FALSE(g.GetUint32Or("s", 9).ok());
  EXPECT_EQ(*g.GetStringOr("absent", "x"), "x");
  EXPECT_FLOAT_EQ(*g.GetFloat32Or("absent", 2.0f), 2.0f);
}

// ---- malformed files ----

// A valid file: one kv, two F32 tensors of 8 elements (32 bytes each, so the
// file ends exactly where the last tensor does).
std::string SmallValidFile() {
  RawGguf r;
  r.Header(2, 1).KvU32("general.alignment", 32);
  r.Tensor("a", {8}, 0, 0).Tensor("b", {4, 2}, 0, 32).PadTo(32).Zeros(64);
  return r.bytes();
}

std::string ErrorOf(const std::string& bytes) {
  auto f = GgufFile::FromBuffer(bytes);
  if (f.ok()) return "OK";
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  return std::string(f.status().message());
}

TEST(GgufMalformedTest, SmallValidFileParses) {
  auto f = GgufFile::FromBuffer(SmallValidFile());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->FindTensor("b")->offset, 32u);
}

TEST(GgufMalformedTest, BadMagic) {
  std::string b = SmallValidFile();
  b[3] = 'X';
  EXPECT_THAT(ErrorOf(b), HasSubstr("bad magic"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("magic"));
  EXPECT_THAT(ErrorOf("GG"), HasSubstr("magic"));
}

TEST(GgufMalformedTest, BadVersion) {
  EXPECT_THAT(ErrorOf(RawGguf().Header(0, 0, 1).bytes()), HasSubstr("version 1"));
  EXPECT_THAT(ErrorOf(RawGguf().Header(0, 0, 4).bytes()), HasSubstr("version 4"));
  EXPECT_THAT(ErrorOf(RawGguf().Header(0, 0, 0xffffffff).bytes()), HasSubstr("version"));
  EXPECT_EQ(ErrorOf(RawGguf().Header(0, 0, 2).bytes()), "OK");
}

TEST(GgufMalformedTest, HugeCounts) {
  EXPECT_THAT(ErrorOf(RawGguf().Header(uint64_t{1} << 62, 0).bytes()), HasSubstr("tensor count"));
  EXPECT_THAT(ErrorOf(RawGguf().Header(~uint64_t{0}, 0).bytes()), HasSubstr("tensor count"));
  EXPECT_THAT(ErrorOf(RawGguf().Header(0, uint64_t{1} << 62).bytes()), HasSubstr("metadata count"));
  EXPECT_THAT(ErrorOf(RawGguf().Header(0, 1000).KvU32("a", 1).bytes()), HasSubstr("metadata count"));
  // A huge array length inside a value.
  RawGguf arr;
  arr.Header(0, 1).Str("arr").U32(9).U32(4).U64(uint64_t{1} << 60).U32(1);
  EXPECT_THAT(ErrorOf(arr.bytes()), HasSubstr("'arr'"));
  // Fewer kvs than promised, with room for the count check to pass.
  RawGguf few;
  few.Header(0, 2).KvU32("a", 1).Zeros(4);
  EXPECT_FALSE(GgufFile::FromBuffer(few.bytes()).ok());
}

TEST(GgufMalformedTest, StringLengthPastTheEnd) {
  RawGguf key;
  key.Header(0, 1).U64(1000).Zeros(20);
  EXPECT_THAT(ErrorOf(key.bytes()), HasSubstr("length 1000"));
  RawGguf value;
  value.Header(0, 1).Str("k").U32(8).U64(~uint64_t{0}).Zeros(4);
  EXPECT_THAT(ErrorOf(value.bytes()), HasSubstr("length"));
  RawGguf name;
  name.Header(1, 0).U64(uint64_t{1} << 40).Zeros(40);
  EXPECT_THAT(ErrorOf(name.bytes()), HasSubstr("tensor name"));
}

TEST(GgufMalformedTest, BadValueTypes) {
  RawGguf t;
  t.Header(0, 1).Str("weird").U32(13).U32(0);
  EXPECT_THAT(ErrorOf(t.bytes()), HasSubstr("'weird'"));
  RawGguf elem;
  elem.Header(0, 1).Str("arr").U32(9).U32(77).U64(0);
  EXPECT_THAT(ErrorOf(elem.bytes()), HasSubstr("element type 77"));
  RawGguf b;
  b.Header(0, 1).Str("flag").U32(7).U8(2);
  EXPECT_THAT(ErrorOf(b.bytes()), HasSubstr("'flag'"));
  RawGguf empty_key;
  empty_key.Header(0, 1).Str("").U32(4).U32(1);
  EXPECT_THAT(ErrorOf(empty_key.bytes()), HasSubstr("empty"));
}

TEST(GgufMalformedTest, DeeplyNestedArraysAreRejected) {
  RawGguf r;
  r.Header(0, 1).Str("deep").U32(9);
  for (int i = 0; i < 20; ++i) r.U32(9).U64(1);
  r.U32(4).U64(0);
  EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("nested"));
}

TEST(GgufMalformedTest, DuplicateKeysAndTensorNames) {
  RawGguf keys;
  keys.Header(0, 2).KvU32("dup.key", 1).KvU32("dup.key", 2);
  EXPECT_THAT(ErrorOf(keys.bytes()), HasSubstr("duplicate metadata key 'dup.key'"));
  RawGguf names;
  names.Header(2, 0).Tensor("w", {8}, 0, 0).Tensor("w", {8}, 0, 32).PadTo(32).Zeros(64);
  EXPECT_THAT(ErrorOf(names.bytes()), HasSubstr("duplicate tensor name 'w'"));
}

TEST(GgufMalformedTest, TooManyDimensions) {
  RawGguf r;
  r.Header(1, 0).Tensor("t5", {1, 1, 1, 1, 1}, 0, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("'t5' has 5 dimensions"));
  RawGguf zero;
  zero.Header(1, 0).Tensor("t0", {}, 0, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(zero.bytes()), HasSubstr("'t0' has 0 dimensions"));
}

TEST(GgufMalformedTest, DimensionProductOverflows) {
  RawGguf r;
  r.Header(1, 0).Tensor("big", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("'big'"));
  EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("overflow"));
  RawGguf bytes_overflow;  // 2^61 elements fit, 2^61 * 4 bytes do not
  bytes_overflow.Header(1, 0).Tensor("b", {uint64_t{1} << 61}, 0, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(bytes_overflow.bytes()), HasSubstr("overflow"));
  RawGguf negative;
  negative.Header(1, 0).Tensor("neg", {~uint64_t{0}}, 0, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(negative.bytes()), HasSubstr("'neg'"));
}

TEST(GgufMalformedTest, BadTensorType) {
  RawGguf r;
  r.Header(1, 0).Tensor("q", {32}, 4, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("'q' has unknown ggml type 4"));
  RawGguf block;
  block.Header(1, 0).Tensor("q", {16}, 2, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(block.bytes()), HasSubstr("block size"));
}

TEST(GgufMalformedTest, OffsetPastTheEnd) {
  RawGguf r;
  r.Header(1, 0).Tensor("far", {8}, 0, uint64_t{1} << 40).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("'far'"));
  RawGguf wrap;  // offset + size wraps around 2^64
  wrap.Header(1, 0).Tensor("wrap", {8}, 0, ~uint64_t{31}).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(wrap.bytes()), HasSubstr("'wrap'"));
  RawGguf data;  // right offset, but the data runs past the end
  data.Header(1, 0).Tensor("long", {64}, 0, 0).PadTo(32).Zeros(32);
  EXPECT_THAT(ErrorOf(data.bytes()), HasSubstr("'long' data (256 bytes at offset 0) runs past"));
}

TEST(GgufMalformedTest, NonContiguousOrOverlappingData) {
  RawGguf gap;
  gap.Header(2, 0).Tensor("a", {8}, 0, 0).Tensor("b", {8}, 0, 64).PadTo(32).Zeros(96);
  EXPECT_THAT(ErrorOf(gap.bytes()), HasSubstr("'b' has data offset 64 but 32 was expected"));
  RawGguf overlap;
  overlap.Header(2, 0).Tensor("a", {16}, 0, 0).Tensor("b", {8}, 0, 32).PadTo(32).Zeros(96);
  EXPECT_THAT(ErrorOf(overlap.bytes()), HasSubstr("overlaps"));
  RawGguf unaligned;
  unaligned.Header(1, 0).Tensor("u", {8}, 0, 4).PadTo(32).Zeros(64);
  EXPECT_THAT(ErrorOf(unaligned.bytes()), HasSubstr("'u' offset 4 is not a multiple"));
}

TEST(GgufMalformedTest, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u, 1u << 20}) {
    RawGguf r;
    r.Header(0, 1).KvU32("general.alignment", a);
    EXPECT_THAT(ErrorOf(r.bytes()), HasSubstr("general.alignment")) << a;
  }
  RawGguf typed;
  typed.Header(0, 1).Str("general.alignment").U32(8).Str("32");
  EXPECT_THAT(ErrorOf(typed.bytes()), HasSubstr("must be uint32"));
  RawGguf ok;
  ok.Header(1, 1).KvU32("general.alignment", 64).Tensor("t", {16}, 0, 0).PadTo(64).Zeros(64);
  auto f = GgufFile::FromBuffer(ok.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
}

TEST(GgufMalformedTest, OneByteShort) {
  std::string b = SmallValidFile();
  b.pop_back();
  EXPECT_THAT(ErrorOf(b), HasSubstr("'b'"));
}

TEST(GgufMalformedTest, EveryTruncationIsAClearError) {
  const std::string full = SmallValidFile();
  ASSERT_EQ(ErrorOf(full), "OK");
  for (size_t n = 0; n < full.size(); ++n) {
    auto f = GgufFile::FromBuffer(std::string_view(full).substr(0, n));
    EXPECT_FALSE(f.ok()) << "truncated to " << n << " bytes";
    if (!f.ok()) {
      EXPECT_THAT(f.status().message(), HasSubstr("malformed GGUF")) << n;
    }
  }
}

TEST(GgufMalformedTest, EverySingleByteCorruptionIsHandled) {
  // No crash or sanitizer report for any byte value at any position of the header.
  const std::string full = SmallValidFile();
  const size_t header = full.size() - 64;
  for (size_t i = 0; i < header; ++i) {
    for (int v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string b = full;
      b[i] = static_cast<char>(v);
      auto f = GgufFile::FromBuffer(b);
      if (f.ok()) {
        for (const GgufTensor& t : (*f)->tensors()) {
          EXPECT_LE(t.data + t.size_bytes, (*f)->file_data() + (*f)->file_size());
        }
      }
    }
  }
}

}  // namespace
}  // namespace aperture::engine
