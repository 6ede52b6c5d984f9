#include "core/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace aperture {
namespace {

using namespace std::string_literals;

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(Base64Encode(bytes), text);
    EXPECT_EQ(Base64Decode(text), std::optional<std::string>(bytes)) << text;
  }
  const std::string all_bytes = "\x00\xff\xfe\x80"s;
  EXPECT_EQ(Base64Decode(Base64Encode(all_bytes)), all_bytes);
}

TEST(Base64Test, RefusesAnythingButTheCanonicalForm) {
  for (const char* bad :
       {"Zg", "Zg=", "Zh==", "Zm9v\n", " Zm9v", "Zm9v====", "Zm-v", "Zm_v", "Zm9", "====", "Z===", "Zm9vYg==Zg=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace aperture
