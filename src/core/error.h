#pragma once

#include <string>
#include <string_view>

namespace imgflow::core {

// What went wrong, in terms a caller can branch on. Mapping to HTTP statuses and
// S3 error codes happens only in the gateway.
enum class ErrorCode {
  kNotFound,            // the object, bucket or file does not exist
  kInvalidArgument,     // the caller sent something malformed
  kTooLarge,            // a size, pixel, frame or time limit was exceeded
  kUnsupported,         // a well-formed input we refuse (format, feature)
  kCorrupt,             // bytes that claim a format but do not decode
  kUnavailable,         // transient: retrying later may succeed
  kInternal,            // a bug or an environment failure (disk, library)
  kPermissionDenied,    // authenticated or not, the principal may not do this
  kFailedPrecondition,  // a condition such as If-None-Match or If-Match failed
  kAlreadyExists,       // create-only semantics refused an existing entity
  kTimeout,             // a deadline passed
};

std::string_view to_string(ErrorCode code);

// An error value: a code to branch on and a message a user can act on.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "kind: message", e.g. "unsupported: SVG input is not accepted".
  std::string to_string() const;
};

}  // namespace imgflow::core
