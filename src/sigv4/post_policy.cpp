#include "sigv4/post_policy.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/codec.h"
#include "core/digest.h"
#include "sigv4/signing_key.h"
#include "sigv4/verify_common.h"

namespace imgflow::sigv4 {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 8;  // {"conditions": [[...]]} is depth 3

tl::unexpected<AuthError> bad_policy(std::string message) {
  return auth_fail(AuthErrorCode::kInvalidPolicyDocument, "Invalid Policy: " + std::move(message));
}

tl::unexpected<AuthError> invalid(std::string message) {
  return auth_fail(AuthErrorCode::kInvalidArgument, std::move(message));
}

std::optional<std::uint64_t> as_size(const json& j) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer()) {
    const auto v = j.get<std::int64_t>();
    if (v >= 0) return static_cast<std::uint64_t>(v);
    return std::nullopt;
  }
  if (!j.is_string()) return std::nullopt;
  const auto& s = j.get_ref<const std::string&>();
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string field_name(std::string_view text) {
  if (!text.empty() && text.front() == '$') text.remove_prefix(1);
  return core::to_lower(text);
}

AuthResult<void> parse_condition(const json& c, std::vector<PolicyCondition>& out) {
  if (c.is_object()) {
    for (const auto& [key, value] : c.items()) {
      if (!value.is_string()) return bad_policy("condition values must be strings");
      out.push_back({PolicyCondition::Op::kEq, field_name(key), value.get<std::string>()});
    }
    return {};
  }
  if (!c.is_array() || c.size() != 3 || !c[0].is_string()) {
    return bad_policy("a condition must be an object or a three-element array");
  }
  const std::string op = core::to_lower(c[0].get<std::string>());
  if (op == "content-length-range") {
    const auto min = as_size(c[1]);
    const auto max = as_size(c[2]);
    if (!min || !max || *min > *max) return bad_policy("bad content-length-range");
    out.push_back({PolicyCondition::Op::kContentLengthRange, "", "", *min, *max});
    return {};
  }
  if ((op != "eq" && op != "starts-with") || !c[1].is_string() || !c[2].is_string()) {
    return bad_policy("unknown condition '" + op.substr(0, 32) + "'");
  }
  const std::string& field = c[1].get_ref<const std::string&>();
  if (field.empty() || field.front() != '$') return bad_policy("condition fields start with '$'");
  out.push_back({op == "eq" ? PolicyCondition::Op::kEq : PolicyCondition::Op::kStartsWith,
                 field_name(field), c[2].get<std::string>()});
  return {};
}

AuthResult<PostPolicy> parse_document(const json& doc) {
  if (!doc.is_object()) return bad_policy("the policy must be a JSON object");
  const auto exp = doc.find("expiration");
  const auto conds = doc.find("conditions");
  if (exp == doc.end() || !exp->is_string()) return bad_policy("missing expiration");
  if (conds == doc.end() || !conds->is_array()) return bad_policy("missing conditions");
  PostPolicy policy;
  const auto time = parse_iso8601(exp->get_ref<const std::string&>());
  if (!time) return bad_policy("expiration must be an ISO 8601 UTC time");
  policy.expiration = *time;
  for (const json& c : *conds) {
    if (auto ok = parse_condition(c, policy.conditions); !ok) return tl::unexpected(ok.error());
  }
  return policy;
}

// The value of a form field (case-insensitive name), or of the bucket.
std::optional<std::string_view> field_value(std::span<const FormField> fields,
                                            std::string_view bucket, std::string_view name) {
  if (name == "bucket") return bucket;
  for (const FormField& f : fields) {
    if (core::to_lower(f.name) == name) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::string describe(const PolicyCondition& c) {
  return std::string("[\"") + (c.op == PolicyCondition::Op::kEq ? "eq" : "starts-with") +
         "\", \"$" + c.field + "\", \"" + c.value.substr(0, 128) + "\"]";
}

AuthResult<void> check_conditions(const PostPolicy& policy, std::span<const FormField> fields,
                                  std::string_view bucket) {
  for (const PolicyCondition& c : policy.conditions) {
    if (c.op == PolicyCondition::Op::kContentLengthRange) continue;
    // An absent field compares as empty, so ["starts-with", "$x", ""] allows leaving it out.
    const std::string_view value = field_value(fields, bucket, c.field).value_or("");
    const bool ok =
        c.op == PolicyCondition::Op::kEq ? value == c.value : value.starts_with(c.value);
    if (!ok) {
      return auth_fail(AuthErrorCode::kAccessDenied,
                       "Invalid according to Policy: Policy Condition failed: " + describe(c));
    }
  }
  for (const FormField& f : fields) {
    const std::string name = core::to_lower(f.name);
    if (name == "x-amz-signature" || name == "file" || name == "policy" ||
        name.starts_with("x-ignore-")) {
      continue;
    }
    bool covered = false;
    for (const PolicyCondition& c : policy.conditions) covered = covered || c.field == name;
    if (!covered) {
      return auth_fail(AuthErrorCode::kAccessDenied,
                       "Invalid according to Policy: Extra input fields: " + name.substr(0, 64));
    }
  }
  return {};
}

// The single value of a required auth field.
AuthResult<std::string_view> required(std::span<const FormField> fields, std::string_view name) {
  std::optional<std::string_view> found;
  for (const FormField& f : fields) {
    if (core::to_lower(f.name) != name) continue;
    if (found) return invalid("POST form field " + std::string(name) + " appears more than once");
    found = f.value;
  }
  if (!found || found->empty()) {
    return invalid("POST requires the form field " + std::string(name));
  }
  return *found;
}

}  // namespace

AuthResult<PostPolicy> parse_post_policy(std::string_view text) {
  if (text.size() > kMaxPolicyBytes) return bad_policy("the policy is too large");
  if (!core::json_nesting_within(text, kMaxDepth))
    return bad_policy("the policy is nested too deeply");
  try {
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return bad_policy("the policy is not valid JSON");
    return parse_document(doc);
  } catch (const std::exception& e) {  // nlohmann type errors: the one boundary for them
    return bad_policy(std::string("the policy could not be read: ") + e.what());
  }
}

AuthResult<VerifiedPost> verify_post_policy(std::span<const FormField> fields,
                                            std::string_view bucket,
                                            const CredentialsLookup& lookup,
                                            const core::Clock& clock,
                                            const VerifierOptions& options) {
  auto policy_b64 = required(fields, "policy");
  auto algorithm = required(fields, "x-amz-algorithm");
  auto credential_text = required(fields, "x-amz-credential");
  auto date_text = required(fields, "x-amz-date");
  auto signature = required(fields, "x-amz-signature");
  for (const auto* r : {&policy_b64, &algorithm, &credential_text, &date_text, &signature}) {
    if (!*r) return tl::unexpected(r->error());
  }
  if (*algorithm != kAlgorithm) return invalid("x-amz-algorithm must be AWS4-HMAC-SHA256");
  auto credential = parse_credential(*credential_text);
  if (!credential) return invalid("x-amz-credential is malformed");
  if (auto ok = detail::check_scope(credential->scope, options, AuthErrorCode::kInvalidArgument);
      !ok) {
    return tl::unexpected(ok.error());
  }
  const auto time = parse_amz_date(*date_text);
  if (!time || format_amz_date(*time).substr(0, 8) != credential->scope.date) {
    return invalid("x-amz-date must be yyyyMMdd'T'HHmmss'Z' on the credential date");
  }
  std::optional<std::string_view> token;
  if (auto t = required(fields, "x-amz-security-token")) token = *t;
  const TimePoint now = clock.now();
  auto secret = detail::find_secret(lookup, credential->access_key_id, token, now);
  if (!secret) return tl::unexpected(secret.error());
  const core::Sha256Digest key = detail::signing_key_for(*secret, credential->scope, options);
  // Checked before the policy is decoded, so only authenticated JSON reaches the parser.
  if (!core::constant_time_equals(sign_string(key, *policy_b64), *signature)) {
    return auth_fail(AuthErrorCode::kSignatureDoesNotMatch,
                     "The request signature we calculated does not match the signature you "
                     "provided.");
  }
  const auto json_text = core::base64_decode(*policy_b64);
  if (!json_text) return bad_policy("the policy is not valid base64");
  auto policy = parse_post_policy(*json_text);
  if (!policy) return tl::unexpected(policy.error());
  if (now > policy->expiration) {
    return auth_fail(AuthErrorCode::kAccessDenied, "Invalid according to Policy: Policy expired.");
  }
  if (auto ok = check_conditions(*policy, fields, bucket); !ok) return tl::unexpected(ok.error());
  return VerifiedPost{credential->access_key_id, secret->principal, credential->scope,
                      std::move(*policy)};
}

AuthResult<void> check_content_length(const PostPolicy& policy, std::uint64_t size) {
  for (const PolicyCondition& c : policy.conditions) {
    if (c.op != PolicyCondition::Op::kContentLengthRange) continue;
    if (size > c.max) {
      return auth_fail(AuthErrorCode::kEntityTooLarge,
                       "Your proposed upload exceeds the maximum allowed size");
    }
    if (size < c.min) {
      return auth_fail(AuthErrorCode::kEntityTooSmall,
                       "Your proposed upload is smaller than the minimum allowed size");
    }
  }
  return {};
}

}  // namespace imgflow::sigv4

namespace imgflow::sigv4 {

core::Result<std::vector<FormField>> sign_post_policy(const PostPolicySpec& spec,
                                                      const SigningParams& params) {
  const Credentials& credentials = params.credentials;
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return core::fail(core::ErrorCode::kInvalidArgument, "SigV4 signing needs an access key pair");
  }
  const auto signed_at = std::chrono::floor<std::chrono::seconds>(params.time);
  if (spec.expiration <= signed_at) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "a POST policy must expire after the time it is signed at");
  }
  const std::string amz_date = format_amz_date(signed_at);
  const CredentialScope scope{amz_date.substr(0, 8), params.region, params.service};

  std::vector<FormField> fields = spec.fields;
  fields.push_back({"x-amz-algorithm", std::string(kAlgorithm)});
  fields.push_back({"x-amz-credential", credentials.access_key_id + "/" + scope.to_string()});
  fields.push_back({"x-amz-date", amz_date});
  if (!credentials.session_token.empty()) {
    fields.push_back({"x-amz-security-token", credentials.session_token});
  }

  nlohmann::ordered_json conditions = nlohmann::ordered_json::array();
  conditions.push_back({{"bucket", spec.bucket}});
  for (const FormField& field : fields) conditions.push_back({{field.name, field.value}});
  if (spec.max_length > 0) {
    conditions.push_back(
        nlohmann::ordered_json::array({"content-length-range", spec.min_length, spec.max_length}));
  }
  const nlohmann::ordered_json policy{{"expiration", format_iso8601(spec.expiration)},
                                      {"conditions", std::move(conditions)}};
  std::string policy_b64 = core::base64_encode(policy.dump());
  std::string signature =
      sign_string(derive_signing_key(credentials.secret_access_key, scope), policy_b64);
  fields.push_back({"policy", std::move(policy_b64)});
  fields.push_back({"x-amz-signature", std::move(signature)});
  return fields;
}

}  // namespace imgflow::sigv4
