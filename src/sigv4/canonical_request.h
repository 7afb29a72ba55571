#pragma once

#include <span>
#include <string>
#include <string_view>

#include "http/request_head.h"
#include "sigv4/credential_scope.h"

namespace imgflow::sigv4 {

// Pure SigV4 canonicalisation (S3 rules unless told otherwise). No function here fails: every
// request has exactly one canonical form, so the signer and the verifier cannot disagree.

struct CanonicalOptions {
  // Remove "." / ".." segments and empty segments before encoding. S3 never does (an object key
  // may contain "//" or "/../"); other AWS services do, which the AWS test suite exercises.
  bool normalize_path = false;
};

// The raw path percent-decoded, optionally normalised, then encoded once with '/' kept.
// An empty path is "/".
std::string canonical_uri(std::string_view raw_path, const CanonicalOptions& options = {});

// The raw query decoded and re-encoded, pairs sorted by encoded key then encoded value, joined
// "k=v&k=v". Parameters whose decoded key equals `exclude_key` are left out (X-Amz-Signature when
// checking a presigned URL).
std::string canonical_query(std::string_view raw_query, std::string_view exclude_key = {});

// A header value trimmed, with every inner run of spaces and tabs collapsed to one space.
std::string canonical_header_value(std::string_view value);

// "name:v1,v2\n" for each name in `signed_names` (lower-case, sorted, unique), repeated headers
// joined with commas in request order. A name absent from the request gives "name:\n".
std::string canonical_headers(const http::RequestHead& request,
                              std::span<const std::string> signed_names);

// "a;b;c".
std::string join_signed_headers(std::span<const std::string> signed_names);

// method \n uri \n query \n headers \n signed-headers \n payload-hash. `exclude_query_key` as in
// canonical_query().
std::string canonical_request(const http::RequestHead& request,
                              std::span<const std::string> signed_names,
                              std::string_view payload_hash, const CanonicalOptions& options = {},
                              std::string_view exclude_query_key = {});

// "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n" hex(sha256(canonical_request)).
std::string string_to_sign(std::string_view amz_date, const CredentialScope& scope,
                           std::string_view canonical_request);

}  // namespace imgflow::sigv4
