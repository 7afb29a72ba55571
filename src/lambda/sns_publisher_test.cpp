#include "lambda/sns_publisher.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "events/form_url.h"
#include "http/fake_http_client.h"

namespace imgflow::lambda {
namespace {

using namespace std::chrono_literals;
using recipe::NotifyEvent;

constexpr std::string_view kTopic = "arn:aws:sns:eu-west-1:123456789012:imgflow-notifications";

std::map<std::string, std::string> form(std::string_view body) {
  std::map<std::string, std::string> fields;
  std::size_t start = 0;
  while (start <= body.size()) {
    const std::size_t end = std::min(body.find('&', start), body.size());
    const std::string_view pair = body.substr(start, end - start);
    const std::size_t eq = pair.find('=');
    fields[*events::form_url_decode(pair.substr(0, eq))] =
        *events::form_url_decode(pair.substr(eq + 1));
    start = end + 1;
  }
  return fields;
}

std::string header(const http::Request& request, std::string_view name) {
  for (const auto& h : request.headers) {
    if (h.name == name) return h.value;
  }
  return "";
}

class SnsPublisherTest : public ::testing::Test {
 protected:
  SnsPublisher publisher(std::string endpoint = "") {
    auto p = SnsPublisher::create(std::string(kTopic), std::move(endpoint),
                                  {"AKIDEXAMPLE", "secret", "session-token"}, client_, clock_);
    EXPECT_TRUE(p) << p.error().to_string();
    return std::move(*p);
  }

  http::FakeHttpClient client_;
  core::ManualClock clock_{core::Clock::TimePoint(1'796'000'000s)};
};

TEST(SnsTopic, RegionComesFromTheArn) {
  EXPECT_EQ(*sns_topic_region(kTopic), "eu-west-1");
  EXPECT_EQ(*sns_topic_region("arn:aws-cn:sns:cn-north-1:123456789012:t"), "cn-north-1");
  for (std::string_view bad : {"", "imgflow-notifications", "arn:aws:sqs:eu-west-1:123456789012:q",
                               "arn:aws:sns::123456789012:t", "arn:aws:sns:eu-west-1:1234:t",
                               "arn:aws:sns:eu-west-1:123456789012:"}) {
    auto region = sns_topic_region(bad);
    ASSERT_FALSE(region) << bad;
    EXPECT_NE(region.error().message.find("is not an SNS topic ARN"), std::string::npos);
  }
}

TEST_F(SnsPublisherTest, PublishesTheBodyWithItsTypeSignedForSns) {
  client_.push(200,
               "<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult>"
               "</PublishResponse>");
  const function::Notification n{NotifyEvent::kProcessed, "abc",
                                 R"({"type":"processed","source":{"key":"a b+é.jpg"}})"};
  ASSERT_TRUE(publisher().publish(n));
  const auto sent = client_.requests();
  ASSERT_EQ(sent.size(), 1U);
  const http::Request& r = sent[0].request;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://sns.eu-west-1.amazonaws.com/");
  const auto fields = form(sent[0].body);
  EXPECT_EQ(fields.at("Action"), "Publish");
  EXPECT_EQ(fields.at("TopicArn"), kTopic);
  EXPECT_EQ(fields.at("Message"), n.body);
  EXPECT_EQ(fields.at("MessageAttributes.entry.1.Name"), "type");
  EXPECT_EQ(fields.at("MessageAttributes.entry.1.Value.DataType"), "String");
  EXPECT_EQ(fields.at("MessageAttributes.entry.1.Value.StringValue"), "processed");
  EXPECT_TRUE(header(r, "Authorization")
                  .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/eu-west-1/sns/"
                               "aws4_request"))
      << header(r, "Authorization");
  EXPECT_EQ(header(r, "X-Amz-Security-Token"), "session-token");
  EXPECT_EQ(header(r, "Host"), "sns.eu-west-1.amazonaws.com");
}

TEST_F(SnsPublisherTest, AnEndpointOverrideIsUsedAsGiven) {
  client_.push(200);
  ASSERT_TRUE(publisher("http://127.0.0.1:4566/").publish({NotifyEvent::kFailed, "x", "{}"}));
  EXPECT_EQ(client_.requests().at(0).request.url, "http://127.0.0.1:4566/");
  EXPECT_EQ(header(client_.requests().at(0).request, "Host"), "127.0.0.1:4566");
}

TEST_F(SnsPublisherTest, ErrorsSayWhetherARetryCanHelp) {
  const auto answer = [](std::string_view code) {
    return "<ErrorResponse><Error><Code>" + std::string(code) + "</Code><Message>" +
           std::string(code) + " happened</Message></Error></ErrorResponse>";
  };
  client_.push(403, answer("AuthorizationError"));
  client_.push(400, answer("InvalidParameter"));
  client_.push(400, answer("Throttling"));
  client_.push(500, answer("InternalError"));
  client_.push_error(core::Error{core::ErrorCode::kUnavailable, "connection refused"});
  client_.push(502, "<html><body>Bad Gateway</body></html>");  // a proxy's page, not SNS's XML
  const SnsPublisher p = publisher();
  const function::Notification n{NotifyEvent::kFailed, "x", "{}"};
  auto denied = p.publish(n);
  EXPECT_EQ(denied.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_NE(denied.error().message.find("403: AuthorizationError happened"), std::string::npos);
  EXPECT_EQ(p.publish(n).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(p.publish(n).error().code, core::ErrorCode::kUnavailable);  // throttled
  EXPECT_EQ(p.publish(n).error().code, core::ErrorCode::kUnavailable);
  EXPECT_EQ(p.publish(n).error().code, core::ErrorCode::kUnavailable);
  auto proxy = p.publish(n);
  EXPECT_EQ(proxy.error().code, core::ErrorCode::kUnavailable);
  EXPECT_NE(proxy.error().message.find("502: <html><body>Bad Gateway"), std::string::npos)
      << proxy.error().message;
}

constexpr std::string_view kEvent = R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
  "awsRegion":"eu-west-1","eventTime":"2026-12-07T06:00:00.000Z","eventName":"ObjectCreated:Put",
  "s3":{"bucket":{"name":"uploads"},"object":{"key":"bad.jpg","size":9,"eTag":"e9",
  "sequencer":"01"}}}]})";

TEST_F(SnsPublisherTest, PublishingWrapsTheFunction) {
  core::Logger log(stderr, core::LogLevel::kError);
  const SnsPublisher p = publisher();
  function::InvocationResult failed;
  function::RecordOutcome outcome;
  outcome.kind = function::OutcomeKind::kFailed;
  outcome.failure = function::Failure::kPermanent;
  outcome.bucket = "uploads";
  outcome.key = "bad.jpg";
  outcome.reason = "decode: not an image";
  failed.records.push_back(outcome);
  failed.failed_permanent = 1;
  const Function wrapped = publishing(
      [&](std::string_view, std::string_view) -> core::Result<function::InvocationResult> {
        return failed;
      },
      p, clock_, log);

  client_.push(200);
  auto result = wrapped(kEvent, "req");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->failed_permanent, 1);
  EXPECT_FALSE(result->should_retry());
  const auto message = nlohmann::json::parse(form(client_.requests().at(0).body).at("Message"));
  EXPECT_EQ(message["type"], "failed");
  EXPECT_EQ(message["source"]["etag"], "e9");
  EXPECT_EQ(message["source"]["size"], 9);
  EXPECT_EQ(message["error"], "bad.jpg: decode: not an image");

  client_.push(500);  // SNS down: the invocation fails as transient, so Lambda retries it
  result = wrapped(kEvent, "req");
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->should_retry());
  EXPECT_NE(result->records.back().reason.find("not published"), std::string::npos);
}

}  // namespace
}  // namespace imgflow::lambda
