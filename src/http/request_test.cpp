#include "http/request.h"

#include <gtest/gtest.h>

namespace aperture::http {
namespace {

TEST(RequestTest, HeaderLookupIgnoresCase) {
  Request request;
  request.headers = {{"content-type", "application/json"}, {"x-a", "1"}};
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.Header("X-A"), "1");
  EXPECT_EQ(request.Header("authorization"), std::nullopt);
}

TEST(RequestTest, QueryLookupIsExactAndFirstWins) {
  Request request;
  request.query = {{"a", "1"}, {"a", "2"}, {"B", "3"}};
  EXPECT_EQ(request.Query("a"), "1");
  EXPECT_EQ(request.Query("b"), std::nullopt);
  EXPECT_EQ(request.Query("B"), "3");
}

}  // namespace
}  // namespace aperture::http
