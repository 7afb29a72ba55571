#include "events/event_record.h"

#include <chrono>
#include <cstdio>

namespace imgflow::events {

EventKind classify(std::string_view event_name) {
  if (event_name.starts_with("s3:")) event_name.remove_prefix(3);
  if (event_name.starts_with("ObjectCreated:")) return EventKind::kCreated;
  if (event_name.starts_with("ObjectRemoved:")) return EventKind::kRemoved;
  if (event_name == "TestEvent") return EventKind::kTest;
  return EventKind::kOther;
}

std::string format_event_time(core::Clock::TimePoint time) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

}  // namespace imgflow::events
