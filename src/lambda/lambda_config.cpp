#include "lambda/lambda_config.h"

#include <charconv>
#include <cstdlib>

#include "lambda/sns_publisher.h"

namespace imgflow::lambda {
namespace {

std::string value_or_empty(const Environment& env, std::string_view name) {
  return env(name).value_or("");
}

core::Error missing(std::string_view name, std::string_view why) {
  return {core::ErrorCode::kInvalidArgument,
          std::string(name) + " is not set; " + std::string(why)};
}

// Empty, or folders each ending with '/' of the characters IAM resources and S3 keys take without
// escaping: deploy/aws's PREFIX_PATTERN, ^([0-9A-Za-z!_.'()-]+/)*$.
bool is_key_prefix(std::string_view prefix) {
  if (prefix.empty()) return true;
  if (prefix.size() > 512 || prefix.back() != '/' || prefix.front() == '/') return false;
  char previous = '/';
  for (const char c : prefix) {
    const bool plain = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                       std::string_view("!_.'()-").find(c) != std::string_view::npos;
    if (!plain && c != '/') return false;
    if (c == '/' && previous == '/') return false;  // an empty folder
    previous = c;
  }
  return true;
}

}  // namespace

Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

core::Result<LambdaConfig> read_config(const Environment& env) {
  LambdaConfig c;
  const std::string mode = env("IMGFLOW_MODE").value_or("events");
  if (mode == "presign") {
    c.mode = Mode::kPresign;
  } else if (mode != "events") {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "IMGFLOW_MODE must be unset, 'events' (handle S3 event notifications) or "
                      "'presign' (answer function-URL requests for upload URLs), not '" +
                          mode.substr(0, 64) + "'");
  }
  c.runtime_api = value_or_empty(env, "AWS_LAMBDA_RUNTIME_API");
  if (c.runtime_api.empty()) {
    return core::fail(missing("AWS_LAMBDA_RUNTIME_API",
                              "imgflow lambda runs inside AWS Lambda (or its emulator), which "
                              "sets it to the Runtime API's host:port"));
  }
  c.region = env("AWS_REGION").value_or(value_or_empty(env, "AWS_DEFAULT_REGION"));
  if (c.region.empty()) {
    return core::fail(missing("AWS_REGION", "Lambda sets it; set it to the buckets' region"));
  }
  c.s3_endpoint = env("AWS_ENDPOINT_URL_S3").value_or(value_or_empty(env, "AWS_ENDPOINT_URL"));
  if (!c.s3_endpoint.empty() && !c.s3_endpoint.starts_with("http://") &&
      !c.s3_endpoint.starts_with("https://")) {
    return core::fail(
        core::ErrorCode::kInvalidArgument,
        "AWS_ENDPOINT_URL_S3 must be an http:// or https:// URL, not '" + c.s3_endpoint + "'");
  }
  c.destination_bucket = value_or_empty(env, "IMGFLOW_DESTINATION_BUCKET");
  if (c.destination_bucket.empty() && c.mode == Mode::kEvents) {
    return core::fail(missing("IMGFLOW_DESTINATION_BUCKET",
                              "name the private bucket the variants and manifests go to"));
  }
  c.destination_prefix = value_or_empty(env, "IMGFLOW_DESTINATION_PREFIX");
  c.source_bucket = value_or_empty(env, "IMGFLOW_SOURCE_BUCKET");
  if (c.source_bucket.empty() && c.mode == Mode::kPresign) {
    return core::fail(
        missing("IMGFLOW_SOURCE_BUCKET",
                "with IMGFLOW_MODE=presign, name the bucket the upload URLs are for"));
  }
  c.source_prefix = value_or_empty(env, "IMGFLOW_SOURCE_PREFIX");
  if (!is_key_prefix(c.source_prefix)) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "IMGFLOW_SOURCE_PREFIX must be empty or folders each ending with '/' "
                      "(letters, digits and !_.'()-), not '" +
                          c.source_prefix.substr(0, 64) + "'");
  }
  c.recipe = value_or_empty(env, "IMGFLOW_CONFIG");
  if (auto clamd = env("IMGFLOW_CLAMD")) {
    auto address = scan::parse_clamd_address(*clamd);
    if (!address) {
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "IMGFLOW_CLAMD: " + address.error().message);
    }
    c.clamd = std::move(*address);
  }
  c.quarantine_bucket = value_or_empty(env, "IMGFLOW_QUARANTINE_BUCKET");
  c.notify_topic_arn = value_or_empty(env, "IMGFLOW_NOTIFY_TOPIC_ARN");
  if (!c.notify_topic_arn.empty()) {
    if (auto topic = sns_topic_region(c.notify_topic_arn); !topic) {
      return core::fail(core::ErrorCode::kInvalidArgument,
                        "IMGFLOW_NOTIFY_TOPIC_ARN: " + topic.error().message);
    }
  }
  c.sns_endpoint = value_or_empty(env, "AWS_ENDPOINT_URL_SNS");
  if (!c.sns_endpoint.empty() && !c.sns_endpoint.starts_with("http://") &&
      !c.sns_endpoint.starts_with("https://")) {
    return core::fail(
        core::ErrorCode::kInvalidArgument,
        "AWS_ENDPOINT_URL_SNS must be an http:// or https:// URL, not '" + c.sns_endpoint + "'");
  }
  c.function_name = env("AWS_LAMBDA_FUNCTION_NAME").value_or("imgflow");
  if (auto margin = env("IMGFLOW_DEADLINE_MARGIN_MS")) {
    int ms = 0;
    const auto [end, ec] = std::from_chars(margin->data(), margin->data() + margin->size(), ms);
    if (ec != std::errc() || end != margin->data() + margin->size() || ms < 0 || ms > 60'000) {
      return core::fail(
          core::ErrorCode::kInvalidArgument,
          "IMGFLOW_DEADLINE_MARGIN_MS must be 0..60000 milliseconds, not '" + *margin + "'");
    }
    c.deadline_margin = std::chrono::milliseconds(ms);
  }
  return c;
}

core::Result<void> apply_scan_settings(const LambdaConfig& config, recipe::Recipe& recipe) {
  recipe::Scan& scan = recipe.scan;
  if (config.clamd) {
    if (!scan.enabled) scan.max_bytes = recipe.limits.max_input_bytes;  // as a scan: section's
    scan.enabled = true;
    scan.clamd = *config.clamd;
  }
  if (config.quarantine_bucket.empty()) return {};
  if (!scan.enabled) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "IMGFLOW_QUARANTINE_BUCKET is set but nothing is scanned: set IMGFLOW_CLAMD "
                      "or give the recipe a scan: section");
  }
  // The stack always names its quarantine bucket; a recipe that deletes infected uploads has
  // no use for it.
  if (scan.on_infected != recipe::OnInfected::kQuarantine) return {};
  if (config.quarantine_bucket == config.source_bucket ||
      config.quarantine_bucket == config.destination_bucket) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "IMGFLOW_QUARANTINE_BUCKET must not be the source or destination bucket (" +
                          config.quarantine_bucket + ")");
  }
  scan.quarantine_bucket = config.quarantine_bucket;
  return {};
}

std::string find_ca_file(const Environment& env, const std::filesystem::path& bundled) {
  if (auto set = env("SSL_CERT_FILE")) return *set;
  std::error_code ec;
  for (const std::filesystem::path& candidate :
       {std::filesystem::path("/etc/ssl/certs/ca-certificates.crt"),
        std::filesystem::path("/etc/pki/tls/certs/ca-bundle.crt"), bundled}) {
    if (!candidate.empty() && std::filesystem::is_regular_file(candidate, ec)) {
      return candidate.string();
    }
  }
  return "";
}

}  // namespace imgflow::lambda
