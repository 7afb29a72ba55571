#pragma once

#include <optional>

#include "core/clock.h"

namespace imgflow::core {

// The first and last years whose every instant a Clock::TimePoint holds: it counts nanoseconds
// since 1970 in 64 bits, which reach from 1677-09-21 to 2262-04-11.
inline constexpr int kMinCivilYear = 1678;
inline constexpr int kMaxCivilYear = 2261;

// The instant of a UTC calendar date and time, or nullopt when it is no such date (month 13,
// 30 February, hour 24, second 60 and so on) or its year lies outside kMinCivilYear..
// kMaxCivilYear. Every parser of dates from untrusted bytes (HTTP dates, X-Amz-Date, ISO 8601 in
// XML and policies) converts through here: a year like 0764 or 9999 is refused, not converted
// with a signed overflow. Pure.
std::optional<Clock::TimePoint> utc_time(int year, int month, int day, int hour, int minute,
                                         int second);

}  // namespace imgflow::core
