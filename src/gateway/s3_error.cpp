#include "gateway/s3_error.h"

#include <array>
#include <utility>

#include "gateway/xml.h"
#include "storage/object_store.h"

namespace imgflow::gateway {
namespace {

struct CodeStatus {
  std::string_view code;
  int status;
};

// Statuses from the S3 error code table; anything missing is a client error (400).
constexpr std::array kStatuses = {
    CodeStatus{"AccessDenied", 403},
    CodeStatus{"BadDigest", 400},
    CodeStatus{"BucketAlreadyOwnedByYou", 409},
    CodeStatus{"BucketNotEmpty", 409},
    CodeStatus{"EntityTooLarge", 400},
    CodeStatus{"EntityTooSmall", 400},
    CodeStatus{"ExpiredToken", 400},
    CodeStatus{"IncompleteBody", 400},
    CodeStatus{"InternalError", 500},
    CodeStatus{"InvalidAccessKeyId", 403},
    CodeStatus{"InvalidDigest", 400},
    CodeStatus{"InvalidPart", 400},
    CodeStatus{"InvalidPartOrder", 400},
    CodeStatus{"InvalidRange", 416},
    CodeStatus{"InvalidToken", 400},
    CodeStatus{"MalformedXML", 400},
    CodeStatus{"MethodNotAllowed", 405},
    CodeStatus{"MissingContentLength", 411},
    CodeStatus{"NoSuchBucket", 404},
    CodeStatus{"NoSuchKey", 404},
    CodeStatus{"NoSuchUpload", 404},
    CodeStatus{"NotImplemented", 501},
    CodeStatus{"PreconditionFailed", 412},
    CodeStatus{"RequestTimeTooSkewed", 403},
    CodeStatus{"RequestTimeout", 400},
    CodeStatus{"ServiceUnavailable", 503},
    CodeStatus{"SignatureDoesNotMatch", 403},
    CodeStatus{"SlowDown", 503},
};

}  // namespace

int status_of(std::string_view code) {
  for (const auto& entry : kStatuses) {
    if (entry.code == code) return entry.status;
  }
  return 400;
}

S3Error s3_error(std::string_view code, std::string message) {
  return S3Error{status_of(code), std::string(code), std::move(message)};
}

S3Error from_core_error(const core::Error& error) {
  const storage::ErrorDetail detail = storage::detail_of(error);
  if (detail != storage::ErrorDetail::kNone)
    return s3_error(storage::to_string(detail), error.message);
  switch (error.code) {
    case core::ErrorCode::kNotFound:
      return s3_error("NoSuchKey", error.message);
    case core::ErrorCode::kInvalidArgument:
      return s3_error("InvalidArgument", error.message);
    case core::ErrorCode::kTooLarge:
      return s3_error("EntityTooLarge", error.message);
    case core::ErrorCode::kPermissionDenied:
      return s3_error("AccessDenied", error.message);
    case core::ErrorCode::kFailedPrecondition:
      return s3_error("PreconditionFailed", error.message);
    case core::ErrorCode::kUnavailable:
      return s3_error("ServiceUnavailable", error.message);
    case core::ErrorCode::kTimeout:
      return s3_error("RequestTimeout", error.message);
    default:
      // Internal details (paths, SQLite messages) stay in the log, not on the wire.
      return S3Error{};
  }
}

S3Error from_auth_error(const sigv4::AuthError& error) {
  const std::string_view code = sigv4::to_string(error.code);
  return s3_error(code, error.message);
}

std::string error_xml(const S3Error& error, std::string_view resource,
                      std::string_view request_id) {
  XmlWriter xml;
  xml.open("Error");
  xml.element("Code", error.code);
  xml.element("Message", error.message);
  xml.element("Resource", resource);
  xml.element("RequestId", request_id);
  xml.close("Error");
  return xml.take();
}

}  // namespace imgflow::gateway
