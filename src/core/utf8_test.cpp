#include "core/utf8.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii\n"));
  EXPECT_TRUE(IsValidUtf8("Licence \xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é, €, 😀
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
}

TEST(Utf8Test, RefusesMalformedText) {
  EXPECT_FALSE(IsValidUtf8("\x80"));                   // a lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xC3"));                   // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));               // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));           // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));           // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));       // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));                   // never in UTF-8
  EXPECT_FALSE(IsValidUtf8("ok \xE2\x82 then text"));  // cut short mid-text
}

}  // namespace
}  // namespace aperture
