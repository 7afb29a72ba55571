#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "function/notification.h"
#include "http/http_client.h"
#include "lambda/host.h"
#include "sigv4/signer.h"

// Notifications on AWS: the event function publishes the same JSON the embedded webhooks get
// (function/notification.h) to an SNS topic (IMGFLOW_NOTIFY_TOPIC_ARN), with a message
// attribute `type` (processed, failed, quarantined) that subscriptions can filter on.
namespace imgflow::lambda {

// The region of an SNS topic ARN ("arn:aws:sns:eu-west-1:123456789012:name", any partition).
// kInvalidArgument saying what is wrong otherwise.
core::Result<std::string> sns_topic_region(std::string_view topic_arn);

class SnsPublisher {
 public:
  // `endpoint` "" = https://sns.<the topic's region>.amazonaws.com. `client` and `clock` must
  // outlive the publisher. kInvalidArgument for a bad topic ARN.
  static core::Result<SnsPublisher> create(std::string topic_arn, std::string endpoint,
                                           sigv4::Credentials credentials, http::HttpClient& client,
                                           const core::Clock& clock);

  // SNS Publish (Query API, SigV4 service "sns") of one notification: Message = its body,
  // message attribute type = its type. kUnavailable when SNS did not take it (a transport error,
  // throttling, a 5xx; worth retrying), kPermissionDenied for a 403 (the role lacks
  // sns:Publish), kInvalidArgument for another 4xx; each with SNS's message.
  core::Status publish(const function::Notification& notification) const;

 private:
  SnsPublisher(std::string topic_arn, std::string region, std::string endpoint,
               sigv4::Credentials credentials, http::HttpClient& client, const core::Clock& clock);

  std::string topic_arn_;
  std::string region_;
  std::string endpoint_;  // scheme://host[:port], no path
  sigv4::Credentials credentials_;
  http::HttpClient* client_;
  const core::Clock* clock_;
};

// The event function with notifications: publishes each record's notification (processed,
// also when already done; quarantined) and a "failed" one for each permanent failure. A publish
// that fails makes the invocation fail as transient, so Lambda retries it; the retry finds the
// work done and publishes again (same id: subscribers de-duplicate on it). Lambda retries a
// permanent failure too, so "failed" may be published up to three times, with one id.
Function publishing(Function function, const SnsPublisher& publisher, const core::Clock& clock,
                    core::Logger& log);

}  // namespace imgflow::lambda
