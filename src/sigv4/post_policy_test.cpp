#include "sigv4/post_policy.h"

#include <gtest/gtest.h>

#include "core/digest.h"
#include "sigv4/signing_key.h"
#include "sigv4/test_support.h"

namespace imgflow::sigv4 {
namespace {

using namespace std::chrono_literals;
using namespace testing_support;

const char* const kPolicy = R"({
  "expiration": "2013-05-24T01:00:00.000Z",
  "conditions": [
    {"bucket": "uploads"},
    ["starts-with", "$key", "user/alice/"],
    {"acl": "private"},
    ["starts-with", "$Content-Type", "image/"],
    ["content-length-range", 1, 10485760],
    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
    {"x-amz-date": "20130524T000000Z"}
  ]
})";

std::vector<FormField> form(std::string_view policy_json = kPolicy,
                            std::string_view secret = kSecret) {
  const std::string b64 = core::base64_encode(policy_json);
  const CredentialScope scope{"20130524", "us-east-1", "s3"};
  return {{"key", "user/alice/cat.jpg"},
          {"acl", "private"},
          {"Content-Type", "image/jpeg"},
          {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
          {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
          {"X-Amz-Date", "20130524T000000Z"},
          {"Policy", b64},
          {"X-Amz-Signature", sign_string(derive_signing_key(secret, scope), b64)}};
}

void set(std::vector<FormField>& fields, std::string_view name, std::string value) {
  for (FormField& f : fields) {
    if (f.name == name) f.value = std::move(value);
  }
}

AuthErrorCode code_of(const AuthResult<VerifiedPost>& r) {
  EXPECT_FALSE(r.has_value());
  return r ? AuthErrorCode::kAccessDenied : r.error().code;
}

TEST(PostPolicyTest, GoodUploadPasses) {
  core::ManualClock clock(t0() + 30min);
  auto v = verify_post_policy(form(), "uploads", kLookup, clock);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->principal, "admin");
  EXPECT_TRUE(check_content_length(v->policy, 1));
  EXPECT_TRUE(check_content_length(v->policy, 10485760));
}

TEST(PostPolicyTest, ContentLengthRangeIsEnforced) {
  core::ManualClock clock(t0());
  auto v = verify_post_policy(form(), "uploads", kLookup, clock);
  ASSERT_TRUE(v);
  auto big = check_content_length(v->policy, 10485761);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, AuthErrorCode::kEntityTooLarge);
  auto small = check_content_length(v->policy, 0);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, AuthErrorCode::kEntityTooSmall);
}

TEST(PostPolicyTest, ExpiredPolicyIsRefused) {
  core::ManualClock clock(t0() + 1h + 1s);
  auto r = verify_post_policy(form(), "uploads", kLookup, clock);
  EXPECT_EQ(code_of(r), AuthErrorCode::kAccessDenied);
  EXPECT_NE(r.error().message.find("Policy expired"), std::string::npos);
}

TEST(PostPolicyTest, FieldNotCoveredIsRefused) {
  core::ManualClock clock(t0());
  auto fields = form();
  fields.push_back({"x-amz-meta-owner", "mallory"});
  auto r = verify_post_policy(fields, "uploads", kLookup, clock);
  EXPECT_EQ(code_of(r), AuthErrorCode::kAccessDenied);
  EXPECT_NE(r.error().message.find("Extra input fields: x-amz-meta-owner"), std::string::npos);
  // x-ignore-* fields are exempt.
  auto ignored = form();
  ignored.push_back({"X-Ignore-Tracking", "1"});
  EXPECT_TRUE(verify_post_policy(ignored, "uploads", kLookup, clock));
}

TEST(PostPolicyTest, ConditionMismatchIsRefused) {
  core::ManualClock clock(t0());
  auto fields = form();
  set(fields, "key", "user/bob/cat.jpg");
  auto r = verify_post_policy(fields, "uploads", kLookup, clock);
  EXPECT_EQ(code_of(r), AuthErrorCode::kAccessDenied);
  EXPECT_NE(r.error().message.find("starts-with"), std::string::npos);

  auto type = form();
  set(type, "Content-Type", "text/html");
  EXPECT_EQ(code_of(verify_post_policy(type, "uploads", kLookup, clock)),
            AuthErrorCode::kAccessDenied);
  EXPECT_EQ(code_of(verify_post_policy(form(), "processed", kLookup, clock)),
            AuthErrorCode::kAccessDenied);
}

TEST(PostPolicyTest, SignatureAndFieldsAreChecked) {
  core::ManualClock clock(t0());
  EXPECT_EQ(code_of(verify_post_policy(form(kPolicy, "wrong"), "uploads", kLookup, clock)),
            AuthErrorCode::kSignatureDoesNotMatch);
  auto missing = form();
  missing.erase(missing.begin() + 3);  // x-amz-algorithm
  EXPECT_EQ(code_of(verify_post_policy(missing, "uploads", kLookup, clock)),
            AuthErrorCode::kInvalidArgument);
  auto tampered = form();
  set(tampered, "Policy", core::base64_encode(std::string(kPolicy) + " "));
  EXPECT_EQ(code_of(verify_post_policy(tampered, "uploads", kLookup, clock)),
            AuthErrorCode::kSignatureDoesNotMatch);
}

TEST(PostPolicyTest, BadPolicyDocumentsAreRefused) {
  for (
      std::string_view bad : {
          "not json",
          "[]",
          R"({"conditions": []})",
          R"({"expiration": "tomorrow", "conditions": []})",
          R"({"expiration": "2013-05-24T01:00:00Z", "conditions": [["between", "$a", "b"]]})",
          R"({"expiration": "2013-05-24T01:00:00Z", "conditions": [["eq", "key", "b"]]})",
          R"({"expiration": "2013-05-24T01:00:00Z", "conditions": [{"a": 1}]})",
          R"({"expiration": "2013-05-24T01:00:00Z", "conditions": [["content-length-range", 5, 1]]})",
          R"({"expiration": "2013-05-24T01:00:00Z", "conditions": [[[[[[[[[[1]]]]]]]]]]})",
      }) {
    auto p = parse_post_policy(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, AuthErrorCode::kInvalidPolicyDocument) << bad;
  }
  auto p = parse_post_policy(
      R"({"expiration": "2013-05-24T01:00:00Z", "conditions": [["content-length-range", "0", "5"]]})");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->conditions.at(0).max, 5U);
}

TEST(PostPolicyTest, SignedFormsVerifyAndBindWhatTheySign) {
  PostPolicySpec spec;
  spec.bucket = "uploads";
  spec.fields = {{"key", "uploads/0f.jpg"}, {"Content-Type", "image/jpeg"}};
  spec.min_length = 1;
  spec.max_length = 2048;
  spec.expiration = t0() + 5min;
  SigningParams params = params_at(t0());
  params.credentials.session_token = "FwoGZXIvYXdzEJr//token";
  auto fields = sign_post_policy(spec, params);
  ASSERT_TRUE(fields) << fields.error().message;
  std::vector<std::string> names;
  for (const FormField& f : *fields) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"key", "Content-Type", "x-amz-algorithm",
                                             "x-amz-credential", "x-amz-date",
                                             "x-amz-security-token", "policy", "x-amz-signature"}));
  const CredentialsLookup with_token = [](std::string_view id) -> std::optional<SecretKey> {
    if (id != kAccessKey) return std::nullopt;
    return SecretKey{std::string(kSecret), "function", "FwoGZXIvYXdzEJr//token", std::nullopt};
  };

  core::ManualClock clock(t0() + 4min);
  auto v = verify_post_policy(*fields, "uploads", with_token, clock);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->policy.expiration, t0() + 5min);
  EXPECT_TRUE(check_content_length(v->policy, 2048));
  EXPECT_EQ(check_content_length(v->policy, 2049).error().code, AuthErrorCode::kEntityTooLarge);
  EXPECT_EQ(check_content_length(v->policy, 0).error().code, AuthErrorCode::kEntityTooSmall);

  std::vector<FormField> other_key = *fields;
  set(other_key, "key", "uploads/mine.jpg");
  EXPECT_EQ(code_of(verify_post_policy(other_key, "uploads", with_token, clock)),
            AuthErrorCode::kAccessDenied);
  std::vector<FormField> other_type = *fields;
  set(other_type, "Content-Type", "text/html");
  EXPECT_EQ(code_of(verify_post_policy(other_type, "uploads", with_token, clock)),
            AuthErrorCode::kAccessDenied);
  EXPECT_EQ(code_of(verify_post_policy(*fields, "processed", with_token, clock)),
            AuthErrorCode::kAccessDenied);
  clock.advance(2min);
  EXPECT_EQ(code_of(verify_post_policy(*fields, "uploads", with_token, clock)),
            AuthErrorCode::kAccessDenied);
}

TEST(PostPolicyTest, SigningRefusesAnExpiredSpecOrNoCredentials) {
  PostPolicySpec spec;
  spec.bucket = "uploads";
  spec.expiration = t0();
  EXPECT_FALSE(sign_post_policy(spec, params_at(t0())));
  spec.expiration = t0() + 1s;
  EXPECT_TRUE(sign_post_policy(spec, params_at(t0())));
  EXPECT_FALSE(sign_post_policy(spec, params_at(t0(), "")));
}

}  // namespace
}  // namespace imgflow::sigv4
