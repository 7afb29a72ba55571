#include "function/notification.h"

#include <functional>
#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "events/event_record.h"

namespace imgflow::function {
namespace {

using nlohmann::ordered_json;

// Hashing type, bucket, key and ETag gives every delivery of one outcome the same id, and a new
// upload (new ETag) a new one.
std::string notification_id(recipe::NotifyEvent type, const SourceRef& source) {
  const std::string identity = std::string(recipe::to_string(type)) + '\n' + source.bucket + '\n' +
                               source.key + '\n' + source.etag;
  return core::to_hex(core::sha256(identity)).substr(0, 32);
}

ordered_json envelope(recipe::NotifyEvent type, const std::string& id, const SourceRef& source,
                      core::Clock::TimePoint time) {
  ordered_json j;
  j["type"] = recipe::to_string(type);
  j["id"] = id;
  j["time"] = events::format_event_time(time);
  j["source"] = {
      {"bucket", source.bucket}, {"key", source.key}, {"etag", source.etag}, {"size", source.size}};
  return j;
}

Notification finish(recipe::NotifyEvent type, const SourceRef& source, core::Clock::TimePoint time,
                    const std::function<void(ordered_json&)>& fill) {
  Notification n{type, notification_id(type, source), ""};
  ordered_json j = envelope(type, n.id, source, time);
  fill(j);
  // Keys are user text: invalid UTF-8 becomes U+FFFD rather than an exception.
  n.body = j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  return n;
}

}  // namespace

std::string notification_event_name(recipe::NotifyEvent type) {
  return std::string(kNotificationPrefix) + std::string(recipe::to_string(type));
}

std::optional<recipe::NotifyEvent> notification_type(std::string_view event_name) {
  if (!event_name.starts_with(kNotificationPrefix)) return std::nullopt;
  event_name.remove_prefix(kNotificationPrefix.size());
  for (auto type : {recipe::NotifyEvent::kProcessed, recipe::NotifyEvent::kFailed,
                    recipe::NotifyEvent::kQuarantined}) {
    if (recipe::to_string(type) == event_name) return type;
  }
  return std::nullopt;
}

Notification processed_notification(const SourceRef& source, std::string_view manifest_bucket,
                                    std::string_view manifest_key, const Manifest& manifest,
                                    core::Clock::TimePoint time) {
  return finish(recipe::NotifyEvent::kProcessed, source, time, [&](ordered_json& j) {
    j["manifest"] = {{"bucket", manifest_bucket}, {"key", manifest_key}};
    ordered_json variants = ordered_json::array();
    for (const ManifestVariant& v : manifest.variants) {
      variants.push_back({{"name", v.name},
                          {"key", v.key},
                          {"format", v.format},
                          {"content_type", v.content_type},
                          {"width", v.width},
                          {"height", v.height},
                          {"bytes", v.bytes}});
    }
    j["variants"] = std::move(variants);
    j["placeholder"] = manifest.placeholder;
    j["dominant_color"] = manifest.dominant_color;
  });
}

Notification failed_notification(const SourceRef& source, std::string_view reason,
                                 std::string_view error, int attempts,
                                 core::Clock::TimePoint time) {
  return finish(recipe::NotifyEvent::kFailed, source, time, [&](ordered_json& j) {
    j["reason"] = reason;
    j["error"] = error;
    j["attempts"] = attempts;
  });
}

Notification quarantined_notification(const SourceRef& source, std::string_view signature,
                                      std::string_view quarantine_bucket,
                                      std::string_view quarantine_key,
                                      core::Clock::TimePoint time) {
  return finish(recipe::NotifyEvent::kQuarantined, source, time, [&](ordered_json& j) {
    j["reason"] = "infected";
    j["error"] = "the scanner found " + std::string(signature);
    j["signature"] = signature;
    if (!quarantine_bucket.empty()) {
      j["quarantine"] = {{"bucket", quarantine_bucket}, {"key", quarantine_key}};
    }
  });
}

}  // namespace imgflow::function
