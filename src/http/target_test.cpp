#include "http/target.h"

#include <gtest/gtest.h>

namespace aperture::http {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(PercentDecodeTest, DecodesEscapesAndOptionallyPlus) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%20b+c%2Fd%e2%82%ac", true, &out));
  EXPECT_EQ(out, "a b c/d\xe2\x82\xac");
  out.clear();
  ASSERT_TRUE(PercentDecode("a+b", false, &out));
  EXPECT_EQ(out, "a+b");
}

TEST(PercentDecodeTest, RejectsBadEscapes) {
  std::string out;
  EXPECT_FALSE(PercentDecode("%", true, &out));
  EXPECT_FALSE(PercentDecode("ab%2", true, &out));
  EXPECT_FALSE(PercentDecode("%zz", true, &out));
  EXPECT_FALSE(PercentDecode("%g0", true, &out));
}

TEST(ParseTargetTest, SplitsPathAndDecodesQuery) {
  std::string path;
  Pairs query;
  ASSERT_TRUE(ParseTarget("/v1/models%2Fx?a=1&b=hello+world&c=%26%3D&flag&&d=", &path, &query).ok());
  EXPECT_EQ(path, "/v1/models%2Fx");  // the path is left undecoded
  EXPECT_EQ(query, (Pairs{{"a", "1"}, {"b", "hello world"}, {"c", "&="}, {"flag", ""}, {"d", ""}}));
}

TEST(ParseTargetTest, ReusesOutputsAcrossCalls) {
  std::string path;
  Pairs query;
  ASSERT_TRUE(ParseTarget("/a?x=1&y=2&z=3", &path, &query).ok());
  ASSERT_TRUE(ParseTarget("/b?q=9", &path, &query).ok());
  EXPECT_EQ(path, "/b");
  EXPECT_EQ(query, (Pairs{{"q", "9"}}));
  ASSERT_TRUE(ParseTarget("/c", &path, &query).ok());
  EXPECT_TRUE(query.empty());
}

TEST(ParseTargetTest, AcceptsAbsoluteAndAsteriskForms) {
  std::string path;
  Pairs query;
  ASSERT_TRUE(ParseTarget("http://example.com:8080/v1/x?k=v", &path, &query).ok());
  EXPECT_EQ(path, "/v1/x");
  EXPECT_EQ(query, (Pairs{{"k", "v"}}));
  ASSERT_TRUE(ParseTarget("HTTP://example.com", &path, &query).ok());
  EXPECT_EQ(path, "/");
  ASSERT_TRUE(ParseTarget("https://example.com?k=v", &path, &query).ok());
  EXPECT_EQ(path, "/");
  EXPECT_EQ(query, (Pairs{{"k", "v"}}));
  ASSERT_TRUE(ParseTarget("*", &path, &query).ok());
  EXPECT_EQ(path, "*");
}

TEST(ParseTargetTest, DropsFragment) {
  std::string path;
  Pairs query;
  ASSERT_TRUE(ParseTarget("/p?a=1#frag", &path, &query).ok());
  EXPECT_EQ(path, "/p");
  EXPECT_EQ(query, (Pairs{{"a", "1"}}));
}

TEST(ParseTargetTest, RejectsBadEscapeInQuery) {
  std::string path;
  Pairs query;
  absl::Status status = ParseTarget("/p?a=%2", &path, &query);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find("percent-escape"), std::string::npos);
  EXPECT_FALSE(ParseTarget("/p?%zz=1", &path, &query).ok());
}

TEST(ParseTargetTest, RejectsAuthorityAndRelativeForms) {
  std::string path;
  Pairs query;
  EXPECT_FALSE(ParseTarget("example.com:443", &path, &query).ok());
  EXPECT_FALSE(ParseTarget("v1/models", &path, &query).ok());
  EXPECT_FALSE(ParseTarget("?a=1", &path, &query).ok());
  EXPECT_FALSE(ParseTarget("", &path, &query).ok());
}

}  // namespace
}  // namespace aperture::http
