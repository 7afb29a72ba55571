#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace imgflow::storage::s3 {

// What an S3 request was about, so a body-less 404 (HEAD) maps to the right error.
enum class Target { kService, kBucket, kObject };

// The fields of an S3 <Error> body; empty when the body had none.
struct S3ErrorBody {
  std::string code;  // "NoSuchKey", "SlowDown", ...
  std::string message;
  std::string request_id;
};

// Reads an <Error> document; all fields empty if `body` is not one.
S3ErrorBody parse_error_body(std::string_view body);

// Maps a failed S3 response back to a storage error: codes storage knows (NoSuchKey,
// NoSuchBucket, BucketAlreadyOwnedByYou, InvalidRange, PreconditionFailed, ...) become
// make_error(ErrorDetail, ...), so detail_of() recovers them; AccessDenied and signature errors
// are kPermissionDenied, SlowDown and 5xx kUnavailable, RequestTimeout kTimeout; anything else
// maps by HTTP status. The message keeps the S3 code, message, status and request id.
core::Error to_error(int status, const S3ErrorBody& body, Target target);

// Whether a retry may succeed: 5xx, 429, SlowDown, RequestTimeout, InternalError, ...
bool is_retryable(int status, const S3ErrorBody& body);

}  // namespace imgflow::storage::s3
