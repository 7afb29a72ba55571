#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "http/http_client.h"
#include "recipe/recipe.h"
#include "storage/outbox.h"

// Delivers the notifications in the outbox (function/notification.h) to the recipe's webhooks.
// The Dispatcher records them durably (with the ack of the event they report on, or with its
// dead letter) and hands each one here; a failed delivery is retried from the outbox with
// backoff and dead-lettered after notify.max_attempts, like any event.
//
// Each POST carries the notification's JSON body and:
//   Content-Type: application/json
//   X-Imgflow-Event: processed | failed | quarantined
//   X-Imgflow-Delivery: the notification's id (the same on every retry: de-duplicate on it)
//   X-Imgflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// A receiver recomputes v1 over the raw body with its secret, compares in constant time, and
// refuses a t more than five minutes from its clock (the replay window; every retry is signed
// afresh). Any 2xx answer is a delivery; anything else, or no answer within notify.timeout_ms,
// is retried. Redirects are not followed.
namespace imgflow::runtime {

struct WebhookTarget {
  std::string url;
  std::string secret;
  std::vector<recipe::NotifyEvent> events;
};

using EnvironmentLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The recipe's webhooks with their secrets read from the environment. kInvalidArgument naming
// the variable when one is unset or empty: a webhook must never go out unsigned.
core::Result<std::vector<WebhookTarget>> webhook_targets(const recipe::Notify& notify,
                                                         const EnvironmentLookup& environment);

// The X-Imgflow-Signature value for `body` sent at `unix_seconds`.
std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds,
                              std::string_view body);

class Notifier {
 public:
  // `client` and `clock` must outlive the Notifier. Safe to use from many threads at once.
  Notifier(std::vector<WebhookTarget> targets, http::HttpClient& client, const core::Clock& clock,
           std::chrono::milliseconds timeout);

  // Whether any webhook subscribes to `type`: the dispatcher records only those.
  bool wants(recipe::NotifyEvent type) const;

  // POSTs the payload of `notification` (an outbox event named "Notification:<type>") to every
  // webhook subscribed to its type, in the recipe's order. OK when each answered 2xx (or none
  // subscribes); otherwise kUnavailable naming each that did not. A retry posts to all of them
  // again: they de-duplicate on X-Imgflow-Delivery.
  core::Status deliver(const storage::OutboxEvent& notification) const;

 private:
  core::Status post(const WebhookTarget& target, std::string_view type,
                    const storage::OutboxEvent& notification) const;

  std::vector<WebhookTarget> targets_;
  http::HttpClient& client_;
  const core::Clock& clock_;
  std::chrono::milliseconds timeout_;
};

}  // namespace imgflow::runtime
