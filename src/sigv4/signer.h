#pragma once

#include <chrono>
#include <string>

#include "core/result.h"
#include "http/request_head.h"
#include "sigv4/amz_date.h"
#include "sigv4/credential_scope.h"

namespace imgflow::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless the credentials are temporary (STS)
};

struct SigningParams {
  Credentials credentials;
  std::string region = "us-east-1";
  std::string service = "s3";
  TimePoint time;  // the signing time, from a core::Clock; whole seconds are used
  // Hex SHA-256 of the body, UNSIGNED-PAYLOAD or a STREAMING-* value.
  std::string payload_hash = std::string(kUnsignedPayload);
  bool normalize_path = false;            // S3 never normalises; other services do
  bool add_content_sha256_header = true;  // S3 requires x-amz-content-sha256 on header auth
  // False attaches the session token after signing, unsigned: a quirk of some non-S3 services
  // that the AWS test suite covers. S3 requires the token to be signed.
  bool sign_session_token = true;
};

// What was signed; the intermediate texts help when a server disagrees.
struct SignResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;       // 64 lower-case hex digits
  std::string signed_headers;  // "host;x-amz-date"
  std::string authorization;   // the Authorization header value (header signing only)
};

inline constexpr std::chrono::seconds kMaxPresignExpiry{604800};  // 7 days, the S3 maximum

// Signs with an Authorization header. Replaces any Authorization and X-Amz-Date headers and adds
// X-Amz-Date, X-Amz-Security-Token (when there is a token) and x-amz-content-sha256 (when
// asked). Every header on the request is signed except hop-by-hop or proxy-rewritten ones
// (user-agent, expect, connection, transfer-encoding, x-amzn-trace-id), so add headers first.
// Returns kInvalidArgument for empty credentials or a missing method. Thread-safe (pure).
core::Result<SignResult> sign_request(http::RequestHead& request, const SigningParams& params);

// Presigns in query form: appends X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Expires,
// [-Security-Token] and -Signature to request.query (existing parameters stay as sent). Headers
// on the request (usually just Host) are signed and must be sent as they are. Returns
// kInvalidArgument when expires is outside 1 s..7 days or credentials are empty.
core::Result<SignResult> presign(http::RequestHead& request, const SigningParams& params,
                                 std::chrono::seconds expires);

}  // namespace imgflow::sigv4
