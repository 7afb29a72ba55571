#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "recipe/recipe.h"
#include "scan/clamd_address.h"

namespace imgflow::lambda {

// What one deployment of the zip does (IMGFLOW_MODE).
enum class Mode {
  kEvents,   // unset or "events": S3 event notifications, processed by function::Handler
  kPresign,  // "presign": function-URL requests for upload URLs (lambda/presign.h)
};

// How `imgflow lambda` is configured: Lambda's own variables and imgflow's, read once at start.
struct LambdaConfig {
  Mode mode = Mode::kEvents;
  std::string runtime_api;         // AWS_LAMBDA_RUNTIME_API "host:port" (Lambda sets it)
  std::string region;              // AWS_REGION, else AWS_DEFAULT_REGION (Lambda sets it)
  std::string s3_endpoint;         // AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; "" = AWS S3
  std::string destination_bucket;  // IMGFLOW_DESTINATION_BUCKET: required for events
  std::string destination_prefix;  // IMGFLOW_DESTINATION_PREFIX: "" = the bucket's root
  // IMGFLOW_SOURCE_BUCKET: events for other buckets are ignored; "" = any bucket but the
  // destination (the bucket notification already chooses). Required for presign: the bucket
  // the upload URLs are for.
  std::string source_bucket;
  // IMGFLOW_SOURCE_PREFIX (presign): every key handed out starts with it. Empty or folders each
  // ending with '/', of the characters the stack allows (its PREFIX_PATTERN); "" = the root.
  std::string source_prefix;
  std::filesystem::path recipe;  // IMGFLOW_CONFIG; "" = the built-in recipe
  // IMGFLOW_CLAMD ("tcp://HOST:PORT", "unix:/path"): scan every source with this clamd, with the
  // recipe's scan: settings, or their defaults when the recipe has no scan: section.
  std::optional<scan::ClamdAddress> clamd;
  // IMGFLOW_QUARANTINE_BUCKET: where infected sources go, in place of the recipe's
  // scan.quarantine_bucket (whose default, "quarantine", is a global S3 name no stack owns).
  std::string quarantine_bucket;
  // IMGFLOW_NOTIFY_TOPIC_ARN: publish a notification per source to this SNS topic (processed,
  // failed, quarantined; lambda/sns_publisher.h); "" = none. Checked to be a topic ARN.
  std::string notify_topic_arn;
  std::string sns_endpoint;   // AWS_ENDPOINT_URL_SNS; "" = the topic's regional SNS endpoint
  std::string function_name;  // AWS_LAMBDA_FUNCTION_NAME: the metrics' dimension
  // IMGFLOW_DEADLINE_MARGIN_MS: an invocation still running this long before Lambda's deadline
  // is stopped and reported as an error, rather than cut off without a word.
  std::chrono::milliseconds deadline_margin{1000};
};

// Looks a variable up; nullopt when unset. Tests pass a map's.
using Environment = std::function<std::optional<std::string>(std::string_view)>;

// The process environment.
Environment process_environment();

// Reads the configuration. kInvalidArgument names the variable that is missing or wrong: an
// IMGFLOW_MODE other than events or presign, or what the mode needs.
core::Result<LambdaConfig> read_config(const Environment& env);

// Applies IMGFLOW_CLAMD and IMGFLOW_QUARANTINE_BUCKET to the recipe the event function runs: the
// stack knows clamd's address and its quarantine bucket's name, the bundled recipe cannot.
// The quarantine bucket is unused when the recipe deletes infected uploads. kInvalidArgument
// for a quarantine bucket named without scanning, or that is the source or destination bucket.
core::Result<void> apply_scan_settings(const LambdaConfig& config, recipe::Recipe& recipe);

// The CA certificates to verify AWS with: SSL_CERT_FILE when set, else the first that exists of
// Debian's /etc/ssl/certs/ca-certificates.crt, Amazon Linux's /etc/pki/tls/certs/ca-bundle.crt
// and the bundle packaged beside the program (`bundled`). "" when there is none.
std::string find_ca_file(const Environment& env, const std::filesystem::path& bundled);

}  // namespace imgflow::lambda
