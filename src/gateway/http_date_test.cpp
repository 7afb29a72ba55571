#include "gateway/http_date.h"

#include <gtest/gtest.h>

namespace imgflow::gateway {
namespace {

TEST(HttpDate, RoundTripsAndRefusesWhatNoClockHolds) {
  const auto t = parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->time_since_epoch(), std::chrono::seconds(1'445'412'480));
  EXPECT_EQ(format_http_date(*t), "Wed, 21 Oct 2015 07:28:00 GMT");
  // A client's If-Modified-Since from the far past or future is no date we can compare (it
  // would overflow nanoseconds since 1970): ignored, as an unparsable one is.
  EXPECT_FALSE(parse_http_date("Sun, 01 Jan 0764 00:00:00 GMT"));
  EXPECT_FALSE(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"));
  EXPECT_FALSE(parse_http_date("Wed, 21 Oct 2015 07:28:00"));
  EXPECT_FALSE(parse_http_date("yesterday"));
}

}  // namespace
}  // namespace imgflow::gateway
