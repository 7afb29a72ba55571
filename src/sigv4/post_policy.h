#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "sigv4/amz_date.h"
#include "sigv4/auth_error.h"
#include "sigv4/credential_scope.h"
#include "sigv4/signer.h"
#include "sigv4/verifier.h"

namespace imgflow::sigv4 {

// A field of a browser POST upload (multipart/form-data), in form order, the file part excluded.
struct FormField {
  std::string name;  // compared case-insensitively
  std::string value;
};

struct PolicyCondition {
  enum class Op { kEq, kStartsWith, kContentLengthRange };
  Op op = Op::kEq;
  std::string field;               // lower-case, without the '$'; empty for content-length-range
  std::string value;               // kEq, kStartsWith
  std::uint64_t min = 0, max = 0;  // kContentLengthRange, inclusive
};

struct PostPolicy {
  TimePoint expiration;
  std::vector<PolicyCondition> conditions;
};

inline constexpr std::size_t kMaxPolicyBytes = 64U * 1024U;  // far above real policies (a few KiB)

// Parses policy JSON: {"expiration": ISO 8601, "conditions": [...]}, where a condition is
// {"field": "value"} (eq), ["eq"|"starts-with", "$field", "value"] or
// ["content-length-range", min, max] (numbers or decimal strings). Returns
// kInvalidPolicyDocument for anything else, for text over kMaxPolicyBytes or nested deeper than
// a policy ever is. Never throws. Thread-safe (pure).
AuthResult<PostPolicy> parse_post_policy(std::string_view json);

struct VerifiedPost {
  std::string access_key_id;
  std::string principal;
  CredentialScope scope;
  PostPolicy policy;  // check_content_length() it against the file once its size is known
};

// Verifies a SigV4 POST policy upload. `fields` are the form fields before the file; `bucket` is
// the bucket from the URL, checked against "bucket" conditions. Field values are compared as
// submitted (a "${filename}" in key is not substituted here). Errors: kInvalidArgument (missing
// or malformed policy, x-amz-algorithm, x-amz-credential, x-amz-date or x-amz-signature; wrong
// region or service), the lookup and token errors of verify_header, kSignatureDoesNotMatch,
// kInvalidPolicyDocument, kAccessDenied ("Invalid according to Policy: ..." for an expired
// policy, a failed condition, or a form field no condition covers). x-amz-signature, file,
// policy and x-ignore-* fields need no condition. Thread-safe if `lookup` is.
AuthResult<VerifiedPost> verify_post_policy(std::span<const FormField> fields,
                                            std::string_view bucket,
                                            const CredentialsLookup& lookup,
                                            const core::Clock& clock,
                                            const VerifierOptions& options = {});

// kEntityTooLarge / kEntityTooSmall when a content-length-range condition excludes `size`.
AuthResult<void> check_content_length(const PostPolicy& policy, std::uint64_t size);

// What a browser POST upload form is signed to allow.
struct PostPolicySpec {
  std::string bucket;  // a {"bucket": ...} condition (the form is posted to the bucket's URL)
  // Each is sent as a form field and required verbatim ({"name": "value"}): key, Content-Type.
  std::vector<FormField> fields;
  // A ["content-length-range", min, max] condition when max_length > 0: the file's size, which
  // S3 checks as the body arrives (a presigned PUT URL cannot bind it).
  std::uint64_t min_length = 0;
  std::uint64_t max_length = 0;
  TimePoint expiration;  // after it S3 refuses the form
};

// Writes the policy document for `spec` (with conditions for the x-amz-* fields below), base64s
// it and signs it with a key derived for params' time, region and service, as S3's POST uploads
// take it. Returns the form fields to send before the file, in order: spec.fields,
// x-amz-algorithm, x-amz-credential, x-amz-date, x-amz-security-token (with a session token),
// policy and x-amz-signature. kInvalidArgument for empty credentials or an expiration not after
// params.time. Thread-safe (pure).
core::Result<std::vector<FormField>> sign_post_policy(const PostPolicySpec& spec,
                                                      const SigningParams& params);

}  // namespace imgflow::sigv4
