#include "access/authorizer.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

Caller As(Role role) {
  Caller c;
  c.principal = Principal{"p", "p", role, 0};
  return c;
}

TEST(EffectiveLevelTest, FollowsTheDesignFormula) {
  Model m;
  m.public_level = Level::kApi;
  Caller anon;
  EXPECT_EQ(EffectiveLevel(anon, m, std::nullopt, Level::kOpen), Level::kApi);
  Grant g;
  g.level = Level::kResearch;
  EXPECT_EQ(EffectiveLevel(As(Role::kMember), m, g, Level::kOpen), Level::kResearch);
  // The ceiling caps both the public level and grants.
  EXPECT_EQ(EffectiveLevel(As(Role::kMember), m, g, Level::kHosted), Level::kHosted);
  // A grant below the public level does not lower it.
  g.level = Level::kHosted;
  EXPECT_EQ(EffectiveLevel(As(Role::kMember), m, g, Level::kOpen), Level::kApi);
}

TEST(EffectiveLevelTest, StagedAndClosedGiveOutsidersNothing) {
  Model m;
  m.public_level = Level::kStaged;
  EXPECT_EQ(EffectiveLevel(Caller{}, m, std::nullopt, Level::kOpen), Level::kClosed);
  EXPECT_FALSE(ModelVisible(Caller{}, Level::kClosed));
  Grant g;
  g.level = Level::kStaged;
  EXPECT_EQ(EffectiveLevel(As(Role::kMember), m, g, Level::kOpen), Level::kStaged);
  EXPECT_TRUE(ModelVisible(As(Role::kMember), Level::kStaged));
  m.public_level = Level::kClosed;
  EXPECT_EQ(EffectiveLevel(As(Role::kOwner), m, std::nullopt, Level::kOpen), Level::kOpen);
  // Owners hold the ceiling.
  EXPECT_EQ(EffectiveLevel(As(Role::kOwner), m, std::nullopt, Level::kApi), Level::kApi);
  EXPECT_TRUE(ModelVisible(As(Role::kReviewer), Level::kClosed));
}

TEST(EffectiveLevelTest, ALoweredCeilingSuspendsButKeepsTheHeldLevel) {
  Model m;
  m.public_level = Level::kDownload;
  Grant g;
  g.level = Level::kOpen;
  EXPECT_EQ(HeldLevel(As(Role::kMember), m, g), Level::kOpen);
  EXPECT_EQ(EffectiveLevel(As(Role::kMember), m, g, Level::kStaged), Level::kStaged);
  // A caller whose whole access is suspended still sees the model (and why).
  EXPECT_EQ(EffectiveLevel(Caller{}, m, std::nullopt, Level::kClosed), Level::kClosed);
  EXPECT_TRUE(ModelVisible(Caller{}, HeldLevel(Caller{}, m, std::nullopt)));
}

}  // namespace
}  // namespace aperture
