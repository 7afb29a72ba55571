#include "storage/s3/s3_error.h"

#include <array>

#include "core/xml.h"
#include "storage/object_store.h"

namespace imgflow::storage::s3 {
namespace {

using core::ErrorCode;

constexpr std::array<ErrorDetail, 17> kKnownDetails = {
    ErrorDetail::kNoSuchBucket,       ErrorDetail::kNoSuchKey,
    ErrorDetail::kNoSuchUpload,       ErrorDetail::kBucketAlreadyOwnedByYou,
    ErrorDetail::kInvalidBucketName,  ErrorDetail::kKeyTooLongError,
    ErrorDetail::kInvalidArgument,    ErrorDetail::kInvalidRequest,
    ErrorDetail::kInvalidDigest,      ErrorDetail::kBadDigest,
    ErrorDetail::kIncompleteBody,     ErrorDetail::kEntityTooLarge,
    ErrorDetail::kEntityTooSmall,     ErrorDetail::kInvalidPart,
    ErrorDetail::kInvalidPartOrder,   ErrorDetail::kInvalidRange,
    ErrorDetail::kPreconditionFailed,
};

struct CodeMapping {
  std::string_view code;
  ErrorCode error;
};

constexpr std::array<CodeMapping, 16> kOtherCodes = {{
    {"AccessDenied", ErrorCode::kPermissionDenied},
    {"AllAccessDisabled", ErrorCode::kPermissionDenied},
    {"SignatureDoesNotMatch", ErrorCode::kPermissionDenied},
    {"InvalidAccessKeyId", ErrorCode::kPermissionDenied},
    {"ExpiredToken", ErrorCode::kPermissionDenied},
    {"InvalidToken", ErrorCode::kPermissionDenied},
    {"RequestTimeTooSkewed", ErrorCode::kPermissionDenied},
    {"BucketAlreadyExists", ErrorCode::kAlreadyExists},
    {"BucketNotEmpty", ErrorCode::kFailedPrecondition},
    {"NotImplemented", ErrorCode::kUnsupported},
    {"SlowDown", ErrorCode::kUnavailable},
    {"ServiceUnavailable", ErrorCode::kUnavailable},
    {"InternalError", ErrorCode::kUnavailable},
    {"RequestTimeout", ErrorCode::kTimeout},
    {"MissingContentLength", ErrorCode::kInvalidArgument},
    {"PermanentRedirect", ErrorCode::kInvalidArgument},
}};

// The S3 code a body-less response stands for (HEAD has no body).
std::string implied_code(int status, Target target) {
  switch (status) {
    case 404:
      return target == Target::kObject ? "NoSuchKey" : "NoSuchBucket";
    case 403:
      return "AccessDenied";
    case 412:
      return "PreconditionFailed";
    case 416:
      return "InvalidRange";
    case 503:
      return "SlowDown";
    default:
      return {};
  }
}

ErrorCode code_for_status(int status) {
  if (status == 404) return ErrorCode::kNotFound;
  if (status == 401 || status == 403) return ErrorCode::kPermissionDenied;
  if (status == 408) return ErrorCode::kTimeout;
  if (status == 409 || status == 412) return ErrorCode::kFailedPrecondition;
  if (status == 413) return ErrorCode::kTooLarge;
  if (status == 429 || status >= 500) return ErrorCode::kUnavailable;
  if (status >= 400) return ErrorCode::kInvalidArgument;
  return ErrorCode::kInternal;  // 3xx: a redirect we do not follow
}

}  // namespace

S3ErrorBody parse_error_body(std::string_view body) {
  auto doc = core::parse_xml(
      body, core::XmlLimits{.max_bytes = 1 << 20, .max_elements = 1000, .max_depth = 8});
  if (!doc || doc->name != "Error") return {};
  return {doc->child_text("Code"), doc->child_text("Message"), doc->child_text("RequestId")};
}

core::Error to_error(int status, const S3ErrorBody& body, Target target) {
  const std::string code = body.code.empty() ? implied_code(status, target) : body.code;
  std::string message = body.message.empty() ? "S3 request failed" : body.message;
  message += " (HTTP " + std::to_string(status);
  if (!body.request_id.empty()) message += ", request id " + body.request_id;
  message += ")";
  for (const ErrorDetail detail : kKnownDetails) {
    if (to_string(detail) == code) return make_error(detail, message);
  }
  ErrorCode error = code_for_status(status);
  for (const auto& m : kOtherCodes) {
    if (m.code == code) error = m.error;
  }
  return core::Error{error, std::move(message), code.empty() ? std::string("S3Error") : code};
}

bool is_retryable(int status, const S3ErrorBody& body) {
  if ((status >= 500 && status != 501) || status == 429) return true;
  for (const std::string_view code :
       {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
        "ThrottlingException", "RequestLimitExceeded"}) {
    if (body.code == code) return true;
  }
  return false;
}

}  // namespace imgflow::storage::s3
