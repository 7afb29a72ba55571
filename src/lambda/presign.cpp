#include "lambda/presign.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/codec.h"
#include "core/digest.h"
#include "core/image_types.h"
#include "http/request_head.h"
#include "sigv4/amz_date.h"
#include "storage/s3/s3_address.h"

namespace imgflow::lambda {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::size_t kMaxFilename = 1024;  // S3's own key limit: no real file name is longer
constexpr std::string_view kExample = R"({"content_type": "image/jpeg", "size": 2481532})";

tl::unexpected<RequestError> refuse(int status, std::string message) {
  return tl::unexpected(RequestError{status, std::move(message)});
}

// At most 64 bytes of client text, for messages.
std::string shown(std::string_view text) {
  return std::string(text.substr(0, 64)) + (text.size() > 64 ? "..." : "");
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The JSON type of a value, for messages.
std::string kind_of(const json& value) {
  if (value.is_number_float()) return "a fraction";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "an array";
  return "an object";
}

tl::expected<std::string, RequestError> parse_content_type(const json& value) {
  if (!value.is_string()) {
    return refuse(400,
                  "content_type must be a string such as \"image/jpeg\", not " + kind_of(value));
  }
  const auto& text = value.get_ref<const std::string&>();
  const std::string type = lower(text);
  const std::optional<core::ImageMediaType> image =
      type.starts_with("image/") ? core::find_image_media_type(std::string_view(type).substr(6))
                                 : std::nullopt;
  if (!image) {
    return refuse(400, "content_type '" + shown(text) +
                           "' is not an image type imgflow processes: image/jpeg, image/png, "
                           "image/webp, image/gif, image/tiff, image/heic, image/heif or "
                           "image/avif (without parameters)");
  }
  return type;
}

tl::expected<std::uint64_t, RequestError> parse_size(const json& value, std::uint64_t max_bytes) {
  if (value.is_number_integer() && !value.is_number_unsigned()) {
    return refuse(400, "size must be at least 1 byte, not " + value.dump());
  }
  if (!value.is_number_unsigned()) {
    return refuse(400, "size must be a whole number of bytes, not " + kind_of(value));
  }
  const auto size = value.get<std::uint64_t>();
  if (size == 0) return refuse(400, "size must be at least 1 byte, not 0");
  if (size > max_bytes) {
    return refuse(413, "size " + std::to_string(size) + " bytes is over the limit of " +
                           std::to_string(max_bytes) + " bytes (the recipe's max_input_bytes)");
  }
  return size;
}

// The filename's extension when it is one of `type_extension`'s spellings ("JPEG" for jpg);
// nothing when it has none or an unknown one; a 400 when it is another image type's.
tl::expected<std::optional<std::string>, RequestError> extension_from(
    const json& value, std::string_view type_extension, std::string_view content_type) {
  if (!value.is_string()) {
    return refuse(400, "filename must be a string, not " + kind_of(value));
  }
  const auto& name = value.get_ref<const std::string&>();
  if (name.size() > kMaxFilename) {
    return refuse(400, "filename must be at most " + std::to_string(kMaxFilename) + " bytes");
  }
  const std::size_t dot = name.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string_view extension = std::string_view(name).substr(dot + 1);
  const std::optional<std::string_view> canonical = core::canonical_image_extension(extension);
  if (!canonical) return std::nullopt;
  if (*canonical != type_extension) {
    return refuse(400, "filename '" + shown(name) +
                           "' names another image type than content_type '" +
                           std::string(content_type) + "'");
  }
  return lower(extension);
}

}  // namespace

core::Result<UrlRequest> parse_url_event(std::string_view event_json) {
  const json event = json::parse(event_json, nullptr, /*allow_exceptions=*/false);
  const auto not_url = [] {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "IMGFLOW_MODE=presign answers Lambda function URL requests (payload "
                      "format 2.0); this event is not one");
  };
  if (!event.is_object() || event.value("version", json()) != "2.0") return not_url();
  const json* method = nullptr;
  if (auto context = event.find("requestContext"); context != event.end() && context->is_object()) {
    if (auto http = context->find("http"); http != context->end() && http->is_object()) {
      if (auto m = http->find("method"); m != http->end() && m->is_string()) method = &*m;
    }
  }
  if (method == nullptr) return not_url();
  UrlRequest out;
  out.method = method->get<std::string>();
  auto body = event.find("body");
  if (body == event.end() || !body->is_string()) return out;
  const auto& text = body->get_ref<const std::string&>();
  const auto flag = event.find("isBase64Encoded");
  const bool base64 = flag != event.end() && flag->is_boolean() && flag->get<bool>();
  if (!base64) {
    out.body = text;
  } else if (auto decoded = core::base64_decode(text)) {
    out.body = std::move(*decoded);
  }
  return out;
}

std::string to_json(const UrlResponse& response) {
  ordered_json headers{{"content-type", "application/json"}, {"cache-control", "no-store"}};
  for (const auto& [name, value] : response.headers) headers[name] = value;
  return ordered_json{
      {"statusCode", response.status}, {"headers", std::move(headers)}, {"body", response.body}}
      .dump();
}

UrlResponse to_response(const RequestError& error) {
  UrlResponse response{error.status, ordered_json{{"error", error.message}}.dump(), {}};
  if (error.status == 405) response.headers.emplace_back("allow", "POST");
  return response;
}

tl::expected<UploadRequest, RequestError> parse_upload_request(const UrlRequest& request,
                                                               std::uint64_t max_bytes) {
  if (request.method != "POST") {
    return refuse(405, "method " + shown(request.method) +
                           " is not allowed: POST a JSON body such as " + std::string(kExample));
  }
  if (request.body.size() > kMaxRequestBody) {
    return refuse(413, "the body is " + std::to_string(request.body.size()) +
                           " bytes; a request is at most " + std::to_string(kMaxRequestBody));
  }
  const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) {
    return refuse(400, std::string(request.body.empty() ? "the body is empty"
                                                        : "the body is not a JSON object") +
                           "; send one such as " + std::string(kExample));
  }
  for (const auto& [name, value] : body.items()) {
    if (name != "content_type" && name != "size" && name != "filename") {
      return refuse(400, "unknown field '" + shown(name) +
                             "'; a request has content_type, size and optionally filename");
    }
  }
  for (const char* required : {"content_type", "size"}) {
    if (!body.contains(required)) {
      return refuse(
          400, std::string(required) + " is missing; send a body such as " + std::string(kExample));
    }
  }
  UploadRequest out;
  auto type = parse_content_type(body["content_type"]);
  if (!type) return tl::unexpected(type.error());
  out.content_type = std::move(*type);
  auto size = parse_size(body["size"], max_bytes);
  if (!size) return tl::unexpected(size.error());
  out.size = *size;
  out.extension = std::string(
      core::find_image_media_type(std::string_view(out.content_type).substr(6))->extension);
  if (auto filename = body.find("filename"); filename != body.end()) {
    auto extension = extension_from(*filename, out.extension, out.content_type);
    if (!extension) return tl::unexpected(extension.error());
    if (*extension) out.extension = std::move(**extension);
  }
  return out;
}

core::Result<UploadGrant> grant_upload(const UploadRequest& request, std::string key,
                                       const PresignOptions& options,
                                       const sigv4::Credentials& credentials,
                                       sigv4::TimePoint now) {
  // AWS: virtual-hosted; a custom endpoint (MinIO, the gateway, tests): path-style under it.
  auto endpoint = storage::s3::parse_s3_endpoint(options.endpoint, options.region);
  if (!endpoint) return core::fail(endpoint.error());
  const bool path_style = !options.endpoint.empty();
  const storage::s3::S3Target object =
      storage::s3::s3_target(*endpoint, path_style, options.bucket, key);
  const storage::s3::S3Target bucket =
      storage::s3::s3_target(*endpoint, path_style, options.bucket, "");

  sigv4::SigningParams params;
  params.credentials = credentials;
  params.region = options.region;
  params.service = "s3";
  params.time = now;

  http::RequestHead put;
  put.method = "PUT";
  put.path = object.path;
  put.headers = {{"host", object.host}, {"content-type", request.content_type}};
  if (auto signed_put = sigv4::presign(put, params, options.expires); !signed_put) {
    return core::fail(signed_put.error());
  }

  sigv4::PostPolicySpec spec;
  spec.bucket = options.bucket;
  spec.fields = {{"key", key}, {"Content-Type", request.content_type}};
  spec.min_length = 1;
  spec.max_length = request.size;
  spec.expiration = std::chrono::floor<std::chrono::seconds>(now) + options.expires;
  auto fields = sigv4::sign_post_policy(spec, params);
  if (!fields) return core::fail(fields.error());

  UploadGrant grant;
  grant.key = std::move(key);
  grant.content_type = request.content_type;
  grant.size = request.size;
  grant.expires_in = options.expires;
  grant.put_url = storage::s3::s3_url(*endpoint, object, put.query);
  grant.post_url = storage::s3::s3_url(*endpoint, bucket, "");
  grant.post_fields = std::move(*fields);
  return grant;
}

UrlResponse to_response(const UploadGrant& grant, std::string_view bucket) {
  ordered_json fields = ordered_json::object();
  for (const sigv4::FormField& field : grant.post_fields) fields[field.name] = field.value;
  const ordered_json body{
      {"key", grant.key},
      {"bucket", bucket},
      {"expires_in", grant.expires_in.count()},
      {"max_size", grant.size},
      {"method", "PUT"},
      {"url", grant.put_url},
      {"headers", {{"content-type", grant.content_type}}},
      {"post", {{"url", grant.post_url}, {"fields", std::move(fields)}}},
  };
  return UrlResponse{200, body.dump(), {}};
}

Presigner::Presigner(PresignOptions options, sigv4::Credentials credentials, core::Logger& log,
                     const core::Clock& clock, NewId new_id)
    : options_(std::move(options)),
      credentials_(std::move(credentials)),
      log_(log),
      clock_(clock),
      new_id_(std::move(new_id)) {
  if (!new_id_) new_id_ = [] { return core::random_hex(16); };
}

core::Result<std::string> Presigner::handle(std::string_view event_json,
                                            std::string_view request_id) const {
  auto event = parse_url_event(event_json);
  if (!event) {
    log_.warn("upload url", {{"request_id", request_id},
                             {"outcome", "not a function URL request"},
                             {"reason", event.error().message}});
    return core::fail(event.error());
  }
  auto request = parse_upload_request(*event, options_.max_bytes);
  if (!request) {
    log_.info("upload url", {{"request_id", request_id},
                             {"outcome", "refused"},
                             {"status", request.error().status},
                             {"reason", request.error().message}});
    return to_json(to_response(request.error()));
  }
  auto id = new_id_();
  if (!id) return core::fail(id.error());
  auto grant = grant_upload(*request, options_.prefix + *id + "." + request->extension, options_,
                            credentials_, clock_.now());
  if (!grant) {
    return core::fail(core::ErrorCode::kInternal,
                      "cannot sign an upload URL: " + grant.error().message);
  }
  log_.info("upload url", {{"request_id", request_id},
                           {"outcome", "granted"},
                           {"status", 200},
                           {"key", grant->key},
                           {"content_type", grant->content_type},
                           {"size", grant->size}});
  return to_json(to_response(*grant, options_.bucket));
}

}  // namespace imgflow::lambda
