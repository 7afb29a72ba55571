#include "presign_command.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "admin_access.h"
#include "core/clock.h"
#include "core/text.h"
#include "http/request_head.h"
#include "sigv4/post_policy.h"
#include "sigv4/signer.h"
#include "storage/s3/s3_address.h"

namespace imgflow::cli {
namespace {

using nlohmann::ordered_json;
using std::chrono::seconds;

constexpr seconds kMaxExpiry{7 * 24 * 3600};  // SigV4's limit for a presigned URL

int usage_error(const std::string& message) {
  std::fprintf(stderr, "imgflow presign: %s\n", message.c_str());
  return 2;
}

// "s3://BUCKET/KEY" → bucket and key, both non-empty. The key is taken as written (as awscli
// does): spaces and non-ASCII characters are the key's own.
struct ObjectName {
  std::string bucket;
  std::string key;
};
core::Result<ObjectName> parse_target(std::string_view target) {
  constexpr std::string_view kScheme = "s3://";
  const std::size_t slash = target.find('/', kScheme.size());
  if (!target.starts_with(kScheme) || slash == std::string_view::npos || slash == kScheme.size() ||
      slash + 1 == target.size()) {
    return core::fail(
        core::ErrorCode::kInvalidArgument,
        "name the object as s3://BUCKET/KEY, not '" + core::escape_for_terminal(target) + "'");
  }
  return ObjectName{std::string(target.substr(kScheme.size(), slash - kScheme.size())),
                    std::string(target.substr(slash + 1))};
}

// "90", "30s", "15m", "2h", "7d" → seconds, 1 s .. 7 days.
core::Result<seconds> parse_expiry(std::string_view text) {
  std::int64_t count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "m") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86400;
  if (ec != std::errc() || scale == 0 || count <= 0 || count > kMaxExpiry.count() / scale) {
    return core::fail(
        core::ErrorCode::kInvalidArgument,
        "--expires takes 1s to 7d (e.g. 90, 30s, 15m, 2h, 7d), not '" + std::string(text) + "'");
  }
  return seconds(count * scale);
}

int print_url(const PresignOptions& options, const ObjectName& object, const S3Access& d,
              seconds expires) {
  const storage::s3::S3Target target =
      storage::s3::s3_target(d.endpoint, d.path_style, object.bucket, object.key);
  http::RequestHead request;
  request.method = options.method == "get" ? "GET" : "PUT";
  request.path = target.path;
  request.headers = {{"host", target.host}};
  if (options.method == "put" && !options.content_type.empty()) {
    request.headers.push_back({"content-type", options.content_type});
  }
  sigv4::SigningParams params;
  params.credentials = d.credentials;
  params.region = d.region;
  params.time = core::SystemClock::instance().now();
  if (auto signed_ok = sigv4::presign(request, params, expires); !signed_ok) {
    return usage_error(signed_ok.error().message);
  }
  const std::string url = storage::s3::s3_url(d.endpoint, target, request.query);
  if (!options.json) {
    std::printf("%s\n", url.c_str());
    if (options.method == "put" && !options.content_type.empty()) {
      std::fprintf(stderr, "imgflow presign: send the header Content-Type: %s (it is signed)\n",
                   core::escape_for_terminal(options.content_type).c_str());
    }
    return 0;
  }
  ordered_json headers = ordered_json::object();
  if (options.method == "put" && !options.content_type.empty()) {
    headers["content-type"] = options.content_type;
  }
  const ordered_json body{{"method", request.method},
                          {"url", url},
                          {"headers", std::move(headers)},
                          {"expires_in", expires.count()}};
  std::printf("%s\n", body.dump(2).c_str());
  return 0;
}

int print_form(const PresignOptions& options, const ObjectName& object, const S3Access& d,
               seconds expires) {
  sigv4::SigningParams params;
  params.credentials = d.credentials;
  params.region = d.region;
  params.time = core::SystemClock::instance().now();
  sigv4::PostPolicySpec spec;
  spec.bucket = object.bucket;
  spec.fields = {{"key", object.key}};
  if (!options.content_type.empty()) spec.fields.push_back({"Content-Type", options.content_type});
  if (options.max_size > 0) {
    spec.min_length = 1;
    spec.max_length = options.max_size;
  }
  spec.expiration = std::chrono::floor<seconds>(params.time) + expires;
  auto fields = sigv4::sign_post_policy(spec, params);
  if (!fields) return usage_error(fields.error().message);
  ordered_json form = ordered_json::object();
  for (const sigv4::FormField& field : *fields) form[field.name] = field.value;
  const storage::s3::S3Target bucket =
      storage::s3::s3_target(d.endpoint, d.path_style, object.bucket, "");
  const ordered_json body{{"method", "POST"},
                          {"url", storage::s3::s3_url(d.endpoint, bucket, "")},
                          {"fields", std::move(form)},
                          {"expires_in", expires.count()}};
  std::printf("%s\n", body.dump(2).c_str());
  return 0;
}

}  // namespace

int run_presign(const PresignOptions& options) {
  auto object = parse_target(options.target);
  if (!object) return usage_error(object.error().message);
  auto expires = parse_expiry(options.expires);
  if (!expires) return usage_error(expires.error().message);
  if (options.method == "get" && !options.content_type.empty()) {
    return usage_error("--content-type is for put and post");
  }
  if (options.method != "post" && options.max_size > 0) {
    return usage_error("--max-size is for post (a presigned PUT cannot bind a size)");
  }
  auto destination = s3_access(options.endpoint, options.region, options.data_dir);
  if (!destination) return usage_error(destination.error().message);
  return options.method == "post" ? print_form(options, *object, *destination, *expires)
                                  : print_url(options, *object, *destination, *expires);
}

}  // namespace imgflow::cli
