#include "distribution/byte_range.h"

#include <gtest/gtest.h>

namespace aperture::distribution {
namespace {

TEST(ByteRangeTest, SingleRangesOfEveryForm) {
  RangeRequest r = ParseRange("bytes=0-99", 1000);
  ASSERT_EQ(r.kind, RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(r.length(), 100u);
  EXPECT_EQ(ContentRange(r, 1000), "bytes 0-99/1000");

  r = ParseRange("bytes=500-", 1000);
  ASSERT_EQ(r.kind, RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 500u);
  EXPECT_EQ(r.last, 999u);

  r = ParseRange("bytes=-100", 1000);
  ASSERT_EQ(r.kind, RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 900u);
  EXPECT_EQ(r.last, 999u);

  // A suffix longer than the file is the whole file; a last byte past the end is the end.
  r = ParseRange("bytes=-5000", 1000);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 999u);
  r = ParseRange("bytes=10-99999999", 1000);
  EXPECT_EQ(r.last, 999u);
  // Whitespace around the parts and any case of the unit are fine.
  r = ParseRange(" Bytes = 1 - 2 ", 1000);
  ASSERT_EQ(r.kind, RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 1u);
  EXPECT_EQ(r.last, 2u);
}

TEST(ByteRangeTest, RangesPastTheEndAreUnsatisfiable) {
  EXPECT_EQ(ParseRange("bytes=1000-", 1000).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=1000-2000", 1000).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 1000).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-", 0).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-1", 0).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ContentRange(ParseRange("bytes=1000-", 1000), 1000), "bytes */1000");
}

TEST(ByteRangeTest, OtherUnitsAreIgnored) {
  EXPECT_EQ(ParseRange("items=0-5", 1000).kind, RangeKind::kWhole);
  EXPECT_EQ(ParseRange("pages=1", 1000).kind, RangeKind::kWhole);
}

TEST(ByteRangeTest, MalformedRangesAreRefusedWithAReason) {
  for (const char* bad :
       {"bytes", "bytes=", "bytes=-", "bytes=abc-", "bytes=5", "bytes=5-4", "bytes=1-2,4-5", "bytes=--5", "bytes=+1-2",
        "bytes=1-x", "bytes=0x10-", "bytes=99999999999999999999-", "bytes=-99999999999999999999", "garbage", ""}) {
    RangeRequest r = ParseRange(bad, 1000);
    EXPECT_EQ(r.kind, RangeKind::kMalformed) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
  }
  EXPECT_NE(ParseRange("bytes=1-2,4-5", 1000).error.find("single range"), std::string::npos);
}

TEST(ByteRangeTest, LargeNumbersDoNotOverflow) {
  const uint64_t huge = 9'999'999'999'999'999'999ull;  // 19 digits
  RangeRequest r = ParseRange("bytes=0-9999999999999999999", huge);
  ASSERT_EQ(r.kind, RangeKind::kSatisfiable);
  EXPECT_EQ(r.last, huge - 1);
  r = ParseRange("bytes=-9999999999999999999", 10);
  EXPECT_EQ(r.first, 0u);
}

TEST(ByteRangeTest, IfRangeNeedsTheCurrentStrongTag) {
  const std::string etag = StrongEtag("abc123");
  EXPECT_EQ(etag, "\"abc123\"");
  EXPECT_TRUE(IfRangeAllows("\"abc123\"", etag));
  EXPECT_TRUE(IfRangeAllows("  \"abc123\" ", etag));
  EXPECT_FALSE(IfRangeAllows("\"abc124\"", etag));
  EXPECT_FALSE(IfRangeAllows("W/\"abc123\"", etag));
  EXPECT_FALSE(IfRangeAllows("Wed, 21 Oct 2015 07:28:00 GMT", etag));
  EXPECT_FALSE(IfRangeAllows("", etag));
}

}  // namespace
}  // namespace aperture::distribution
