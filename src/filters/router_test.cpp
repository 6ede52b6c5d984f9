#include "filters/route.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(RouterTest, MatchesSegmentsAndParams) {
  Router r;
  r.Add({"GET", "/v1/models", "models.list"});
  r.Add({"GET", "/v1/models/{model}", "models.get"});
  r.Add({"POST", "/v1/admin/keys/{id}/revoke", "keys.revoke"});
  std::vector<std::pair<std::string, std::string>> params;
  bool mismatch = false;
  EXPECT_EQ(r.Match("GET", "/v1/models", params, mismatch)->name, "models.list");
  EXPECT_EQ(r.Match("GET", "/v1/models/m1", params, mismatch)->name, "models.get");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].second, "m1");
  EXPECT_EQ(r.Match("GET", "/v1/models/", params, mismatch), nullptr);
  EXPECT_EQ(r.Match("GET", "/v1/models/a/b", params, mismatch), nullptr);
  EXPECT_FALSE(mismatch);
  EXPECT_EQ(r.Match("DELETE", "/v1/models", params, mismatch), nullptr);
  EXPECT_TRUE(mismatch);
  EXPECT_EQ(r.Match("POST", "/v1/admin/keys/k1/revoke", params, mismatch)->name, "keys.revoke");
  EXPECT_EQ(r.Match("GET", "", params, mismatch), nullptr);
}

TEST(RouterTest, HeadMatchesTheGetRouteOnly) {
  Router r;
  r.Add({"GET", "/v1/models/{model}", "models.get"});
  r.Add({"POST", "/v1/completions", "completions"});
  std::vector<std::pair<std::string, std::string>> params;
  bool mismatch = false;
  const Route* route = r.Match("HEAD", "/v1/models/m1", params, mismatch);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->name, "models.get");
  EXPECT_EQ(r.Match("HEAD", "/v1/completions", params, mismatch), nullptr);
  EXPECT_TRUE(mismatch);
}

}  // namespace
}  // namespace aperture
