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

// An error value: a code to branch on, a message a user can act on, and where a module knows
// one, the precise reason within the code.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // Machine-readable, named by the module that knows it: storage puts the S3 error code here
  // ("NoSuchKey", "SlowDown"), sigv4 its authentication code. Empty when there is none. Callers
  // branch on it (e.g. through storage::detail_of), never on the message, which is for people
  // and may gain context on its way up.
  std::string reason{};

  // "kind: message", or "kind: reason: message", e.g. "not found: NoSuchKey: no such key a.jpg".
  std::string to_string() const;
  // The same error, `context` put in front of its message; code and reason are kept.
  Error with_context(std::string_view context) const;
};

}  // namespace imgflow::core
