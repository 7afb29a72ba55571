#include "sigv4/verifier.h"

#include <gtest/gtest.h>

#include "core/digest.h"
#include "http/request_head.h"
#include "sigv4/authorization_header.h"
#include "sigv4/signer.h"
#include "sigv4/signing_key.h"
#include "sigv4/test_support.h"

namespace imgflow::sigv4 {
namespace {

using namespace std::chrono_literals;
using namespace testing_support;

http::RequestHead put_request() {
  http::RequestHead r;
  r.method = "PUT";
  r.path = "/uploads/cat%20photo.jpg";
  r.headers = {{"Host", "localhost:9000"}, {"Content-Type", "image/jpeg"}};
  return r;
}

http::RequestHead signed_put(std::string_view secret = kSecret, TimePoint at = t0()) {
  http::RequestHead r = put_request();
  SigningParams p = params_at(at, secret);
  p.payload_hash = core::to_hex(core::sha256("meow"));
  EXPECT_TRUE(sign_request(r, p));
  return r;
}

http::RequestHead presigned_get(std::chrono::seconds expires = 3600s) {
  http::RequestHead r;
  r.method = "GET";
  r.path = "/processed/cat/small.webp";
  r.headers = {{"Host", "localhost:9000"}};
  EXPECT_TRUE(presign(r, params_at(t0()), expires));
  return r;
}

AuthErrorCode code_of(const AuthResult<VerifiedRequest>& r) {
  EXPECT_FALSE(r.has_value());
  return r ? AuthErrorCode::kAccessDenied : r.error().code;
}

void replace(std::string& s, std::string_view from, std::string_view to) {
  const auto at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  s.replace(at, from.size(), to);
}

// --- Authorization header ------------------------------------------------------------------

TEST(VerifyHeaderTest, GoodRequestPasses) {
  core::ManualClock clock(t0());
  auto r = verify_header(signed_put(), kLookup, clock);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->access_key_id, kAccessKey);
  EXPECT_EQ(r->principal, "admin");
  EXPECT_EQ(r->payload_mode, PayloadMode::kSha256);
  EXPECT_TRUE(check_payload_sha256(*r, core::sha256("meow")));
  auto mismatch = check_payload_sha256(*r, core::sha256("woof"));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, AuthErrorCode::kXAmzContentSHA256Mismatch);
}

TEST(VerifyHeaderTest, WrongSecretIsSignatureDoesNotMatch) {
  core::ManualClock clock(t0());
  EXPECT_EQ(code_of(verify_header(signed_put("not-the-secret"), kLookup, clock)),
            AuthErrorCode::kSignatureDoesNotMatch);
}

TEST(VerifyHeaderTest, TamperedPathIsSignatureDoesNotMatch) {
  core::ManualClock clock(t0());
  http::RequestHead r = signed_put();
  r.path = "/uploads/dog.jpg";
  EXPECT_EQ(code_of(verify_header(r, kLookup, clock)), AuthErrorCode::kSignatureDoesNotMatch);
}

TEST(VerifyHeaderTest, SkewBeyondFifteenMinutesIsRefused) {
  core::ManualClock clock(t0() + 16min);
  EXPECT_EQ(code_of(verify_header(signed_put(), kLookup, clock)),
            AuthErrorCode::kRequestTimeTooSkewed);
  clock.set(t0() - 16min);
  EXPECT_EQ(code_of(verify_header(signed_put(), kLookup, clock)),
            AuthErrorCode::kRequestTimeTooSkewed);
  clock.set(t0() + 14min);
  EXPECT_TRUE(verify_header(signed_put(), kLookup, clock));
}

TEST(VerifyHeaderTest, UnsignedAmzHeaderIsRefused) {
  core::ManualClock clock(t0());
  http::RequestHead r = signed_put();
  r.headers.push_back({"X-Amz-Meta-Owner", "mallory"});
  auto result = verify_header(r, kLookup, clock);
  EXPECT_EQ(code_of(result), AuthErrorCode::kAccessDenied);
  EXPECT_NE(result.error().message.find("x-amz-meta-owner"), std::string::npos);
}

TEST(VerifyHeaderTest, HostMustBeSigned) {
  core::ManualClock clock(t0());
  http::RequestHead r = put_request();
  r.headers.erase(r.headers.begin());  // sign without Host...
  SigningParams p = params_at(t0());
  ASSERT_TRUE(sign_request(r, p));
  r.headers.push_back({"Host", "localhost:9000"});  // ...then send it
  EXPECT_EQ(code_of(verify_header(r, kLookup, clock)),
            AuthErrorCode::kAuthorizationHeaderMalformed);
}

TEST(VerifyHeaderTest, UnknownAccessKey) {
  core::ManualClock clock(t0());
  const CredentialsLookup none = [](std::string_view) { return std::optional<SecretKey>(); };
  EXPECT_EQ(code_of(verify_header(signed_put(), none, clock)), AuthErrorCode::kInvalidAccessKeyId);
}

TEST(VerifyHeaderTest, ContentSha256IsRequiredAndChecked) {
  core::ManualClock clock(t0());
  http::RequestHead r = put_request();
  SigningParams p = params_at(t0());
  p.add_content_sha256_header = false;
  ASSERT_TRUE(sign_request(r, p));
  EXPECT_EQ(code_of(verify_header(r, kLookup, clock)), AuthErrorCode::kInvalidRequest);

  http::RequestHead bad = put_request();
  p.add_content_sha256_header = true;
  p.payload_hash = "not-a-hash";
  ASSERT_TRUE(sign_request(bad, p));
  EXPECT_EQ(code_of(verify_header(bad, kLookup, clock)), AuthErrorCode::kInvalidArgument);
}

TEST(VerifyHeaderTest, StreamingNeedsDecodedLength) {
  core::ManualClock clock(t0());
  http::RequestHead r = put_request();
  SigningParams p = params_at(t0());
  p.payload_hash = std::string(kStreamingUnsignedPayloadTrailer);
  r.headers.push_back({"X-Amz-Trailer", "x-amz-checksum-crc32"});
  ASSERT_TRUE(sign_request(r, p));
  EXPECT_EQ(code_of(verify_header(r, kLookup, clock)), AuthErrorCode::kMissingContentLength);

  http::RequestHead ok = put_request();
  ok.headers.push_back({"X-Amz-Trailer", "x-amz-checksum-crc32"});
  ok.headers.push_back({"X-Amz-Decoded-Content-Length", "42"});
  ASSERT_TRUE(sign_request(ok, p));
  auto v = verify_header(ok, kLookup, clock);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->payload_mode, PayloadMode::kStreamingUnsignedTrailer);
  EXPECT_EQ(v->decoded_content_length, 42U);
  EXPECT_EQ(v->trailer, "x-amz-checksum-crc32");
}

TEST(VerifyHeaderTest, WrongRegionIsMalformed) {
  core::ManualClock clock(t0());
  http::RequestHead r = put_request();
  SigningParams p = params_at(t0());
  p.region = "eu-west-1";
  ASSERT_TRUE(sign_request(r, p));
  EXPECT_EQ(code_of(verify_header(r, kLookup, clock)),
            AuthErrorCode::kAuthorizationHeaderMalformed);
  VerifierOptions any_region;
  any_region.region = "";
  EXPECT_TRUE(verify_header(r, kLookup, clock, any_region));
}

TEST(VerifyHeaderTest, SessionTokenMustMatch) {
  core::ManualClock clock(t0());
  const CredentialsLookup temp = [](std::string_view) {
    return std::optional<SecretKey>(SecretKey{std::string(kSecret), "role", "tok3n", std::nullopt});
  };
  EXPECT_EQ(code_of(verify_header(signed_put(), temp, clock)),
            AuthErrorCode::kMissingSecurityHeader);
  http::RequestHead r = put_request();
  SigningParams p = params_at(t0());
  p.credentials.session_token = "tok3n";
  ASSERT_TRUE(sign_request(r, p));
  EXPECT_TRUE(verify_header(r, temp, clock));
  EXPECT_EQ(code_of(verify_header(r, kLookup, clock)), AuthErrorCode::kInvalidToken);
  const CredentialsLookup expired = [](std::string_view) {
    return std::optional<SecretKey>(SecretKey{std::string(kSecret), "role", "tok3n", t0()});
  };
  EXPECT_EQ(code_of(verify_header(r, expired, clock)), AuthErrorCode::kExpiredToken);
}

TEST(VerifyHeaderTest, KeyCacheGivesSameResult) {
  core::ManualClock clock(t0());
  SigningKeyCache cache(2);
  VerifierOptions options;
  options.key_cache = &cache;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(verify_header(signed_put(), kLookup, clock, options));
  EXPECT_EQ(code_of(verify_header(signed_put("nope"), kLookup, clock, options)),
            AuthErrorCode::kSignatureDoesNotMatch);
}

// The S3 API reference examples ("Signature Calculations for the Authorization Header: Transferring
// Payload in a Single Chunk" and "Query String Authentication"), as awscli/boto3 produce them.
TEST(VerifyHeaderTest, S3ReferenceGetObject) {
  http::RequestHead r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {
      {"Host", "examplebucket.s3.amazonaws.com"},
      {"Range", "bytes=0-9"},
      {"x-amz-content-sha256", std::string(kEmptySha256)},
      {"x-amz-date", "20130524T000000Z"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
       "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
       "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"}};
  core::ManualClock clock(t0());
  auto v = verify_header(r, kLookup, clock);
  ASSERT_TRUE(v) << v.error().message;
}

TEST(VerifyHeaderTest, S3ReferenceListObjects) {
  http::RequestHead r;
  r.method = "GET";
  r.path = "/";
  r.query = "max-keys=2&prefix=J";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"x-amz-content-sha256", std::string(kEmptySha256)},
               {"x-amz-date", "20130524T000000Z"}};
  SigningParams p = params_at(t0());
  p.payload_hash = std::string(kEmptySha256);
  auto s = sign_request(r, p);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(VerifyPresignedTest, S3ReferencePresignedGet) {
  http::RequestHead r;
  r.method = "GET";
  r.path = "/test.txt";
  r.query =
      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
      "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
      "SignedHeaders=host&X-Amz-Signature="
      "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  core::ManualClock clock(t0() + 1h);
  auto v = verify_presigned(r, kLookup, clock);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->presigned);
  EXPECT_EQ(v->payload_mode, PayloadMode::kUnsigned);
}

// --- Presigned URLs ------------------------------------------------------------------------

TEST(VerifyPresignedTest, GoodUrlPassesUntilExpiry) {
  core::ManualClock clock(t0() + 3600s);
  http::RequestHead r = presigned_get();
  auto v = verify_presigned(r, kLookup, clock);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->principal, "admin");
  EXPECT_TRUE(verify(r, kLookup, clock));
  clock.set(t0() + 3601s);
  auto expired = verify_presigned(r, kLookup, clock);
  EXPECT_EQ(code_of(expired), AuthErrorCode::kAccessDenied);
  EXPECT_EQ(expired.error().message, "Request has expired");
}

TEST(VerifyPresignedTest, ExpiresOutOfRangeIsRefused) {
  core::ManualClock clock(t0());
  for (std::string_view bad : {"0", "604801", "-1", "abc", ""}) {
    http::RequestHead r = presigned_get();
    replace(r.query, "X-Amz-Expires=3600", "X-Amz-Expires=" + std::string(bad));
    EXPECT_EQ(code_of(verify_presigned(r, kLookup, clock)),
              AuthErrorCode::kAuthorizationQueryParametersError)
        << bad;
  }
  http::RequestHead max_ok = presigned_get(604800s);
  EXPECT_TRUE(verify_presigned(max_ok, kLookup, clock));
  http::RequestHead r;
  r.method = "GET";
  r.headers = {{"Host", "h"}};
  EXPECT_FALSE(presign(r, params_at(t0()), 604801s));
  EXPECT_FALSE(presign(r, params_at(t0()), 0s));
}

TEST(VerifyPresignedTest, NotYetValidIsRefused) {
  core::ManualClock clock(t0() - 16min);
  EXPECT_EQ(code_of(verify_presigned(presigned_get(), kLookup, clock)),
            AuthErrorCode::kAccessDenied);
}

TEST(VerifyPresignedTest, UnsignedAmzHeaderIsRefused) {
  core::ManualClock clock(t0());
  http::RequestHead r = presigned_get();
  r.headers.push_back({"x-amz-acl", "public-read"});
  EXPECT_EQ(code_of(verify_presigned(r, kLookup, clock)), AuthErrorCode::kAccessDenied);
}

TEST(VerifyPresignedTest, HostMustBeSigned) {
  core::ManualClock clock(t0());
  http::RequestHead r;
  r.method = "GET";
  r.path = "/a";
  ASSERT_TRUE(presign(r, params_at(t0()), 60s));
  r.headers.push_back({"Host", "localhost"});
  EXPECT_EQ(code_of(verify_presigned(r, kLookup, clock)),
            AuthErrorCode::kAuthorizationQueryParametersError);
}

TEST(VerifyPresignedTest, WrongSecretAndTamperingAreRefused) {
  core::ManualClock clock(t0());
  http::RequestHead r;
  r.method = "GET";
  r.path = "/a";
  r.headers = {{"Host", "localhost"}};
  ASSERT_TRUE(presign(r, params_at(t0(), "wrong"), 60s));
  EXPECT_EQ(code_of(verify_presigned(r, kLookup, clock)), AuthErrorCode::kSignatureDoesNotMatch);

  http::RequestHead t = presigned_get();
  t.query += "&response-content-type=text/html";
  EXPECT_EQ(code_of(verify_presigned(t, kLookup, clock)), AuthErrorCode::kSignatureDoesNotMatch);
}

TEST(VerifyPresignedTest, RepeatedOrMissingParametersAreRefused) {
  core::ManualClock clock(t0());
  http::RequestHead r = presigned_get();
  r.query += "&X-Amz-Signature=00";
  EXPECT_EQ(code_of(verify_presigned(r, kLookup, clock)),
            AuthErrorCode::kAuthorizationQueryParametersError);
  http::RequestHead m = presigned_get();
  replace(m.query, "X-Amz-SignedHeaders=host&", "");
  EXPECT_EQ(code_of(verify_presigned(m, kLookup, clock)),
            AuthErrorCode::kAuthorizationQueryParametersError);
}

TEST(VerifyTest, ClassifiesAndRefusesBothMechanisms) {
  core::ManualClock clock(t0());
  http::RequestHead anonymous = put_request();
  EXPECT_EQ(classify(anonymous), AuthKind::kAnonymous);
  EXPECT_EQ(code_of(verify(anonymous, kLookup, clock)), AuthErrorCode::kAccessDenied);
  EXPECT_EQ(classify(signed_put()), AuthKind::kHeader);
  http::RequestHead both = presigned_get();
  EXPECT_EQ(classify(both), AuthKind::kPresigned);
  both.headers.push_back({"Authorization", "AWS4-HMAC-SHA256 x"});
  EXPECT_EQ(classify(both), AuthKind::kAmbiguous);
  EXPECT_EQ(code_of(verify(both, kLookup, clock)), AuthErrorCode::kInvalidArgument);
}

// --- Authorization header parsing ----------------------------------------------------------

TEST(AuthorizationHeaderTest, ParsesWithOrWithoutSpaces) {
  for (std::string_view text :
       {"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;"
        "x-amz-date,Signature=abc"}) {
    auto h = parse_authorization_header(text);
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_EQ(h->credential.access_key_id, "AK");
    EXPECT_EQ(h->credential.scope.to_string(), "20130524/us-east-1/s3/aws4_request");
    EXPECT_EQ(h->signed_headers, (std::vector<std::string>{"host", "x-amz-date"}));
    EXPECT_EQ(h->signature, "abc");
  }
}

TEST(AuthorizationHeaderTest, RefusesMalformedHeaders) {
  const std::string scope = "Credential=AK/20130524/us-east-1/s3/aws4_request";
  for (const std::string& text : std::vector<std::string>{
           "AWS4-HMAC-SHA256",
           "AWS4-HMAC-SHA256 " + scope,
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host, Signature=",
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=x-amz-date;host, Signature=a",
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;host, Signature=a",
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=Host, Signature=a",
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host, Signature=a, Signature=b",
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host, Signature=a, Foo=b",
           "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, "
           "Signature=a",
           "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, "
           "SignedHeaders=host, Signature=a",
           "AWS4-HMAC-SHA256 Credential=AK/20130524//s3/aws4_request, SignedHeaders=host, "
           "Signature=a",
       }) {
    auto h = parse_authorization_header(text);
    ASSERT_FALSE(h) << text;
    EXPECT_EQ(h.error().code, AuthErrorCode::kAuthorizationHeaderMalformed) << text;
  }
  auto v2 = parse_authorization_header("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=");
  ASSERT_FALSE(v2);
  EXPECT_EQ(v2.error().code, AuthErrorCode::kInvalidRequest);
}

}  // namespace
}  // namespace imgflow::sigv4
