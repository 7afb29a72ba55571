#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/digest.h"
#include "http/request_head.h"
#include "sigv4/amz_date.h"
#include "sigv4/auth_error.h"
#include "sigv4/credential_scope.h"

namespace imgflow::sigv4 {

class SigningKeyCache;

// What the credentials store knows about one access key id.
struct SecretKey {
  std::string secret_access_key;
  std::string principal;      // who the key belongs to, for the bucket policy ("admin", ...)
  std::string session_token;  // non-empty: requests must carry exactly this token
  std::optional<TimePoint> expires_at;  // temporary credentials stop working at this time
};

// Returns nullopt for an unknown access key id. Called once per verification, on the calling
// thread; it must be safe to call from every thread that verifies.
using CredentialsLookup = std::function<std::optional<SecretKey>(std::string_view access_key_id)>;

struct VerifierOptions {
  std::string region = "us-east-1";  // credential scopes must name it; empty accepts any region
  std::string service = "s3";
  std::chrono::seconds max_skew{15 * 60};  // S3 refuses requests signed more than 15 min off
  bool normalize_path = false;             // S3 never normalises the path
  SigningKeyCache* key_cache = nullptr;    // optional; must outlive the call
};

// How the body is protected, from x-amz-content-sha256 (header auth) or UNSIGNED-PAYLOAD.
enum class PayloadMode {
  kUnsigned,                  // UNSIGNED-PAYLOAD (always for presigned URLs without the header)
  kSha256,                    // the body must hash to payload_sha256
  kStreamingSigned,           // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
  kStreamingUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER
  kStreamingSignedTrailer,    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
};

// A request whose signature checked out, with what the body check still needs.
struct VerifiedRequest {
  std::string access_key_id;
  std::string principal;
  bool presigned = false;
  CredentialScope scope;
  std::string amz_date;   // as signed, "20150830T123600Z"
  std::string signature;  // the request signature: the seed of aws-chunked chunk signatures
  core::Sha256Digest signing_key{};  // secret-derived: keep it in memory only
  PayloadMode payload_mode = PayloadMode::kUnsigned;
  std::string payload_sha256;                           // lower-case hex, for kSha256
  std::optional<std::uint64_t> decoded_content_length;  // x-amz-decoded-content-length (streaming)
  std::string trailer;  // x-amz-trailer, lower-case (trailer modes), e.g. "x-amz-checksum-crc32"
};

enum class AuthKind {
  kAnonymous,  // neither an Authorization header nor X-Amz-Algorithm: the anonymous principal
  kHeader,
  kPresigned,
  kAmbiguous,  // both: refused by verify() with kInvalidArgument
};
AuthKind classify(const http::RequestHead& request);

// Verifies an Authorization-header request. Errors: kAuthorizationHeaderMalformed (syntax, scope,
// region, service, SignedHeaders without host or naming an absent header), kInvalidRequest (other
// algorithm, missing x-amz-content-sha256), kAccessDenied (no/bad x-amz-date, unsigned x-amz-*
// header), kRequestTimeTooSkewed, kInvalidArgument (bad x-amz-content-sha256),
// kMissingContentLength, kInvalidAccessKeyId, kExpiredToken, kMissingSecurityHeader,
// kInvalidToken, kSignatureDoesNotMatch. Thread-safe if `lookup` is.
AuthResult<VerifiedRequest> verify_header(const http::RequestHead& request,
                                          const CredentialsLookup& lookup, const core::Clock& clock,
                                          const VerifierOptions& options = {});

// Verifies a presigned (query-string) request. Errors: kAuthorizationQueryParametersError
// (missing/repeated/bad X-Amz-* parameter, X-Amz-Expires outside 1..604800), kAccessDenied
// ("Request has expired", "Request is not valid yet", unsigned x-amz-* header), kInvalidRequest
// (streaming payload), the lookup and token errors of verify_header, kSignatureDoesNotMatch.
AuthResult<VerifiedRequest> verify_presigned(const http::RequestHead& request,
                                             const CredentialsLookup& lookup,
                                             const core::Clock& clock,
                                             const VerifierOptions& options = {});

// Dispatches on classify(): kAnonymous → kAccessDenied, kAmbiguous → kInvalidArgument.
AuthResult<VerifiedRequest> verify(const http::RequestHead& request,
                                   const CredentialsLookup& lookup, const core::Clock& clock,
                                   const VerifierOptions& options = {});

// For kSha256 requests, once the body is read: kXAmzContentSHA256Mismatch unless it matches.
// Other modes pass (streaming bodies are checked by ChunkedDecoder).
AuthResult<void> check_payload_sha256(const VerifiedRequest& request,
                                      const core::Sha256Digest& body_sha256);

}  // namespace imgflow::sigv4
