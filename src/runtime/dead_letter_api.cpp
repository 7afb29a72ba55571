#include "runtime/dead_letter_api.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "events/event_record.h"

namespace imgflow::runtime {
namespace {

using nlohmann::json;

ApiResponse error(int status, const std::string& message) {
  return {status, json{{"error", message}}.dump()};
}

ApiResponse storage_error(const core::Error& e) {
  return error(e.code == core::ErrorCode::kNotFound ? 404 : 500, e.message);
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

DeadLetterApi::DeadLetterApi(storage::DeadLetters& letters, Redrive redrive)
    : letters_(letters), redrive_(std::move(redrive)) {}

ApiResponse DeadLetterApi::handle(std::string_view method, std::string_view path) const {
  constexpr std::string_view kRoot = "dlq";
  if (path == kRoot || path == "dlq/") {
    return method == "GET" ? list() : error(405, "use GET on dlq");
  }
  if (!path.starts_with("dlq/")) return error(404, "no such endpoint: " + std::string(path));
  std::string_view rest = path.substr(kRoot.size() + 1);
  const std::size_t slash = rest.find('/');
  const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  const auto id = parse_id(rest.substr(0, slash));
  if (!id)
    return error(400, "a dead letter id is a positive integer, not '" +
                          std::string(rest.substr(0, slash)) + "'");
  if (action.empty()) {
    if (method == "GET") return show(*id);
    if (method == "DELETE") return remove(*id);
    return error(405, "use GET or DELETE on dlq/ID");
  }
  if (action == "redrive") return method == "POST" ? redrive(*id) : error(405, "use POST");
  return error(404, "no such action: " + std::string(action) + " (try redrive)");
}

ApiResponse DeadLetterApi::list() const {
  auto letters = letters_.list_dead_letters();
  if (!letters) return storage_error(letters.error());
  json items = json::array();
  for (const auto& letter : *letters) items.push_back(letter_json(letter));
  return {200, json{{"dead_letters", std::move(items)}}.dump()};
}

ApiResponse DeadLetterApi::show(std::int64_t id) const {
  auto letter = letters_.get_dead_letter(id);
  if (!letter) return storage_error(letter.error());
  return {200, letter_json(*letter).dump()};
}

ApiResponse DeadLetterApi::redrive(std::int64_t id) const {
  auto event_id = redrive_(id);
  if (!event_id) return storage_error(event_id.error());
  return {200, json{{"id", id}, {"event_id", *event_id}}.dump()};
}

ApiResponse DeadLetterApi::remove(std::int64_t id) const {
  // Removing is idempotent in the store; an operator still wants to hear about a wrong id.
  if (auto letter = letters_.get_dead_letter(id); !letter) return storage_error(letter.error());
  if (auto ok = letters_.remove_dead_letter(id); !ok) return storage_error(ok.error());
  return {200, json{{"id", id}, {"deleted", true}}.dump()};
}

}  // namespace imgflow::runtime
