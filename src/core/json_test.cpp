#include "core/json.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(JsonTest, RejectsInvalidJson) {
  EXPECT_FALSE(ParseJson("{").ok());
  EXPECT_FALSE(ParseJson("").ok());
  EXPECT_FALSE(ParseJson("{\"a\":1}garbage").ok());
}

TEST(JsonTest, RejectsDeepNestingWithoutRecursing) {
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  auto r = ParseJson(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested"), std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseJson("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}").ok());
}

TEST(JsonTest, CanonicalFormSortsKeysWithoutWhitespace) {
  auto v = ParseJson(R"({ "b": 1, "a": {"d": [1, 2], "c": "é"} })");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(CanonicalJson(*v), R"({"a":{"c":"é","d":[1,2]},"b":1})");
}

TEST(JsonTest, TypedAccessNamesTheField) {
  auto v = *ParseJson(R"({"name": 3, "n": "x", "ok": true, "big": 18446744073709551615})");
  auto s = RequiredString(v, "name");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ErrorParam(s.status()), "name");
  EXPECT_FALSE(OptionalInt(v, "n").ok());
  EXPECT_FALSE(OptionalInt(v, "big").ok());
  EXPECT_EQ(**OptionalBool(v, "ok"), true);
  EXPECT_FALSE(OptionalString(v, "missing")->has_value());
  EXPECT_EQ(ErrorParam(RequiredString(v, "missing").status()), "missing");
}

}  // namespace
}  // namespace aperture
