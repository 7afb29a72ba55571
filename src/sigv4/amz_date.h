#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace imgflow::sigv4 {

using TimePoint = core::Clock::TimePoint;

// "20150830T123600Z" (ISO 8601 basic, UTC), the form of X-Amz-Date. nullopt unless the text is
// exactly that shape and a real calendar time.
std::optional<TimePoint> parse_amz_date(std::string_view text);

// Formats whole seconds (sub-second parts are dropped) as "20150830T123600Z".
std::string format_amz_date(TimePoint time);

// Formats whole seconds as "2015-08-30T12:36:00Z", the form of a POST policy's "expiration".
std::string format_iso8601(TimePoint time);

// "2015-08-30T12:36:00Z" or "2015-08-30T12:36:00.000Z" (ISO 8601 extended, UTC), the form of a
// POST policy's "expiration". Fractional seconds are accepted and ignored.
std::optional<TimePoint> parse_iso8601(std::string_view text);

}  // namespace imgflow::sigv4
