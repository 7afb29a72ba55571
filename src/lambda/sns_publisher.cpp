#include "lambda/sns_publisher.h"

#include <utility>

#include "core/codec.h"
#include "core/digest.h"
#include "core/xml.h"
#include "events/event_parser.h"

namespace imgflow::lambda {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// application/x-www-form-urlencoded as the Query API reads it: RFC 3986 unreserved kept.
std::string form_field(std::string_view name, std::string_view value) {
  return core::uri_encode(name, false) + "=" + core::uri_encode(value, false);
}

// What SNS said in an error answer: <ErrorResponse><Error><Code> and <Message>; for a body that
// is not SNS's XML (a proxy's page), no code and the body's start.
struct SnsError {
  std::string code;
  std::string message;
};
SnsError error_of(std::string_view body) {
  if (auto root = core::parse_xml(body); root) {
    if (const core::XmlElement* error = root->child("Error")) {
      return {error->child_text("Code"), error->child_text("Message")};
    }
  }
  return {"", std::string(body.substr(0, 200))};
}

}  // namespace

core::Result<std::string> sns_topic_region(std::string_view topic_arn) {
  const auto parts = split(topic_arn, ':');
  if (parts.size() != 6 || parts[0] != "arn" || parts[1].empty() || parts[2] != "sns" ||
      parts[3].empty() || parts[4].size() != 12 || parts[5].empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "'" + std::string(topic_arn.substr(0, 100)) +
                          "' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)");
  }
  return std::string(parts[3]);
}

core::Result<SnsPublisher> SnsPublisher::create(std::string topic_arn, std::string endpoint,
                                                sigv4::Credentials credentials,
                                                http::HttpClient& client,
                                                const core::Clock& clock) {
  auto region = sns_topic_region(topic_arn);
  if (!region) return core::fail(region.error());
  if (endpoint.empty()) endpoint = "https://sns." + *region + ".amazonaws.com";
  while (endpoint.ends_with('/')) endpoint.pop_back();
  return SnsPublisher(std::move(topic_arn), std::move(*region), std::move(endpoint),
                      std::move(credentials), client, clock);
}

SnsPublisher::SnsPublisher(std::string topic_arn, std::string region, std::string endpoint,
                           sigv4::Credentials credentials, http::HttpClient& client,
                           const core::Clock& clock)
    : topic_arn_(std::move(topic_arn)),
      region_(std::move(region)),
      endpoint_(std::move(endpoint)),
      credentials_(std::move(credentials)),
      client_(&client),
      clock_(&clock) {}

core::Status SnsPublisher::publish(const function::Notification& notification) const {
  const std::string body =
      form_field("Action", "Publish") + "&" + form_field("Version", "2010-03-31") + "&" +
      form_field("TopicArn", topic_arn_) + "&" + form_field("Message", notification.body) + "&" +
      form_field("MessageAttributes.entry.1.Name", "type") + "&" +
      form_field("MessageAttributes.entry.1.Value.DataType", "String") + "&" +
      form_field("MessageAttributes.entry.1.Value.StringValue",
                 recipe::to_string(notification.type));
  const std::size_t scheme_end = endpoint_.find("://") + 3;
  http::RequestHead head{"POST",
                         "/",
                         "",
                         {{"Host", endpoint_.substr(scheme_end)},
                          {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}};
  sigv4::SigningParams params;
  params.credentials = credentials_;
  params.region = region_;
  params.service = "sns";
  params.time = clock_->now();
  params.payload_hash = core::to_hex(core::sha256(body));
  params.normalize_path = true;
  params.add_content_sha256_header = false;
  if (auto signed_ok = sigv4::sign_request(head, params); !signed_ok) {
    return core::fail(signed_ok.error());
  }

  http::Request request;
  request.method = "POST";
  request.url = endpoint_ + "/";
  request.headers = std::move(head.headers);
  request.body_length = body.size();
  request.connect_timeout = std::chrono::seconds(5);
  request.timeout = std::chrono::seconds(20);
  http::StringBodySource source(body);
  std::string answer;
  http::StringBodySink sink(answer);
  auto response = client_->send(request, &source, &sink);
  if (!response) {
    return core::fail(core::ErrorCode::kUnavailable, "SNS Publish: " + response.error().message);
  }
  if (response->status == 200) return {};
  const SnsError error = error_of(answer);
  const std::string why =
      "SNS Publish answered " + std::to_string(response->status) + ": " + error.message;
  if (response->status == 403) return core::fail(core::ErrorCode::kPermissionDenied, why);
  if (response->status >= 400 && response->status < 500 && response->status != 429 &&
      !error.code.starts_with("Throttl")) {
    return core::fail(core::ErrorCode::kInvalidArgument, why);
  }
  return core::fail(core::ErrorCode::kUnavailable, why);
}

namespace {

// The failed notifications for the records that failed for good (their ETag and size from the
// event).
std::vector<function::Notification> failures(std::string_view event_json,
                                             const function::InvocationResult& result,
                                             const core::Clock& clock) {
  std::vector<function::Notification> out;
  if (result.failed_permanent == 0) return out;
  auto records = events::parse_event(event_json);
  for (std::size_t i = 0; i < result.records.size(); ++i) {
    const function::RecordOutcome& r = result.records[i];
    if (r.failure != function::Failure::kPermanent) continue;
    function::SourceRef source{r.bucket, r.key, "", 0};
    if (records && i < records->size()) {
      source.etag = (*records)[i].etag;
      source.size = (*records)[i].size;
    }
    out.push_back(function::failed_notification(source, "permanent", r.key + ": " + r.reason, 1,
                                                clock.now()));
  }
  return out;
}

}  // namespace

Function publishing(Function function, const SnsPublisher& publisher, const core::Clock& clock,
                    core::Logger& log) {
  return [function = std::move(function), &publisher, &clock, &log](
             std::string_view event_json,
             std::string_view request_id) -> core::Result<function::InvocationResult> {
    auto result = function(event_json, request_id);
    if (!result) return result;
    std::vector<function::Notification> notices = failures(event_json, *result, clock);
    for (const function::RecordOutcome& r : result->records) {
      if (r.notification) notices.push_back(*r.notification);
    }
    for (const function::Notification& notice : notices) {
      if (auto published = publisher.publish(notice); !published) {
        log.error("notification not published", {{"request_id", request_id},
                                                 {"type", recipe::to_string(notice.type)},
                                                 {"id", notice.id},
                                                 {"error", published.error().message}});
        // Retried as a whole by Lambda: what succeeded is a no-op the second time.
        function::RecordOutcome unsent;
        unsent.kind = function::OutcomeKind::kFailed;
        unsent.failure = function::Failure::kTransient;
        unsent.reason =
            "notification " + notice.id + " not published: " + published.error().message;
        result->records.push_back(std::move(unsent));
        ++result->failed_transient;
        return result;
      }
      log.info("notification published", {{"request_id", request_id},
                                          {"type", recipe::to_string(notice.type)},
                                          {"id", notice.id}});
    }
    return result;
  };
}

}  // namespace imgflow::lambda
