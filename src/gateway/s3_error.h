#pragma once

#include <string>
#include <string_view>

#include "core/error.h"
#include "sigv4/auth_error.h"

namespace imgflow::gateway {

// An S3 error as the wire shows it: HTTP status, the S3 code and a message. This is the only
// place where core::Error and sigv4::AuthError become HTTP statuses and S3 codes.
struct S3Error {
  int status = 500;
  std::string code = "InternalError";
  std::string message = "We encountered an internal error. Please try again.";
};

// Named constructors for the errors the gateway raises itself.
S3Error s3_error(std::string_view code, std::string message);

// Maps a storage error (via storage::detail_of) or a plain core::Error to its S3 error.
S3Error from_core_error(const core::Error& error);

// Maps a SigV4 failure to its S3 error (SignatureDoesNotMatch 403, AuthorizationHeaderMalformed
// 400, RequestTimeTooSkewed 403, ...).
S3Error from_auth_error(const sigv4::AuthError& error);

// The HTTP status S3 uses for `code`; 400 for codes it does not know.
int status_of(std::string_view code);

// The <Error> XML document for `error`.
std::string error_xml(const S3Error& error, std::string_view resource, std::string_view request_id);

}  // namespace imgflow::gateway
