#include "core/civil_time.h"

#include <chrono>

namespace imgflow::core {

std::optional<Clock::TimePoint> utc_time(int year, int month, int day, int hour, int minute,
                                         int second) {
  if (year < kMinCivilYear || year > kMaxCivilYear || month < 1 || month > 12 || day < 1 ||
      day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::time_point_cast<Clock::TimePoint::duration>(
      std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
      std::chrono::seconds(second));
}

}  // namespace imgflow::core
