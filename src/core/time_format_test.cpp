#include "core/time_format.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(TimeFormatTest, Rfc3339) { EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z"); }

TEST(TimeFormatTest, ParsesDurations) {
  EXPECT_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_EQ(*ParseDurationSeconds("15m"), 900);
  EXPECT_EQ(*ParseDurationSeconds("12h"), 43200);
  EXPECT_EQ(*ParseDurationSeconds("30d"), 2592000);
  EXPECT_EQ(*ParseDurationSeconds("2w"), 1209600);
}

TEST(TimeFormatTest, RejectsBadDurations) {
  for (const char* bad : {"", "d", "0d", "-1d", "1y", "1.5h", "99999999999999d", "1 d"}) {
    EXPECT_FALSE(ParseDurationSeconds(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace aperture
