#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "sigv4/post_policy.h"
#include "sigv4/signer.h"

// The upload-URL endpoint (IMGFLOW_MODE=presign): a Lambda function URL that answers
//   POST {"content_type": "image/jpeg", "size": 2481532[, "filename": "IMG_0001.JPG"]}
// with a key of the server's choosing under the source prefix, a presigned PUT URL for it and a
// signed POST form for it. The PUT URL signs the Content-Type (S3 refuses another) but not the
// length, so it takes any size; the POST form's policy binds the key, the Content-Type and the
// size (content-length-range 1..size), so S3 refuses a larger file.
namespace imgflow::lambda {

inline constexpr std::size_t kMaxRequestBody = 4096;  // the request is a few dozen bytes of JSON

// The parts of a function-URL event (payload format 2.0) the endpoint reads.
struct UrlRequest {
  std::string method;  // requestContext.http.method, upper case as Lambda sends it
  std::string body;    // base64-decoded when the event says isBase64Encoded
};

// Reads a function-URL event. kInvalidArgument when `event_json` is not one (version "2.0" with
// requestContext.http.method): the function was invoked some other way, which is not a client's
// HTTP mistake. A body that is not valid base64 is kept empty with `method` (refused as 400).
core::Result<UrlRequest> parse_url_event(std::string_view event_json);

// An HTTP answer, as a function URL takes it from the function.
struct UrlResponse {
  int status = 200;
  std::string body;                                          // JSON
  std::vector<std::pair<std::string, std::string>> headers;  // besides content-type
};

// {"statusCode": 200, "headers": {"content-type": "application/json", ...}, "body": "..."}.
std::string to_json(const UrlResponse& response);

// A client's mistake: answered with `status` (400, 405 or 413) and {"error": message}.
struct RequestError {
  int status = 400;
  std::string message;
};
UrlResponse to_response(const RequestError& error);

// What a client asked for, checked.
struct UploadRequest {
  std::string content_type;  // "image/<subtype>" of core::image_media_types(), lower case
  std::uint64_t size = 0;    // 1..max_bytes
  std::string extension;     // the key's: the filename's when it names this type, else the type's
};

// Checks a request: POST only (405), a body of at most kMaxRequestBody bytes (413) holding a JSON
// object with exactly content_type, size and optionally filename (400 naming what is wrong), a
// size of 1..max_bytes bytes (413 above). A filename only picks the extension, and is refused
// when its extension is another image type's. Pure.
tl::expected<UploadRequest, RequestError> parse_upload_request(const UrlRequest& request,
                                                               std::uint64_t max_bytes);

struct PresignOptions {
  std::string bucket;  // IMGFLOW_SOURCE_BUCKET
  std::string prefix;  // IMGFLOW_SOURCE_PREFIX: every key starts with it
  std::string region;  // AWS_REGION: the signatures' scope
  // AWS_ENDPOINT_URL_S3: URLs are path-style under it ("http://127.0.0.1:9000/<bucket>/<key>");
  // "" = AWS S3, virtual-hosted ("https://<bucket>.s3.<region>.amazonaws.com/<key>").
  std::string endpoint;
  std::chrono::seconds expires{300};      // short: a URL is for one upload, now
  std::uint64_t max_bytes = 50ULL << 20;  // the recipe's limits.max_input_bytes
};

// A granted upload: where and how to send it.
struct UploadGrant {
  std::string key;
  std::string content_type;
  std::uint64_t size = 0;
  std::chrono::seconds expires_in{0};
  std::string put_url;  // presigned PUT; the content-type header is signed
  std::string post_url;
  std::vector<sigv4::FormField> post_fields;  // in order, before the file
};

// Signs a PUT URL and a POST form for `key` with `credentials` (their session token included:
// X-Amz-Security-Token / x-amz-security-token) at time `now`. kInvalidArgument for empty
// credentials or an endpoint that is not http(s)://host[:port][/path]. Pure.
core::Result<UploadGrant> grant_upload(const UploadRequest& request, std::string key,
                                       const PresignOptions& options,
                                       const sigv4::Credentials& credentials, sigv4::TimePoint now);

// The 200 answer: {"key", "bucket", "expires_in", "method": "PUT", "url", "headers":
// {"content-type"}, "post": {"url", "fields": {...}}, "max_size"}.
UrlResponse to_response(const UploadGrant& grant, std::string_view bucket);

// The endpoint: one function-URL event in, one function-URL response out, and one log line per
// request (key, content type, size, outcome; never a URL or signature). Client mistakes are 4xx
// responses, not errors: the function did its job. Errors: kInvalidArgument for an event that is
// not a function-URL request, kInternal when no key or signature can be made. Safe to call from
// any thread (one at a time on Lambda).
class Presigner {
 public:
  // A fresh random id for each key: 128 bits from OpenSSL by default; tests pass their own.
  using NewId = std::function<core::Result<std::string>()>;

  // `log` and `clock` must outlive it.
  Presigner(PresignOptions options, sigv4::Credentials credentials, core::Logger& log,
            const core::Clock& clock, NewId new_id = {});

  core::Result<std::string> handle(std::string_view event_json, std::string_view request_id) const;

 private:
  PresignOptions options_;
  sigv4::Credentials credentials_;
  core::Logger& log_;
  const core::Clock& clock_;
  NewId new_id_;
};

}  // namespace imgflow::lambda
