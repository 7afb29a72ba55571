#include "sigv4/auth_error.h"

namespace imgflow::sigv4 {

std::string_view to_string(AuthErrorCode code) {
  switch (code) {
    case AuthErrorCode::kAccessDenied:
      return "AccessDenied";
    case AuthErrorCode::kAuthorizationHeaderMalformed:
      return "AuthorizationHeaderMalformed";
    case AuthErrorCode::kAuthorizationQueryParametersError:
      return "AuthorizationQueryParametersError";
    case AuthErrorCode::kBadDigest:
      return "BadDigest";
    case AuthErrorCode::kEntityTooLarge:
      return "EntityTooLarge";
    case AuthErrorCode::kEntityTooSmall:
      return "EntityTooSmall";
    case AuthErrorCode::kExpiredToken:
      return "ExpiredToken";
    case AuthErrorCode::kIncompleteBody:
      return "IncompleteBody";
    case AuthErrorCode::kInvalidAccessKeyId:
      return "InvalidAccessKeyId";
    case AuthErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case AuthErrorCode::kInvalidPolicyDocument:
      return "InvalidPolicyDocument";
    case AuthErrorCode::kInvalidRequest:
      return "InvalidRequest";
    case AuthErrorCode::kInvalidToken:
      return "InvalidToken";
    case AuthErrorCode::kMissingContentLength:
      return "MissingContentLength";
    case AuthErrorCode::kMissingSecurityHeader:
      return "MissingSecurityHeader";
    case AuthErrorCode::kRequestTimeTooSkewed:
      return "RequestTimeTooSkewed";
    case AuthErrorCode::kSignatureDoesNotMatch:
      return "SignatureDoesNotMatch";
    case AuthErrorCode::kXAmzContentSHA256Mismatch:
      return "XAmzContentSHA256Mismatch";
  }
  return "AccessDenied";
}

core::Error AuthError::to_core_error() const {
  core::ErrorCode core_code = core::ErrorCode::kInvalidArgument;
  switch (code) {
    case AuthErrorCode::kAccessDenied:
    case AuthErrorCode::kExpiredToken:
    case AuthErrorCode::kInvalidAccessKeyId:
    case AuthErrorCode::kInvalidToken:
    case AuthErrorCode::kRequestTimeTooSkewed:
    case AuthErrorCode::kSignatureDoesNotMatch:
      core_code = core::ErrorCode::kPermissionDenied;
      break;
    case AuthErrorCode::kEntityTooLarge:
      core_code = core::ErrorCode::kTooLarge;
      break;
    case AuthErrorCode::kBadDigest:
    case AuthErrorCode::kIncompleteBody:
    case AuthErrorCode::kXAmzContentSHA256Mismatch:
      core_code = core::ErrorCode::kCorrupt;
      break;
    default:
      break;
  }
  return core::Error{core_code, message, std::string(to_string(code))};
}

}  // namespace imgflow::sigv4
