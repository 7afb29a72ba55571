#include "core/civil_time.h"

#include <gtest/gtest.h>

namespace imgflow::core {
namespace {

using std::chrono::seconds;

TEST(CivilTime, ConvertsValidDatesExactly) {
  EXPECT_EQ(utc_time(1970, 1, 1, 0, 0, 0)->time_since_epoch(), seconds(0));
  EXPECT_EQ(utc_time(2015, 10, 21, 7, 28, 0)->time_since_epoch(), seconds(1'445'412'480));
  EXPECT_EQ(utc_time(2024, 2, 29, 23, 59, 59)->time_since_epoch(), seconds(1'709'251'199));
  EXPECT_TRUE(utc_time(kMinCivilYear, 1, 1, 0, 0, 0));
  EXPECT_TRUE(utc_time(kMaxCivilYear, 12, 31, 23, 59, 59));
}

TEST(CivilTime, RefusesWhatIsNoDateOrOutsideTheClock) {
  // The years a fuzzer found: each would overflow nanoseconds since 1970.
  EXPECT_FALSE(utc_time(764, 1, 1, 0, 0, 0));
  EXPECT_FALSE(utc_time(1677, 12, 31, 0, 0, 0));
  EXPECT_FALSE(utc_time(2262, 1, 1, 0, 0, 0));
  EXPECT_FALSE(utc_time(9999, 12, 31, 23, 59, 59));
  EXPECT_FALSE(utc_time(2023, 2, 29, 0, 0, 0));
  EXPECT_FALSE(utc_time(2024, 13, 1, 0, 0, 0));
  EXPECT_FALSE(utc_time(2024, 0, 1, 0, 0, 0));
  EXPECT_FALSE(utc_time(2024, 4, 31, 0, 0, 0));
  EXPECT_FALSE(utc_time(2024, 1, 1, 24, 0, 0));
  EXPECT_FALSE(utc_time(2024, 1, 1, 0, 60, 0));
  EXPECT_FALSE(utc_time(2024, 1, 1, 0, 0, 60));
  EXPECT_FALSE(utc_time(2024, 1, 1, -1, 0, 0));
}

}  // namespace
}  // namespace imgflow::core
