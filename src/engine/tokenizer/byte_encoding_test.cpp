#include "engine/tokenizer/byte_encoding.h"

#include <string>

#include "core/utf8.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(ByteEncodingTest, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string encoded;
  BpeEncodeBytes(all, &encoded);
  EXPECT_TRUE(IsValidUtf8(encoded));
  EXPECT_EQ(BpeDecodeText(encoded), all);
  EXPECT_EQ(ByteToBpeChar(' '), "Ġ");
  EXPECT_EQ(ByteToBpeChar('\n'), "Ċ");
  EXPECT_EQ(ByteToBpeChar('a'), "a");
}

}  // namespace
}  // namespace aperture::engine
