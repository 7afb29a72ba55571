#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "core/error.h"

namespace imgflow::sigv4 {

// Why authentication failed, as the S3 error code AWS would return. The gateway maps a code to
// an HTTP status and error XML; this module only decides which code applies.
enum class AuthErrorCode {
  kAccessDenied,
  kAuthorizationHeaderMalformed,
  kAuthorizationQueryParametersError,
  kBadDigest,  // a trailing checksum did not match the decoded body
  kEntityTooLarge,
  kEntityTooSmall,
  kExpiredToken,
  kIncompleteBody,  // the aws-chunked body ended early or disagrees with its declared length
  kInvalidAccessKeyId,
  kInvalidArgument,
  kInvalidPolicyDocument,
  kInvalidRequest,
  kInvalidToken,
  kMissingContentLength,
  kMissingSecurityHeader,
  kRequestTimeTooSkewed,
  kSignatureDoesNotMatch,
  kXAmzContentSHA256Mismatch,
};

// The code exactly as S3 spells it, e.g. "SignatureDoesNotMatch".
std::string_view to_string(AuthErrorCode code);

struct AuthError {
  AuthErrorCode code = AuthErrorCode::kAccessDenied;
  std::string message;  // human readable; safe to send to the client (never contains secrets)

  // The project-wide error for callers that do not speak S3 (logs, the CLI).
  core::Error to_core_error() const;
};

template <typename T>
using AuthResult = tl::expected<T, AuthError>;

inline tl::unexpected<AuthError> auth_fail(AuthErrorCode code, std::string message) {
  return tl::unexpected<AuthError>(AuthError{code, std::move(message)});
}

}  // namespace imgflow::sigv4
