#include "store/access_cache.h"

#include <gtest/gtest.h>

namespace aperture::store {
namespace {

TEST(AccessCacheTest, AReadBegunBeforeAnInvalidationDoesNotFillIt) {
  AccessCache cache;
  const uint64_t before = cache.Generation();
  cache.Invalidate();
  cache.PutKeyByHash(before, "h", ApiKey{"k1", "p1", "h", 5, 0, 0, 0});
  cache.PutPrincipal(before, Principal{"p1", "alice", Role::kMember, 10});
  cache.PutModels(before, {});
  cache.PutActiveGrant(before, "p1", "m1", std::nullopt);
  EXPECT_FALSE(cache.KeyByHash("h"));
  EXPECT_FALSE(cache.FindPrincipal("p1"));
  EXPECT_FALSE(cache.Models());
  EXPECT_FALSE(cache.ActiveGrant("p1", "m1", 0));

  const uint64_t now = cache.Generation();
  cache.PutKeyByHash(now, "h", ApiKey{"k1", "p1", "h", 5, 0, 0, 0});
  cache.PutActiveGrant(now, "p1", "m1", std::nullopt);
  EXPECT_EQ(cache.KeyByHash("h")->id, "k1");
  ASSERT_TRUE(cache.ActiveGrant("p1", "m1", 0));
  EXPECT_FALSE(cache.ActiveGrant("p1", "m1", 0)->has_value());  // "no grant" is an answer too
  EXPECT_FALSE(cache.FindModel("m1"));                          // no list cached: ask the store
}

TEST(AccessCacheTest, ATableStaysBounded) {
  AccessCache cache;
  const uint64_t g = cache.Generation();
  for (size_t i = 0; i <= AccessCache::kMaxEntries; ++i) {
    const std::string hash = "h" + std::to_string(i);
    cache.PutKeyByHash(g, hash, ApiKey{"k", "p1", hash, 5, 0, 0, 0});
  }
  // The table emptied when full, then took the last one.
  EXPECT_FALSE(cache.KeyByHash("h0"));
  EXPECT_TRUE(cache.KeyByHash("h" + std::to_string(AccessCache::kMaxEntries)));
}

}  // namespace
}  // namespace aperture::store
