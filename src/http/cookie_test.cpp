#include "http/cookie.h"

#include <gtest/gtest.h>

#include <string>

namespace aperture::http {
namespace {

TEST(CookieTest, FindsTheNamedCookie) {
  EXPECT_EQ(CookieValue("a=1; aperture_session=abc; b=2", "aperture_session"), "abc");
  EXPECT_EQ(CookieValue("aperture_session=abc", "aperture_session"), "abc");
  EXPECT_EQ(CookieValue("a=1;aperture_session=abc;b=2", "aperture_session"), "abc");
  EXPECT_EQ(CookieValue("  aperture_session = abc  ", "aperture_session"), "abc");
  EXPECT_EQ(CookieValue("aperture_session=\"abc\"", "aperture_session"), "abc");
  EXPECT_EQ(CookieValue("x=aperture_session=1; aperture_session=2", "aperture_session"), "2");
}

TEST(CookieTest, TheFirstOfTwoWins) { EXPECT_EQ(CookieValue("s=first; s=second", "s"), "first"); }

TEST(CookieTest, AbsentOrMalformedIsNothing) {
  EXPECT_EQ(CookieValue("", "s"), std::nullopt);
  EXPECT_EQ(CookieValue("s", "s"), std::nullopt);
  EXPECT_EQ(CookieValue(";;;", "s"), std::nullopt);
  EXPECT_EQ(CookieValue("ss=1; s_=2; =3", "s"), std::nullopt);
  EXPECT_EQ(CookieValue("s=1", ""), std::nullopt);
  EXPECT_EQ(CookieValue("s=", "s"), "");
  EXPECT_EQ(CookieValue("s=\"", "s"), "\"");
  const std::string binary("s=\xff\x00\x01; t=2", 10);
  EXPECT_EQ(CookieValue(binary, "t"), "2");
  EXPECT_EQ(CookieValue(binary, "s")->size(), 3u);
}

}  // namespace
}  // namespace aperture::http
