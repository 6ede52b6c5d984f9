#include "translog/tile_path.h"

#include <gtest/gtest.h>

namespace aperture::translog {
namespace {

TEST(TilePathTest, WritesIndicesAsThreeDigitElements) {
  EXPECT_EQ(TilePath({false, 0, 1234067, 256}), "tile/0/x001/x234/067");
  EXPECT_EQ(TilePath({false, 2, 5, 256}), "tile/2/005");
  EXPECT_EQ(TilePath({false, 0, 1000, 17}), "tile/0/x001/000.p/17");
  EXPECT_EQ(TilePath({true, 0, 0, 1}), "tile/entries/000.p/1");
  EXPECT_EQ(TilePath({true, 0, 999, 256}), "tile/entries/999");
}

TEST(TilePathTest, ParsesWhatItWrites) {
  for (const TileRef& t : {TileRef{false, 0, 1234067, 256}, TileRef{false, 3, 0, 255}, TileRef{true, 0, 42, 1},
                           TileRef{true, 0, 999999999999, 256}, TileRef{false, 63, 7, 9}}) {
    auto parsed = ParseTilePath(TilePath(t));
    ASSERT_TRUE(parsed.ok()) << TilePath(t) << ": " << parsed.status();
    EXPECT_EQ(*parsed, t) << TilePath(t);
  }
}

TEST(TilePathTest, RefusesNonCanonicalPaths) {
  for (const char* bad :
       {"tile/0/1234", "tile/0/x000/005", "tile/00/005", "tile/0/005.p/0", "tile/0/005.p/256", "tile/0/005.p/05",
        "tile/64/000", "tile/0/x1/005", "tile/0/001/002", "tile/entries", "tile/0", "tiles/0/000", "tile/-1/000",
        "tile/0/005.p", "tile/0/x001/x002/x003/x004/x005/x006/007", "tile/entries/00a", "tile/0/005/"}) {
    EXPECT_FALSE(ParseTilePath(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace aperture::translog
