#include "sigv4/amz_date.h"

#include <chrono>
#include <cstdio>

#include "core/civil_time.h"

namespace imgflow::sigv4 {
namespace {

// Reads `count` decimal digits at `pos`; -1 if any is not a digit.
int digits(std::string_view text, std::size_t pos, std::size_t count) {
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

struct Fields {
  int year, month, day, hour, minute, second;
};

// 60 would be a leap second; AWS never emits one, so core::utc_time refusing it is simpler than
// modelling it. A digit that is not one (-1) is refused there too.
std::optional<TimePoint> to_time(const Fields& f) {
  return core::utc_time(f.year, f.month, f.day, f.hour, f.minute, f.second);
}

}  // namespace

std::optional<TimePoint> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  return to_time({digits(text, 0, 4), digits(text, 4, 2), digits(text, 6, 2), digits(text, 9, 2),
                  digits(text, 11, 2), digits(text, 13, 2)});
}

std::string format_amz_date(TimePoint time) {
  const auto days = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day ymd(days);
  const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::seconds>(time - days));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string format_iso8601(TimePoint time) {
  const std::string basic = format_amz_date(time);  // 20150830T123600Z
  return basic.substr(0, 4) + "-" + basic.substr(4, 2) + "-" + basic.substr(6, 5) + ":" +
         basic.substr(11, 2) + ":" + basic.substr(13);
}

std::optional<TimePoint> parse_iso8601(std::string_view text) {
  if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' || text[7] != '-' ||
      text[10] != 'T' || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  if (text.size() > 20) {
    // Only ".<digits>" may sit between the seconds and the 'Z'.
    if (text[19] != '.' || text.size() == 21 || text.size() > 30) return std::nullopt;
    if (digits(text, 20, text.size() - 21) < 0) return std::nullopt;
  }
  return to_time({digits(text, 0, 4), digits(text, 5, 2), digits(text, 8, 2), digits(text, 11, 2),
                  digits(text, 14, 2), digits(text, 17, 2)});
}

}  // namespace imgflow::sigv4
