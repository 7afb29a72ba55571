#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "function/manifest.h"
#include "recipe/recipe.h"

// What the application hears about each source: one notification per source (never per
// variant) when it is processed, fails for good or is found infected. The handler and the hosts
// build them here, so a webhook (embedded) and an SNS message (AWS) carry the same JSON:
//
//   {"type":"processed","id":"<32 hex>","time":"2026-12-07T06:00:00.000Z",
//    "source":{"bucket":"uploads","key":"a b.jpg","etag":"...","size":123},
//    "manifest":{"bucket":"processed","key":"a b.jpg/manifest.json"},
//    "variants":[{"name":"large","key":"...","format":"webp","content_type":"image/webp",
//                 "width":1600,"height":1200,"bytes":123}],
//    "placeholder":"data:image/...","dominant_color":"#aabbcc"}
//
// "failed" and "quarantined" carry source, "reason" (a code) and "error" (for a human) instead
// of manifest and variants; "quarantined" names the "signature" and, when kept, "quarantine"
// {bucket, key}. "id" is the same for every delivery of one source version's outcome: receivers
// de-duplicate on it (delivery is at least once).
namespace imgflow::function {

// The outbox event name of a notification: "Notification:processed" and so on.
inline constexpr std::string_view kNotificationPrefix = "Notification:";
std::string notification_event_name(recipe::NotifyEvent type);
// The type a notification's event name carries; nullopt for any other event.
std::optional<recipe::NotifyEvent> notification_type(std::string_view event_name);

struct SourceRef {
  std::string bucket;
  std::string key;
  std::string etag;  // without quotes
  std::uint64_t size = 0;
};

struct Notification {
  recipe::NotifyEvent type = recipe::NotifyEvent::kProcessed;
  std::string id;    // stable per source version and type
  std::string body;  // the JSON above
};

Notification processed_notification(const SourceRef& source, std::string_view manifest_bucket,
                                    std::string_view manifest_key, const Manifest& manifest,
                                    core::Clock::TimePoint time);

// A source dead-lettered: `reason` is the host's failure kind ("permanent", "timeout",
// "transient", "max-age", ...), `error` what went wrong.
Notification failed_notification(const SourceRef& source, std::string_view reason,
                                 std::string_view error, int attempts, core::Clock::TimePoint time);

// `quarantine_bucket` empty: deleted without keeping a copy (on_infected: delete).
Notification quarantined_notification(const SourceRef& source, std::string_view signature,
                                      std::string_view quarantine_bucket,
                                      std::string_view quarantine_key, core::Clock::TimePoint time);

}  // namespace imgflow::function
