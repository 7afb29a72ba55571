#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sigv4/auth_error.h"
#include "sigv4/credential_scope.h"

namespace imgflow::sigv4 {

// The parts of "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=<hex>".
struct AuthorizationHeader {
  Credential credential;
  std::vector<std::string> signed_headers;  // lower-case, sorted, unique
  std::string signature;
};

// Parses untrusted header text. Returns kInvalidRequest for another algorithm (SigV2, SigV4a)
// and kAuthorizationHeaderMalformed for anything else wrong: missing, repeated or unknown
// components, a bad credential, or a SignedHeaders list that is not lower-case, sorted and unique.
// The separator after a comma may be any number of spaces, as SDKs differ. Thread-safe (pure).
AuthResult<AuthorizationHeader> parse_authorization_header(std::string_view value);

// "host;x-amz-date" → {"host", "x-amz-date"}; nullopt unless every name is a non-empty
// lower-case token and the list is strictly increasing (sorted, no repeats).
std::optional<std::vector<std::string>> parse_signed_headers(std::string_view text);

}  // namespace imgflow::sigv4
