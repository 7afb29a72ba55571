#include "runtime/notifier.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "function/notification.h"
#include "http/fake_http_client.h"
#include "runtime/dispatcher.h"
#include "runtime/test_support.h"
#include "storage/memory_store.h"

namespace imgflow::runtime {
namespace {

using namespace std::chrono_literals;
using recipe::NotifyEvent;
using testing::LogCapture;
using testing::wait_until;
using Output = core::Result<function::InvocationResult>;

const std::vector<NotifyEvent> kAll{NotifyEvent::kProcessed, NotifyEvent::kFailed,
                                    NotifyEvent::kQuarantined};

std::optional<std::string_view> header(const http::Request& request, std::string_view name) {
  for (const auto& h : request.headers) {
    if (h.name == name) return h.value;
  }
  return std::nullopt;
}

storage::OutboxEvent notification_event(NotifyEvent type, const std::string& body) {
  storage::OutboxEvent event;
  event.id = 7;
  event.event_name = function::notification_event_name(type);
  event.payload = body;
  event.attempts = 1;
  return event;
}

TEST(WebhookSignature, IsHmacOfTimestampDotBody) {
  // printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
  EXPECT_EQ(webhook_signature("secret", 1'700'000'000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163");
  EXPECT_NE(webhook_signature("secret", 1'700'000'000, "{}"),
            webhook_signature("secret", 1'700'000'001, "{}"));
  EXPECT_NE(webhook_signature("secret", 1'700'000'000, "{}"),
            webhook_signature("other", 1'700'000'000, "{}"));
}

TEST(WebhookTargets, ReadSecretsFromTheEnvironmentAndRefuseMissingOnes) {
  recipe::Notify notify;
  notify.webhooks.push_back({"http://127.0.0.1:9/hook", "HOOK_SECRET", kAll});
  auto targets = webhook_targets(notify, [](std::string_view name) -> std::optional<std::string> {
    if (name == "HOOK_SECRET") return "s3cret";
    return std::nullopt;
  });
  ASSERT_TRUE(targets) << targets.error().to_string();
  ASSERT_EQ(targets->size(), 1U);
  EXPECT_EQ(targets->front().secret, "s3cret");

  auto missing = webhook_targets(notify, [](std::string_view) { return std::nullopt; });
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("$HOOK_SECRET, which is not set"), std::string::npos)
      << missing.error().message;
  auto empty = webhook_targets(
      notify, [](std::string_view) -> std::optional<std::string> { return std::string(); });
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("which is empty"), std::string::npos);
}

TEST(Notifier, PostsSignedBodyToSubscribedWebhooksOnly) {
  http::FakeHttpClient client;
  client.push(204);
  core::ManualClock clock{core::Clock::TimePoint(1'800'000'000s)};
  Notifier notifier(
      {{"http://a.test/hook", "sa", kAll}, {"http://b.test/hook", "sb", {NotifyEvent::kFailed}}},
      client, clock, 3s);
  EXPECT_TRUE(notifier.wants(NotifyEvent::kQuarantined));
  const std::string body = R"({"type":"processed","id":"0123456789abcdef"})";
  ASSERT_TRUE(notifier.deliver(notification_event(NotifyEvent::kProcessed, body)));
  const auto sent = client.requests();
  ASSERT_EQ(sent.size(), 1U);  // b wants failures only
  const http::Request& r = sent[0].request;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://a.test/hook");
  EXPECT_EQ(r.timeout, 3s);
  EXPECT_EQ(sent[0].body, body);
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
  EXPECT_EQ(header(r, "X-Imgflow-Event"), "processed");
  EXPECT_EQ(header(r, "X-Imgflow-Delivery"), "0123456789abcdef");
  EXPECT_EQ(header(r, "X-Imgflow-Signature"), webhook_signature("sa", 1'800'000'000, body));
}

TEST(Notifier, NonSuccessAnswersAndTransportErrorsFailTheDelivery) {
  http::FakeHttpClient client;
  core::ManualClock clock{core::Clock::TimePoint(1'800'000'000s)};
  Notifier notifier({{"http://a.test/hook", "s", kAll}, {"http://b.test/hook", "s", kAll}}, client,
                    clock, 1s);
  client.push(500);
  client.push_error(core::Error{core::ErrorCode::kUnavailable, "connection refused"});
  auto st = notifier.deliver(notification_event(NotifyEvent::kFailed, "{}"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, core::ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message.find("http://a.test/hook answered 500"), std::string::npos);
  EXPECT_NE(st.error().message.find("http://b.test/hook: connection refused"), std::string::npos);

  client.push(302);  // a redirect is not a delivery
  client.push(200);
  EXPECT_FALSE(notifier.deliver(notification_event(NotifyEvent::kFailed, "{}")));
  EXPECT_FALSE(
      notifier.deliver(notification_event(NotifyEvent::kProcessed, "{}")).error().message.empty());
}

// The dispatcher records the handler's notification with the ack, retries an undelivered one
// with backoff, and reports a dead-lettered source as "failed".
class DispatcherNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.create_bucket("uploads"));
    options_.workers = 2;
    options_.invoker.timeout = 2s;
    options_.retry_backoff = 5ms;
    options_.notify_retry_backoff = 5ms;
    options_.notify_max_backoff = 20ms;
    options_.poll_interval = 5ms;
    options_.notifier = &notifier_;
  }
  void TearDown() override {
    if (dispatcher_) dispatcher_->stop();
  }

  void upload(const std::string& key) {
    storage::PutOptions options;
    options.event = storage::EventToRecord{"ObjectCreated:Put", ""};
    ASSERT_TRUE(store_.put("uploads", key, "bytes", options));
  }

  void start(Function function) {
    dispatcher_ = std::make_unique<Dispatcher>(store_, store_, std::move(function), logger_,
                                               core::SystemClock::instance(), options_);
    dispatcher_->start();
  }

  static Output processed_with_notice(std::string_view json) {
    auto records = events::parse_event(json);
    function::InvocationResult r;
    function::RecordOutcome outcome;
    outcome.kind = function::OutcomeKind::kProcessed;
    outcome.notification = function::processed_notification(
        {"uploads", records->front().key, records->front().etag, 5}, "processed", "m", {},
        core::SystemClock::instance().now());
    r.records.push_back(outcome);
    ++r.processed;
    return r;
  }

  http::FakeHttpClient client_;
  Notifier notifier_{
      {{"http://hooks.test/", "secret", kAll}}, client_, core::SystemClock::instance(), 1s};
  storage::MemoryStore store_;
  LogCapture log_;
  core::Logger logger_{log_.file()};
  DispatcherOptions options_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherNotifyTest, ProcessedIsDeliveredAfterRetries) {
  client_.push(503);
  client_.push_error(core::Error{core::ErrorCode::kUnavailable, "connection refused"});
  client_.push(200);
  upload("a.jpg");
  start([](std::string_view json, std::string_view) -> Output {
    return processed_with_notice(json);
  });
  ASSERT_TRUE(wait_until([&] { return *store_.count_pending() == 0; }));
  dispatcher_->stop();
  const auto sent = client_.requests();
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_EQ(nlohmann::json::parse(sent[2].body)["source"]["key"], "a.jpg");
  EXPECT_EQ(dispatcher_->stats().invocations.value(), 1U);  // deliveries are not invocations
  EXPECT_EQ(*store_.count_dead_letters(), 0U);
  EXPECT_EQ(dispatcher_->stats().notifications_retried.value(), 2U);
  EXPECT_EQ(dispatcher_->stats().notifications_delivered.value(), 1U);
  EXPECT_EQ(dispatcher_->stats().notifications_dead_lettered.value(), 0U);
}

TEST_F(DispatcherNotifyTest, DeadLetteredSourceIsReportedAsFailed) {
  client_.push(200);
  upload("bad.jpg");
  start([](std::string_view, std::string_view) -> Output {
    function::InvocationResult r;
    function::RecordOutcome outcome;
    outcome.kind = function::OutcomeKind::kFailed;
    outcome.failure = function::Failure::kPermanent;
    outcome.key = "bad.jpg";
    outcome.reason = "decode: not an image";
    r.records.push_back(outcome);
    ++r.failed_permanent;
    return r;
  });
  ASSERT_TRUE(wait_until([&] { return client_.requests().size() == 1; }));
  ASSERT_TRUE(wait_until([&] { return *store_.count_pending() == 0; }));
  dispatcher_->stop();
  const auto body = nlohmann::json::parse(client_.requests()[0].body);
  EXPECT_EQ(body["type"], "failed");
  EXPECT_EQ(body["reason"], "permanent");
  EXPECT_EQ(body["error"], "bad.jpg: decode: not an image");
  EXPECT_EQ(body["source"]["key"], "bad.jpg");
  EXPECT_EQ(*store_.count_dead_letters(), 1U);  // the source; its notification went out
}

TEST_F(DispatcherNotifyTest, UndeliverableNotificationIsDeadLetteredWithoutAnotherNotice) {
  options_.notify_max_attempts = 2;
  client_.push(500);
  client_.push(500);
  upload("a.jpg");
  start([](std::string_view json, std::string_view) -> Output {
    return processed_with_notice(json);
  });
  ASSERT_TRUE(wait_until([&] { return *store_.count_dead_letters() == 1; }));
  ASSERT_TRUE(wait_until([&] { return *store_.count_pending() == 0; }));
  dispatcher_->stop();
  auto letters = store_.list_dead_letters();
  ASSERT_TRUE(letters);
  EXPECT_EQ(letters->front().event.event_name, "Notification:processed");
  EXPECT_EQ(letters->front().failure, "undelivered");
  EXPECT_EQ(letters->front().event.key, "a.jpg");
  EXPECT_EQ(client_.requests().size(), 2U);
  EXPECT_EQ(dispatcher_->stats().notifications_retried.value(), 1U);
  EXPECT_EQ(dispatcher_->stats().notifications_dead_lettered.value(), 1U);
  EXPECT_EQ(dispatcher_->stats().notifications_delivered.value(), 0U);
}

}  // namespace
}  // namespace imgflow::runtime
