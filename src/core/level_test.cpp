#include "aperture/level.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(LevelTest, OrderedAndRoundTrips) {
  EXPECT_LT(Level::kClosed, Level::kStaged);
  EXPECT_LT(Level::kDownload, Level::kOpen);
  for (Level l : kAllLevels) EXPECT_EQ(*ParseLevel(LevelName(l)), l);
  for (Capability c : kAllCapabilities) EXPECT_EQ(*ParseCapability(CapabilityName(c)), c);
  EXPECT_FALSE(ParseLevel("public").has_value());
  EXPECT_EQ(*ParseRole("reviewer"), Role::kReviewer);
}

}  // namespace
}  // namespace aperture
