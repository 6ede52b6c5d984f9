#include "core/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace aperture {
namespace {

TEST(Utf8Test, ValidatesByTheStrictRules) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("héllo ▁ 🦙"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // stray continuation
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // cut short
}

TEST(Utf8Test, EmittablePrefixHoldsBackOnlyAnIncompleteTail) {
  EXPECT_EQ(Utf8EmittablePrefix("abc"), 3u);
  EXPECT_EQ(Utf8EmittablePrefix("ab\xE2\x82"), 2u);      // first 2 bytes of €
  EXPECT_EQ(Utf8EmittablePrefix("ab\xE2\x82\xAC"), 5u);  // complete €
  EXPECT_EQ(Utf8EmittablePrefix("\xF0\x9F\xA6"), 0u);    // 3 of 4 bytes of 🦙
  EXPECT_EQ(Utf8EmittablePrefix("a\xFF"), 2u);           // invalid: emitted (as U+FFFD)
  EXPECT_EQ(Utf8EmittablePrefix("a\xE2\x41"), 3u);       // broken, not incomplete
}

TEST(Utf8Test, AppendValidReplacesMaximalInvalidSubparts) {
  std::string out;
  AppendValidUtf8(
      "a\xE2\x82"
      "b\xFF\xF0\x9F",
      &out);
  EXPECT_EQ(out,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace aperture
