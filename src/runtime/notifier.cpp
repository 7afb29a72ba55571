#include "runtime/notifier.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "function/notification.h"

namespace imgflow::runtime {
namespace {

std::int64_t unix_seconds(core::Clock::TimePoint time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

// The notification's id, from its body; "" if the body has none (it always does when built by
// function/notification.h).
std::string delivery_id(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("id") || !json["id"].is_string()) return "";
  return json["id"].get<std::string>();
}

}  // namespace

core::Result<std::vector<WebhookTarget>> webhook_targets(const recipe::Notify& notify,
                                                         const EnvironmentLookup& environment) {
  std::vector<WebhookTarget> targets;
  for (const recipe::Webhook& webhook : notify.webhooks) {
    std::optional<std::string> secret = environment(webhook.secret_env);
    if (!secret || secret->empty()) {
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "notify: the webhook " + webhook.url + " takes its secret from $" +
                            webhook.secret_env + ", which is " + (secret ? "empty" : "not set") +
                            "; set it to the secret the receiver checks signatures with");
    }
    targets.push_back({webhook.url, std::move(*secret), webhook.events});
  }
  return targets;
}

std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds,
                              std::string_view body) {
  const std::string stamp = std::to_string(unix_seconds);
  std::string signed_text = stamp + ".";
  signed_text += body;
  return "t=" + stamp + ",v1=" + core::to_hex(core::hmac_sha256(secret, signed_text));
}

Notifier::Notifier(std::vector<WebhookTarget> targets, http::HttpClient& client,
                   const core::Clock& clock, std::chrono::milliseconds timeout)
    : targets_(std::move(targets)), client_(client), clock_(clock), timeout_(timeout) {}

bool Notifier::wants(recipe::NotifyEvent type) const {
  return std::any_of(targets_.begin(), targets_.end(), [type](const WebhookTarget& t) {
    return std::find(t.events.begin(), t.events.end(), type) != t.events.end();
  });
}

core::Status Notifier::deliver(const storage::OutboxEvent& notification) const {
  const auto type = function::notification_type(notification.event_name);
  if (!type) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "not a notification: " + notification.event_name);
  }
  std::string failures;
  for (const WebhookTarget& target : targets_) {
    if (std::find(target.events.begin(), target.events.end(), *type) == target.events.end()) {
      continue;
    }
    if (auto posted = post(target, recipe::to_string(*type), notification); !posted) {
      failures += (failures.empty() ? "" : "; ") + posted.error().message;
    }
  }
  if (failures.empty()) return {};
  return core::fail(core::ErrorCode::kUnavailable, failures);
}

core::Status Notifier::post(const WebhookTarget& target, std::string_view type,
                            const storage::OutboxEvent& notification) const {
  const std::string& body = notification.payload;
  http::Request request;
  request.method = "POST";
  request.url = target.url;
  request.body_length = body.size();
  request.connect_timeout = std::min(timeout_, std::chrono::milliseconds(10'000));
  request.timeout = timeout_;
  request.headers = {
      {"Content-Type", "application/json"},
      {"User-Agent", "imgflow-webhook/1"},
      {"X-Imgflow-Event", std::string(type)},
      {"X-Imgflow-Delivery", delivery_id(body)},
      {"X-Imgflow-Signature", webhook_signature(target.secret, unix_seconds(clock_.now()), body)},
  };
  http::StringBodySource source(body);
  std::string answer;
  http::StringBodySink sink(answer);
  auto response = client_.send(request, &source, &sink);
  if (!response)
    return core::fail(response.error().code, target.url + ": " + response.error().message);
  if (response->status < 200 || response->status > 299) {
    return core::fail(core::ErrorCode::kUnavailable,
                      target.url + " answered " + std::to_string(response->status));
  }
  return {};
}

}  // namespace imgflow::runtime
