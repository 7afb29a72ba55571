#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace imgflow::gateway {

using TimePoint = core::Clock::TimePoint;

// "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 7231 IMF-fixdate), for Last-Modified and Date.
std::string format_http_date(TimePoint time);
// Parses IMF-fixdate; nullopt for anything else (then S3 ignores the conditional header).
std::optional<TimePoint> parse_http_date(std::string_view text);
// "2015-10-21T07:28:00.000Z", the form of dates inside S3 XML.
std::string format_iso8601(TimePoint time);

}  // namespace imgflow::gateway
