#include "runtime/dead_letter_api.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "events/event_record.h"

namespace imgflow::runtime {
namespace {

using nlohmann::json;

core::Error bad_method(std::string message) {
  return core::Error{core::ErrorCode::kUnsupported, std::move(message)};
}

core::Error not_found(std::string message) {
  return core::Error{core::ErrorCode::kNotFound, std::move(message)};
}

json letter_json(const storage::DeadLetter& letter) {
  const storage::OutboxEvent& event = letter.event;
  return json{{"id", letter.id},
              {"failure", letter.failure},
              {"error", letter.error},
              {"attempts", letter.attempts},
              {"first_seen", events::format_event_time(letter.first_seen)},
              {"last_failed", events::format_event_time(letter.last_failed)},
              {"event",
               {{"name", event.event_name},
                {"bucket", event.bucket},
                {"key", event.key},
                {"size", event.size},
                {"etag", event.etag},
                {"sequencer", event.sequencer},
                {"created", events::format_event_time(event.created)},
                {"payload", event.payload}}}};
}

// "17" → 17; ids are positive.
std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

}  // namespace

DeadLetterApi::DeadLetterApi(storage::DeadLetters& letters, Redrive redrive,
                             ListQuarantine quarantine)
    : letters_(letters), redrive_(std::move(redrive)), quarantine_(std::move(quarantine)) {}

core::Result<std::string> DeadLetterApi::handle(std::string_view method,
                                                std::string_view path) const {
  constexpr std::string_view kRoot = "dlq";
  if (path == "quarantine" || path == "quarantine/") {
    if (method != "GET") return core::fail(bad_method("use GET on quarantine"));
    return quarantine();
  }
  if (path == kRoot || path == "dlq/") {
    if (method != "GET") return core::fail(bad_method("use GET on dlq"));
    return list();
  }
  if (!path.starts_with("dlq/")) {
    return core::fail(not_found("no such endpoint: " + std::string(path)));
  }
  std::string_view rest = path.substr(kRoot.size() + 1);
  const std::size_t slash = rest.find('/');
  const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  const auto id = parse_id(rest.substr(0, slash));
  if (!id) {
    return core::fail(
        core::ErrorCode::kInvalidArgument,
        "a dead letter id is a positive integer, not '" + std::string(rest.substr(0, slash)) + "'");
  }
  if (action.empty()) {
    if (method == "GET") return show(*id);
    if (method == "DELETE") return remove(*id);
    return core::fail(bad_method("use GET or DELETE on dlq/ID"));
  }
  if (action != "redrive") {
    return core::fail(not_found("no such action: " + std::string(action) + " (try redrive)"));
  }
  if (method != "POST") return core::fail(bad_method("use POST on dlq/ID/redrive"));
  return redrive(*id);
}

core::Result<std::string> DeadLetterApi::list() const {
  auto letters = letters_.list_dead_letters();
  if (!letters) return core::fail(letters.error());
  json items = json::array();
  for (const auto& letter : *letters) items.push_back(letter_json(letter));
  return json{{"dead_letters", std::move(items)}}.dump();
}

core::Result<std::string> DeadLetterApi::show(std::int64_t id) const {
  auto letter = letters_.get_dead_letter(id);
  if (!letter) return core::fail(letter.error());
  return letter_json(*letter).dump();
}

core::Result<std::string> DeadLetterApi::redrive(std::int64_t id) const {
  auto event_id = redrive_(id);
  if (!event_id) return core::fail(event_id.error());
  return json{{"id", id}, {"event_id", *event_id}}.dump();
}

core::Result<std::string> DeadLetterApi::remove(std::int64_t id) const {
  // Removing is idempotent in the store; an operator still wants to hear about a wrong id.
  if (auto letter = letters_.get_dead_letter(id); !letter) return core::fail(letter.error());
  if (auto ok = letters_.remove_dead_letter(id); !ok) return core::fail(ok.error());
  return json{{"id", id}, {"deleted", true}}.dump();
}

core::Result<std::string> DeadLetterApi::quarantine() const {
  if (!quarantine_) {
    return core::fail(
        not_found("nothing is quarantined here: the recipe has no scan: section "
                  "that quarantines infected uploads"));
  }
  auto held = quarantine_();
  if (!held) return core::fail(held.error());
  json items = json::array();
  for (const QuarantinedUpload& upload : held->uploads) {
    items.push_back({{"key", upload.key},
                     {"source_key", upload.source_key},
                     {"signature", upload.signature},
                     {"size", upload.size},
                     {"quarantined_at", events::format_event_time(upload.quarantined_at)}});
  }
  return json{
      {"bucket", held->bucket}, {"truncated", held->truncated}, {"quarantined", std::move(items)}}
      .dump();
}

}  // namespace imgflow::runtime
