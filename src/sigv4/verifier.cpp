#include "sigv4/verifier.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include "core/codec.h"
#include "core/digest.h"
#include "http/request_head.h"
#include "sigv4/authorization_header.h"
#include "sigv4/canonical_request.h"
#include "sigv4/signing_key.h"
#include "sigv4/verify_common.h"

namespace imgflow::sigv4 {
namespace detail {

AuthResult<void> check_scope(const CredentialScope& scope, const VerifierOptions& options,
                             AuthErrorCode malformed) {
  if (!options.region.empty() && scope.region != options.region) {
    return auth_fail(malformed, "the region '" + scope.region.substr(0, 64) +
                                    "' is wrong; expecting '" + options.region + "'");
  }
  if (scope.service != options.service) {
    return auth_fail(malformed, "the service '" + scope.service.substr(0, 64) +
                                    "' is wrong; expecting '" + options.service + "'");
  }
  return {};
}

AuthResult<SecretKey> find_secret(const CredentialsLookup& lookup, std::string_view access_key_id,
                                  std::optional<std::string_view> token, TimePoint now) {
  std::optional<SecretKey> secret = lookup ? lookup(access_key_id) : std::nullopt;
  if (!secret) {
    return auth_fail(AuthErrorCode::kInvalidAccessKeyId,
                     "The AWS Access Key Id you provided does not exist in our records.");
  }
  if (!secret->session_token.empty() && !token) {
    return auth_fail(AuthErrorCode::kMissingSecurityHeader,
                     "Your request was missing a required header: x-amz-security-token");
  }
  if (token && !core::constant_time_equals(*token, secret->session_token)) {
    return auth_fail(AuthErrorCode::kInvalidToken,
                     "The provided token is malformed or otherwise invalid.");
  }
  if (secret->expires_at && now >= *secret->expires_at) {
    return auth_fail(AuthErrorCode::kExpiredToken, "The provided token has expired.");
  }
  return std::move(*secret);
}

core::Sha256Digest signing_key_for(const SecretKey& secret, const CredentialScope& scope,
                                   const VerifierOptions& options) {
  if (options.key_cache != nullptr) return options.key_cache->get(secret.secret_access_key, scope);
  return derive_signing_key(secret.secret_access_key, scope);
}

}  // namespace detail

namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

bool starts_with_x_amz(std::string_view lower_name) {
  return lower_name.size() > 6 && lower_name.substr(0, 6) == "x-amz-";
}

// The rules on SignedHeaders common to both forms: host signed, every signed header present,
// every x-amz-* header on the request signed.
AuthResult<void> check_signed_headers(const http::RequestHead& request,
                                      const std::vector<std::string>& names,
                                      AuthErrorCode malformed) {
  if (!std::binary_search(names.begin(), names.end(), std::string("host"))) {
    return auth_fail(malformed, "the host header must be signed");
  }
  for (const std::string& name : names) {
    if (!http::header_value(request, name)) {
      return auth_fail(malformed, "signed header '" + name.substr(0, 64) + "' is not present");
    }
  }
  for (const http::Header& h : request.headers) {
    const std::string name = core::to_lower(h.name);
    if (starts_with_x_amz(name) && !std::binary_search(names.begin(), names.end(), name)) {
      return auth_fail(
          AuthErrorCode::kAccessDenied,
          "There were headers present in the request which were not signed: " + name.substr(0, 64));
    }
  }
  return {};
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Reads x-amz-content-sha256 (and the headers a streaming body needs) into `out`.
AuthResult<void> read_payload_mode(const http::RequestHead& request, std::string_view value,
                                   VerifiedRequest& out) {
  if (value == kUnsignedPayload) {
    out.payload_mode = PayloadMode::kUnsigned;
    return {};
  }
  if (value.size() == 64 && core::is_lower_hex(core::to_lower(value), 64)) {
    out.payload_mode = PayloadMode::kSha256;
    out.payload_sha256 = core::to_lower(value);
    return {};
  }
  if (value == kStreamingSignedPayload) {
    out.payload_mode = PayloadMode::kStreamingSigned;
  } else if (value == kStreamingUnsignedPayloadTrailer) {
    out.payload_mode = PayloadMode::kStreamingUnsignedTrailer;
  } else if (value == kStreamingSignedPayloadTrailer) {
    out.payload_mode = PayloadMode::kStreamingSignedTrailer;
  } else if (value.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")) {
    return auth_fail(AuthErrorCode::kInvalidRequest,
                     "SigV4a (ECDSA) streaming signatures are not supported");
  } else {
    return auth_fail(AuthErrorCode::kInvalidArgument,
                     "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                     "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.");
  }
  if (out.presigned) {
    return auth_fail(AuthErrorCode::kInvalidRequest,
                     "aws-chunked payloads cannot be sent with a presigned URL");
  }
  const auto decoded = http::header_value(request, "x-amz-decoded-content-length");
  out.decoded_content_length = decoded ? parse_decimal(*decoded) : std::nullopt;
  if (!out.decoded_content_length) {
    return auth_fail(AuthErrorCode::kMissingContentLength,
                     "aws-chunked uploads need a valid x-amz-decoded-content-length header");
  }
  if (auto trailer = http::header_value(request, "x-amz-trailer")) {
    out.trailer = core::to_lower(canonical_header_value(*trailer));
  }
  return {};
}

// Shared tail of both forms: look the key up, rebuild the signature, compare.
AuthResult<VerifiedRequest> finish(const http::RequestHead& request, const Credential& credential,
                                   const std::vector<std::string>& names,
                                   std::string_view signature, std::string_view payload_hash,
                                   std::optional<std::string_view> token, TimePoint now,
                                   const CredentialsLookup& lookup, const VerifierOptions& options,
                                   VerifiedRequest out) {
  auto secret = detail::find_secret(lookup, credential.access_key_id, token, now);
  if (!secret) return tl::unexpected(secret.error());
  out.access_key_id = credential.access_key_id;
  out.principal = secret->principal;
  out.scope = credential.scope;
  out.signing_key = detail::signing_key_for(*secret, credential.scope, options);
  const std::string canonical =
      canonical_request(request, names, payload_hash, {.normalize_path = options.normalize_path},
                        out.presigned ? "X-Amz-Signature" : "");
  const std::string expected =
      sign_string(out.signing_key, string_to_sign(out.amz_date, out.scope, canonical));
  if (!core::constant_time_equals(expected, signature)) {
    return auth_fail(AuthErrorCode::kSignatureDoesNotMatch,
                     "The request signature we calculated does not match the signature you "
                     "provided. Check your key and signing method.");
  }
  out.signature = expected;
  return out;
}

AuthResult<TimePoint> read_amz_date_header(const http::RequestHead& request) {
  const std::vector<std::string_view> dates = http::header_values(request, "x-amz-date");
  std::optional<TimePoint> time;
  if (dates.size() == 1) time = parse_amz_date(dates.front());
  if (!time) {
    return auth_fail(AuthErrorCode::kAccessDenied,
                     "AWS authentication requires a valid Date or x-amz-date header");
  }
  return *time;
}

// The X-Amz-* parameters of a presigned URL, each at most once.
struct PresignParams {
  std::optional<std::string> algorithm, credential, date, expires, signed_headers, signature, token;
};

AuthResult<PresignParams> read_presign_params(std::string_view raw_query) {
  PresignParams p;
  const std::array<std::pair<std::string_view, std::optional<std::string>*>, 7> slots = {{
      {"X-Amz-Algorithm", &p.algorithm},
      {"X-Amz-Credential", &p.credential},
      {"X-Amz-Date", &p.date},
      {"X-Amz-Expires", &p.expires},
      {"X-Amz-SignedHeaders", &p.signed_headers},
      {"X-Amz-Signature", &p.signature},
      {"X-Amz-Security-Token", &p.token},
  }};
  for (http::QueryParam& q : http::parse_query(raw_query)) {
    for (const auto& [name, slot] : slots) {
      if (q.key != name) continue;
      if (slot->has_value()) {
        return auth_fail(AuthErrorCode::kAuthorizationQueryParametersError,
                         std::string(name) + " must appear once");
      }
      *slot = std::move(q.value);
    }
  }
  if (!p.algorithm || !p.credential || !p.date || !p.expires || !p.signed_headers || !p.signature) {
    return auth_fail(AuthErrorCode::kAuthorizationQueryParametersError,
                     "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                     "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                     "X-Amz-Expires parameters.");
  }
  return p;
}

AuthResult<seconds> read_expires(std::string_view text) {
  const auto value = parse_decimal(text);
  if (!value) {
    return auth_fail(AuthErrorCode::kAuthorizationQueryParametersError,
                     "X-Amz-Expires should be a number");
  }
  if (*value < 1) {
    return auth_fail(AuthErrorCode::kAuthorizationQueryParametersError,
                     "X-Amz-Expires must be a positive number of seconds");
  }
  if (*value > 604800) {
    return auth_fail(AuthErrorCode::kAuthorizationQueryParametersError,
                     "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  return seconds(static_cast<seconds::rep>(*value));
}

}  // namespace

AuthKind classify(const http::RequestHead& request) {
  const bool header = http::header_value(request, "authorization").has_value();
  bool query = false;
  for (const http::QueryParam& q : http::parse_query(request.query))
    query = query || q.key == "X-Amz-Algorithm";
  if (header && query) return AuthKind::kAmbiguous;
  if (header) return AuthKind::kHeader;
  return query ? AuthKind::kPresigned : AuthKind::kAnonymous;
}

AuthResult<VerifiedRequest> verify_header(const http::RequestHead& request,
                                          const CredentialsLookup& lookup, const core::Clock& clock,
                                          const VerifierOptions& options) {
  constexpr AuthErrorCode kMalformed = AuthErrorCode::kAuthorizationHeaderMalformed;
  const std::vector<std::string_view> values = http::header_values(request, "authorization");
  if (values.size() != 1) return auth_fail(kMalformed, "expected one Authorization header");
  auto auth = parse_authorization_header(values.front());
  if (!auth) return tl::unexpected(auth.error());
  if (auto ok = detail::check_scope(auth->credential.scope, options, kMalformed); !ok) {
    return tl::unexpected(ok.error());
  }
  auto time = read_amz_date_header(request);
  if (!time) return tl::unexpected(time.error());
  VerifiedRequest out;
  out.amz_date = format_amz_date(*time);
  if (auth->credential.scope.date != out.amz_date.substr(0, 8)) {
    return auth_fail(kMalformed, "the credential date does not match the x-amz-date date");
  }
  const TimePoint now = clock.now();
  if (*time - now > options.max_skew || now - *time > options.max_skew) {
    return auth_fail(AuthErrorCode::kRequestTimeTooSkewed,
                     "The difference between the request time and the current time is too large.");
  }
  if (auto ok = check_signed_headers(request, auth->signed_headers, kMalformed); !ok) {
    return tl::unexpected(ok.error());
  }
  const auto content_sha = http::header_value(request, "x-amz-content-sha256");
  if (!content_sha) {
    return auth_fail(AuthErrorCode::kInvalidRequest,
                     "Missing required header for this request: x-amz-content-sha256");
  }
  if (auto ok = read_payload_mode(request, *content_sha, out); !ok) {
    return tl::unexpected(ok.error());
  }
  return finish(request, auth->credential, auth->signed_headers, auth->signature, *content_sha,
                http::header_value(request, "x-amz-security-token"), now, lookup, options,
                std::move(out));
}

AuthResult<VerifiedRequest> verify_presigned(const http::RequestHead& request,
                                             const CredentialsLookup& lookup,
                                             const core::Clock& clock,
                                             const VerifierOptions& options) {
  constexpr AuthErrorCode kQueryError = AuthErrorCode::kAuthorizationQueryParametersError;
  if (http::header_value(request, "authorization")) {
    return auth_fail(AuthErrorCode::kInvalidArgument,
                     "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
                     "or the Authorization header should be specified");
  }
  auto params = read_presign_params(request.query);
  if (!params) return tl::unexpected(params.error());
  if (*params->algorithm != kAlgorithm) {
    return auth_fail(kQueryError, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  auto credential = parse_credential(*params->credential);
  if (!credential) {
    return auth_fail(kQueryError,
                     "Error parsing the X-Amz-Credential parameter; expected "
                     "<key>/<YYYYMMDD>/<region>/<service>/aws4_request");
  }
  if (auto ok = detail::check_scope(credential->scope, options, kQueryError); !ok) {
    return tl::unexpected(ok.error());
  }
  const auto time = parse_amz_date(*params->date);
  if (!time) {
    return auth_fail(kQueryError,
                     "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  auto expires = read_expires(*params->expires);
  if (!expires) return tl::unexpected(expires.error());
  VerifiedRequest out;
  out.presigned = true;
  out.amz_date = format_amz_date(*time);
  if (credential->scope.date != out.amz_date.substr(0, 8)) {
    return auth_fail(kQueryError, "the credential date does not match X-Amz-Date");
  }
  const TimePoint now = clock.now();
  if (*time - now > options.max_skew) {
    return auth_fail(AuthErrorCode::kAccessDenied, "Request is not valid yet");
  }
  if (now > *time + *expires) return auth_fail(AuthErrorCode::kAccessDenied, "Request has expired");
  auto names = parse_signed_headers(*params->signed_headers);
  if (!names) {
    return auth_fail(kQueryError,
                     "X-Amz-SignedHeaders must be lower-case names, sorted, without repeats");
  }
  if (auto ok = check_signed_headers(request, *names, kQueryError); !ok) {
    return tl::unexpected(ok.error());
  }
  // A presigned URL signs UNSIGNED-PAYLOAD unless the client chose to sign a body hash header.
  const std::string_view payload_hash =
      http::header_value(request, "x-amz-content-sha256").value_or(kUnsignedPayload);
  if (auto ok = read_payload_mode(request, payload_hash, out); !ok) {
    return tl::unexpected(ok.error());
  }
  std::optional<std::string_view> token;
  if (params->token) token = *params->token;
  return finish(request, *credential, *names, *params->signature, payload_hash, token, now, lookup,
                options, std::move(out));
}

AuthResult<VerifiedRequest> verify(const http::RequestHead& request,
                                   const CredentialsLookup& lookup, const core::Clock& clock,
                                   const VerifierOptions& options) {
  switch (classify(request)) {
    case AuthKind::kHeader:
      return verify_header(request, lookup, clock, options);
    case AuthKind::kPresigned:
      return verify_presigned(request, lookup, clock, options);
    case AuthKind::kAmbiguous:
      return auth_fail(AuthErrorCode::kInvalidArgument,
                       "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
                       "or the Authorization header should be specified");
    case AuthKind::kAnonymous:
      break;
  }
  return auth_fail(AuthErrorCode::kAccessDenied, "The request is not signed");
}

AuthResult<void> check_payload_sha256(const VerifiedRequest& request,
                                      const core::Sha256Digest& body_sha256) {
  if (request.payload_mode != PayloadMode::kSha256) return {};
  if (core::to_hex(body_sha256) != request.payload_sha256) {
    return auth_fail(AuthErrorCode::kXAmzContentSHA256Mismatch,
                     "The provided 'x-amz-content-sha256' header does not match what was "
                     "computed.");
  }
  return {};
}

}  // namespace imgflow::sigv4
