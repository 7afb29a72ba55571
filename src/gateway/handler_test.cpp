#include "gateway/handler.h"

#include <gtest/gtest.h>

#include "core/digest.h"
#include "sigv4/amz_date.h"
#include "sigv4/chunk_signer.h"
#include "sigv4/post_policy.h"
#include "sigv4/signer.h"
#include "sigv4/signing_key.h"
#include "storage/memory_store.h"

namespace imgflow::gateway {
namespace {

constexpr std::string_view kAdminId = "IFADMINKEY0000000000";
constexpr std::string_view kAdminSecret = "adminsecretadminsecretadminsecretadminse";

std::optional<sigv4::SecretKey> lookup_fn(std::string_view id) {
  if (id != kAdminId) return std::nullopt;
  return sigv4::SecretKey{std::string(kAdminSecret), "admin", "", std::nullopt};
}

// The protocol layer over a MemoryStore: requests go in as the HTTP server would pass them.
class HandlerTest : public ::testing::Test {
 protected:
  HandlerTest() : clock_(*sigv4::parse_amz_date("20261126T120000Z")), store_(clock_) {
    EXPECT_TRUE(store_.create_bucket("uploads"));
    EXPECT_TRUE(store_.create_bucket("processed"));
  }

  static HttpRequest request(std::string method, std::string path, std::string query = "",
                             std::vector<http::Header> headers = {}) {
    HttpRequest r;
    r.wire = {std::move(method), std::move(path), std::move(query), std::move(headers)};
    r.wire.headers.push_back({"Host", "127.0.0.1:9000"});
    r.remote_ip = "192.0.2.7";
    r.request_id = "REQ1";
    r.host = "127.0.0.1:9000";
    return r;
  }

  // An anonymous PUT of `body` with an image type and a declared length.
  static HttpRequest anonymous_put(std::string path, std::string_view body,
                                   std::vector<http::Header> extra = {}) {
    extra.push_back({"Content-Type", "image/jpeg"});
    extra.push_back({"Content-Length", std::to_string(body.size())});
    return request("PUT", std::move(path), "", std::move(extra));
  }

  // Signs as admin at the store's clock, with the body's SHA-256 as the payload hash.
  HttpRequest signed_request(std::string method, std::string path, std::string_view body = "",
                             std::string query = "", std::vector<http::Header> headers = {},
                             std::optional<std::string> payload_hash = std::nullopt,
                             std::string_view secret = kAdminSecret) {
    HttpRequest r =
        request(std::move(method), std::move(path), std::move(query), std::move(headers));
    sigv4::SigningParams params;
    params.credentials = {std::string(kAdminId), std::string(secret), ""};
    params.time = clock_.now();
    params.payload_hash = payload_hash ? *payload_hash : core::to_hex(core::sha256(body));
    auto signed_ok = sigv4::sign_request(r.wire, params);
    EXPECT_TRUE(signed_ok);
    if (signed_ok) last_signature_ = signed_ok->signature;
    return r;
  }

  Response run(const HttpRequest& r, std::string_view body = "") {
    storage::StringSource source(body);
    const HandlerContext ctx{
        store_, lookup_, clock_, options_, [] { return "m 1\n"; }, [] { return true; }, admin_};
    return handle(r, source, ctx);
  }

  static std::string body_of(Response& r) {
    if (!r.object) return r.body;
    std::string out;
    char buf[4096];
    while (auto got = r.object->read(buf, sizeof buf)) {
      if (*got == 0) break;
      out.append(buf, *got);
    }
    return out;
  }

  std::size_t pending_events() { return *store_.count_pending(); }

  core::ManualClock clock_;
  storage::MemoryStore store_;
  sigv4::CredentialsLookup lookup_ = lookup_fn;
  GatewayOptions options_;
  AdminAction admin_;  // unset: no admin paths
  std::string last_signature_;
};

TEST_F(HandlerTest, AnonymousImageUploadToSourceRecordsAnEvent) {
  Response r = run(request("PUT", "/uploads/cat.jpg", "",
                           {{"Content-Type", "image/jpeg"}, {"Content-Length", "4"}}),
                   "meow");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("ETag"), "\"" + core::to_hex(core::md5("meow")) + "\"");
  auto events = store_.claim(10, std::chrono::seconds(30));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].event_name, "ObjectCreated:Put");
  EXPECT_EQ((*events)[0].key, "cat.jpg");
  EXPECT_EQ(
      (*events)[0].payload,
      R"({"principal":"anonymous","accessKeyId":"","sourceIPAddress":"192.0.2.7","requestId":"REQ1"})");
}

TEST_F(HandlerTest, AnonymousIsDeniedEverythingElse) {
  ASSERT_TRUE(store_.put("uploads", "a.jpg", "x"));
  for (const auto& [method, path, query] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/uploads/a.jpg", ""},
           {"GET", "/uploads", "list-type=2"},
           {"DELETE", "/uploads/a.jpg", ""},
           {"GET", "/processed/a.jpg", ""},
           {"GET", "/", ""}}) {
    Response r = run(request(method, path, query));
    EXPECT_EQ(r.status, 403) << method << " " << path;
    EXPECT_NE(r.body.find("<Code>AccessDenied</Code>"), std::string::npos);
    EXPECT_EQ(r.error_code, "AccessDenied");
  }
  Response html = run(request("PUT", "/uploads/x.html", "",
                              {{"Content-Type", "text/html"}, {"Content-Length", "1"}}),
                      "x");
  EXPECT_EQ(html.status, 403);
  Response big = run(request("PUT", "/uploads/x.jpg", "",
                             {{"Content-Type", "image/jpeg"}, {"Content-Length", "999999999999"}}));
  EXPECT_EQ(big.error_code, "EntityTooLarge");
  EXPECT_EQ(pending_events(), 0u);
}

TEST_F(HandlerTest, SignedPutAndGetRoundTrip) {
  Response put = run(signed_request("PUT", "/processed/a%20b.jpg", "hello", "",
                                    {{"Content-Type", "image/jpeg"}, {"x-amz-meta-k", "v"}}),
                     "hello");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(pending_events(), 0u);  // the destination records no events
  Response get = run(signed_request("GET", "/processed/a%20b.jpg"));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(get.header("x-amz-meta-k"), "v");
  EXPECT_EQ(body_of(get), "hello");
}

TEST_F(HandlerTest, BodyThatDoesNotMatchItsSignedHashIsNotStored) {
  Response r = run(signed_request("PUT", "/uploads/a.jpg", "signed body"), "other body!");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code, "XAmzContentSHA256Mismatch");
  EXPECT_FALSE(store_.head("uploads", "a.jpg"));
  EXPECT_EQ(pending_events(), 0u);
}

TEST_F(HandlerTest, WrongSecretAndSkewedClockAreRefused) {
  Response wrong = run(signed_request("GET", "/uploads/a.jpg", "", "", {}, std::nullopt,
                                      "wrongsecretwrongsecretwrongsecretwrongse"));
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.error_code, "SignatureDoesNotMatch");
  HttpRequest old = signed_request("GET", "/uploads/a.jpg");
  clock_.advance(std::chrono::minutes(20));
  Response skewed = run(old);
  EXPECT_EQ(skewed.status, 403);
  EXPECT_EQ(skewed.error_code, "RequestTimeTooSkewed");
}

TEST_F(HandlerTest, StreamingSignedPayloadIsDecodedAndVerified) {
  const std::string data = "chunked payload bytes";
  const std::vector<http::Header> headers = {
      {"Content-Encoding", "aws-chunked"},
      {"x-amz-decoded-content-length", std::to_string(data.size())}};
  const auto frame_body = [&](const HttpRequest& r, bool tamper) {
    const sigv4::CredentialScope scope{"20261126", "us-east-1", "s3"};
    sigv4::ChunkSigner signer(sigv4::derive_signing_key(kAdminSecret, scope), "20261126T120000Z",
                              scope, last_signature_);
    (void)r;
    // One statement per chunk: the chain is signed in order (operands of + are unsequenced).
    std::string body = signer.frame(data);
    body += signer.frame("");
    if (tamper) body[body.find("chunked")] = 'C';
    return body;
  };
  HttpRequest good = signed_request("PUT", "/uploads/s.jpg", "", "", headers,
                                    std::string(sigv4::kStreamingSignedPayload));
  Response ok = run(good, frame_body(good, false));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(store_.get_string("uploads", "s.jpg").value_or(""), data);

  HttpRequest bad = signed_request("PUT", "/uploads/t.jpg", "", "", headers,
                                   std::string(sigv4::kStreamingSignedPayload));
  Response refused = run(bad, frame_body(bad, true));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.error_code, "SignatureDoesNotMatch");
  EXPECT_FALSE(store_.head("uploads", "t.jpg"));
  EXPECT_EQ(pending_events(), 1u);
}

TEST_F(HandlerTest, UnsignedTrailerPayloadIsCheckedAgainstItsCrc) {
  const std::string data = "payload with a trailing checksum";
  const auto body_with = [&](std::uint32_t crc) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return std::string(size) + "\r\n" + data +
           "\r\n0\r\nx-amz-checksum-crc32:" + core::base64_encode(core::be32_bytes(crc)) +
           "\r\n\r\n";
  };
  const std::vector<http::Header> headers = {
      {"Content-Encoding", "aws-chunked"},
      {"x-amz-decoded-content-length", std::to_string(data.size())},
      {"x-amz-trailer", "x-amz-checksum-crc32"}};
  const std::string mode(sigv4::kStreamingUnsignedPayloadTrailer);
  Response ok = run(signed_request("PUT", "/uploads/crc.jpg", "", "", headers, mode),
                    body_with(core::crc32(data)));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(store_.get_string("uploads", "crc.jpg").value_or(""), data);
  Response bad = run(signed_request("PUT", "/uploads/bad.jpg", "", "", headers, mode),
                     body_with(core::crc32(data) ^ 1));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.error_code, "BadDigest");
  EXPECT_FALSE(store_.head("uploads", "bad.jpg"));
}

TEST_F(HandlerTest, RangesAndConditionals) {
  auto info = store_.put("processed", "r.bin", "0123456789");
  ASSERT_TRUE(info);
  Response range = run(signed_request("GET", "/processed/r.bin", "", "", {{"Range", "bytes=2-4"}}));
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.header("Content-Range"), "bytes 2-4/10");
  EXPECT_EQ(body_of(range), "234");
  Response bad_range =
      run(signed_request("GET", "/processed/r.bin", "", "", {{"Range", "bytes=50-60"}}));
  EXPECT_EQ(bad_range.status, 416);
  EXPECT_EQ(bad_range.error_code, "InvalidRange");
  const std::string etag = "\"" + info->etag + "\"";
  Response not_modified =
      run(signed_request("GET", "/processed/r.bin", "", "", {{"If-None-Match", etag}}));
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_FALSE(not_modified.object);
  Response failed =
      run(signed_request("GET", "/processed/r.bin", "", "", {{"If-Match", "\"nope\""}}));
  EXPECT_EQ(failed.status, 412);
  Response since = run(signed_request("GET", "/processed/r.bin", "", "",
                                      {{"If-Modified-Since", "Thu, 26 Nov 2026 12:00:00 GMT"}}));
  EXPECT_EQ(since.status, 304);
  Response head = run(signed_request("HEAD", "/processed/r.bin"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_length, 10u);
  EXPECT_FALSE(head.object);
}

TEST_F(HandlerTest, ListObjectsV2EscapesAndUrlEncodesKeys) {
  ASSERT_TRUE(store_.put("processed", "a&b <c>.jpg", "x"));
  ASSERT_TRUE(store_.put("processed", "dir/x+y.jpg", "x"));
  Response plain = run(signed_request("GET", "/processed", "", "list-type=2"));
  EXPECT_EQ(plain.status, 200);
  EXPECT_NE(plain.body.find("<Key>a&amp;b &lt;c&gt;.jpg</Key>"), std::string::npos) << plain.body;
  Response url =
      run(signed_request("GET", "/processed", "", "delimiter=%2F&encoding-type=url&list-type=2"));
  EXPECT_NE(url.body.find("<Key>a%26b%20%3Cc%3E.jpg</Key>"), std::string::npos) << url.body;
  EXPECT_NE(url.body.find("<Prefix>dir/</Prefix>"), std::string::npos);
  EXPECT_NE(url.body.find("<KeyCount>2</KeyCount>"), std::string::npos);
}

TEST_F(HandlerTest, MalformedCompleteMultipartIsMalformedXml) {
  auto id = store_.create_multipart_upload("processed", "m.bin", {});
  ASSERT_TRUE(id);
  const std::string xml = "<CompleteMultipartUpload><Part>";
  Response r = run(signed_request("POST", "/processed/m.bin", xml, "uploadId=" + *id), xml);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code, "MalformedXML");
}

TEST_F(HandlerTest, CopyIntoSourceRecordsACopyEvent) {
  ASSERT_TRUE(store_.put("processed", "src.jpg", "bytes"));
  Response r = run(signed_request("PUT", "/uploads/dst.jpg", "", "",
                                  {{"x-amz-copy-source", "/processed/src.jpg"}}));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("<CopyObjectResult"), std::string::npos);
  auto events = store_.claim(10, std::chrono::seconds(30));
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].event_name, "ObjectCreated:Copy");
  EXPECT_NE((*events)[0].payload.find("\"principal\":\"admin\""), std::string::npos);
}

TEST_F(HandlerTest, ErrorsCarryS3XmlAndStatus) {
  Response missing = run(signed_request("GET", "/processed/none"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("<Code>NoSuchKey</Code>"), std::string::npos);
  EXPECT_NE(missing.body.find("<RequestId>REQ1</RequestId>"), std::string::npos);
  Response no_bucket = run(signed_request("GET", "/nobucket/none"));
  EXPECT_EQ(no_bucket.error_code, "NoSuchBucket");
  Response head_missing = run(signed_request("HEAD", "/processed/none"));
  EXPECT_EQ(head_missing.status, 404);
  EXPECT_TRUE(head_missing.body.empty());
  Response bad_md5 = run(signed_request("PUT", "/processed/x", "abc", "",
                                        {{"Content-MD5", core::base64_encode(core::md5("xyz"))}}),
                         "abc");
  EXPECT_EQ(bad_md5.error_code, "BadDigest");
  EXPECT_EQ(bad_md5.status, 400);
  Response not_impl = run(signed_request("GET", "/processed", "", "tagging"));
  EXPECT_EQ(not_impl.status, 501);
}

TEST_F(HandlerTest, CorsPreflightAndResponsesFollowTheConfiguredOrigins) {
  const std::vector<http::Header> preflight = {{"Origin", "https://app.example"},
                                               {"Access-Control-Request-Method", "PUT"},
                                               {"Access-Control-Request-Headers", "content-type"}};
  Response disabled = run(request("OPTIONS", "/uploads/a.jpg", "", preflight));
  EXPECT_EQ(disabled.status, 403);
  EXPECT_EQ(disabled.error_code, "AccessForbidden");
  options_.cors_origins = {"https://app.example"};
  Response allowed = run(request("OPTIONS", "/uploads/a.jpg", "", preflight));
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(allowed.header("Access-Control-Allow-Headers"), "content-type");
  Response other =
      run(request("OPTIONS", "/uploads/a.jpg", "",
                  {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "PUT"}}));
  EXPECT_EQ(other.status, 403);
  Response put = run(request("PUT", "/uploads/a.jpg", "",
                             {{"Origin", "https://app.example"},
                              {"Content-Type", "image/png"},
                              {"Content-Length", "1"}}),
                     "x");
  EXPECT_EQ(put.status, 200);
  EXPECT_EQ(put.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_TRUE(put.header("Access-Control-Expose-Headers")->find("ETag") != std::string_view::npos);
}

TEST_F(HandlerTest, OperationalEndpointsNeedNoCredentials) {
  Response health = run(request("GET", "/_imgflow/health"));
  EXPECT_EQ(health.status, 200);
  Response metrics = run(request("GET", "/_imgflow/metrics"));
  EXPECT_EQ(metrics.body, "m 1\n");
}

TEST_F(HandlerTest, AdminPathsAreTheAdminsAloneAndReachTheHook) {
  std::vector<AdminRequest> seen;
  admin_ = [&seen](const AdminRequest& request) {
    seen.push_back(request);
    return core::Result<std::string>("{\"ok\":true}");
  };
  EXPECT_EQ(run(request("GET", "/_imgflow/dlq")).status, 403);  // anonymous
  EXPECT_TRUE(seen.empty());
  Response admin = run(signed_request("POST", "/_imgflow/dlq/7/redrive"));
  EXPECT_EQ(admin.status, 200);
  EXPECT_EQ(admin.body, "{\"ok\":true}");
  EXPECT_EQ(admin.header("Content-Type"), "application/json");
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "dlq/7/redrive");
}

// The hook says what went wrong; the gateway alone turns that into a status and a JSON body.
TEST_F(HandlerTest, AnAdminActionsErrorChoosesItsStatusInTheGateway) {
  core::ErrorCode next = core::ErrorCode::kNotFound;
  admin_ = [&next](const AdminRequest&) -> core::Result<std::string> {
    return core::fail(next, "no \"such\" letter");
  };
  const std::pair<core::ErrorCode, int> cases[] = {
      {core::ErrorCode::kInvalidArgument, 400}, {core::ErrorCode::kPermissionDenied, 403},
      {core::ErrorCode::kNotFound, 404},        {core::ErrorCode::kUnsupported, 405},
      {core::ErrorCode::kUnavailable, 503},     {core::ErrorCode::kInternal, 500}};
  for (const auto& [code, status] : cases) {
    next = code;
    Response r = run(signed_request("GET", "/_imgflow/dlq/1"));
    EXPECT_EQ(r.status, status) << core::to_string(code);
    EXPECT_EQ(r.body, R"({"error":"no \"such\" letter"})");
    EXPECT_EQ(r.header("Content-Type"), "application/json");
  }
}

// ---- Browser POST upload ---------------------------------------------------------------------

// A multipart/form-data body as a browser builds it: the fields, then the file.
std::string form_body(const std::vector<sigv4::FormField>& fields, std::string_view file) {
  std::string out;
  for (const auto& f : fields) {
    out += "--XyZ\r\nContent-Disposition: form-data; name=\"" + f.name + "\"\r\n\r\n" + f.value +
           "\r\n";
  }
  out += "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cat.jpg\"\r\n";
  out += "Content-Type: image/jpeg\r\n\r\n";
  out += std::string(file) + "\r\n--XyZ--\r\n";
  return out;
}

// The fields of a policy signed by the admin at the fixture's clock, for bucket "uploads".
std::vector<sigv4::FormField> signed_post_fields(std::vector<sigv4::FormField> fields,
                                                 std::string_view extra_conditions) {
  const std::string credential = std::string(kAdminId) + "/20261126/us-east-1/s3/aws4_request";
  const std::string policy = R"({"expiration": "2026-11-26T13:00:00.000Z", "conditions": [)"
                             R"({"bucket": "uploads"}, ["starts-with", "$key", "post/"],)"
                             R"({"x-amz-algorithm": "AWS4-HMAC-SHA256"},)"
                             R"({"x-amz-credential": ")" +
                             credential + R"("}, {"x-amz-date": "20261126T120000Z"})" +
                             std::string(extra_conditions) + "]}";
  const std::string b64 = core::base64_encode(policy);
  const sigv4::CredentialScope scope{"20261126", "us-east-1", "s3"};
  fields.push_back({"x-amz-algorithm", "AWS4-HMAC-SHA256"});
  fields.push_back({"x-amz-credential", credential});
  fields.push_back({"x-amz-date", "20261126T120000Z"});
  fields.push_back({"policy", b64});
  fields.push_back(
      {"x-amz-signature", sigv4::sign_string(sigv4::derive_signing_key(kAdminSecret, scope), b64)});
  return fields;
}

HttpRequest form_post(std::string path) {
  HttpRequest r;
  r.wire = {"POST", std::move(path), "", {{"Content-Type", "multipart/form-data; boundary=XyZ"}}};
  r.remote_ip = "192.0.2.7";
  r.request_id = "REQ1";
  r.host = "127.0.0.1:9000";
  return r;
}

TEST_F(HandlerTest, PostRedirectIsA303WithBucketKeyAndQuotedEtag) {
  const auto fields =
      signed_post_fields({{"key", "post/a b.jpg"},
                          {"success_action_redirect", "https://app.example/done?x=1"},
                          {"success_action_status", "201"}},  // a redirect takes precedence
                         R"(, {"success_action_redirect": "https://app.example/done?x=1"},)"
                         R"( {"success_action_status": "201"})");
  Response r = run(form_post("/uploads"), form_body(fields, "jpeg"));
  ASSERT_EQ(r.status, 303) << r.body;
  const std::string etag = core::to_hex(core::md5("jpeg"));
  EXPECT_EQ(r.header("Location"),
            "https://app.example/done?x=1&bucket=uploads&key=post%2Fa%20b.jpg"
            "&etag=%22" +
                etag + "%22");
  EXPECT_EQ(r.header("ETag"), "\"" + etag + "\"");
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(*store_.get_string("uploads", "post/a b.jpg"), "jpeg");
}

TEST_F(HandlerTest, PostLegacyRedirectFieldStartsTheQueryWhenTheUrlHasNone) {
  const auto fields = signed_post_fields({{"key", "post/b.jpg"}, {"redirect", "http://h/ok"}},
                                         R"(, ["starts-with", "$redirect", "http://h/"])");
  Response r = run(form_post("/uploads"), form_body(fields, "b"));
  ASSERT_EQ(r.status, 303) << r.body;
  EXPECT_TRUE(r.header("Location")->starts_with("http://h/ok?bucket=uploads&key=post%2Fb.jpg&"));
}

TEST_F(HandlerTest, PostRedirectNotCoveredByThePolicyIsDeniedAndStoresNothing) {
  const auto fields = signed_post_fields(
      {{"key", "post/c.jpg"}, {"success_action_redirect", "https://evil.example/"}}, "");
  Response r = run(form_post("/uploads"), form_body(fields, "c"));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.error_code, "AccessDenied");
  EXPECT_FALSE(store_.head("uploads", "post/c.jpg"));
  EXPECT_EQ(pending_events(), 0u);
}

TEST_F(HandlerTest, PostRedirectThatIsNotAnHttpUrlIsRejectedBeforeStoring) {
  for (const std::string url : {"javascript:alert(1)", "/relative", "http://h/a\r\nX-Evil: 1"}) {
    Response r = run(form_post("/uploads"),
                     form_body({{"key", "anon.jpg"}, {"success_action_redirect", url}}, "x"));
    EXPECT_EQ(r.status, 400) << url;
    EXPECT_EQ(r.error_code, "InvalidArgument") << url;
  }
  EXPECT_FALSE(store_.head("uploads", "anon.jpg"));
}

// ---- Multipart listings ----------------------------------------------------------------------

TEST_F(HandlerTest, ListPartsPagesWithMaxPartsAndPartNumberMarker) {
  auto id = store_.create_multipart_upload("processed", "m.bin", {});
  ASSERT_TRUE(id);
  for (int n : {1, 2, 4}) {
    storage::StringSource part("p");
    ASSERT_TRUE(store_.upload_part("processed", "m.bin", *id, n, part, {}));
  }
  Response first =
      run(signed_request("GET", "/processed/m.bin", "", "max-parts=2&uploadId=" + *id));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("<IsTruncated>true</IsTruncated>"), std::string::npos) << first.body;
  EXPECT_NE(first.body.find("<NextPartNumberMarker>2</NextPartNumberMarker>"), std::string::npos);
  EXPECT_NE(first.body.find("<MaxParts>2</MaxParts>"), std::string::npos);
  EXPECT_EQ(first.body.find("<PartNumber>4</PartNumber>"), std::string::npos);
  Response rest = run(signed_request("GET", "/processed/m.bin", "",
                                     "max-parts=2&part-number-marker=2&uploadId=" + *id));
  EXPECT_NE(rest.body.find("<PartNumberMarker>2</PartNumberMarker>"), std::string::npos);
  EXPECT_NE(rest.body.find("<PartNumber>4</PartNumber>"), std::string::npos);
  EXPECT_EQ(rest.body.find("<PartNumber>2</PartNumber>"), std::string::npos);
  EXPECT_NE(rest.body.find("<IsTruncated>false</IsTruncated>"), std::string::npos);
  EXPECT_NE(rest.body.find("<NextPartNumberMarker>4</NextPartNumberMarker>"), std::string::npos);
  Response bad = run(signed_request("GET", "/processed/m.bin", "", "max-parts=-1&uploadId=" + *id));
  EXPECT_EQ(bad.error_code, "InvalidArgument");
}

TEST_F(HandlerTest, ListMultipartUploadsPagesByKeyAndUploadId) {
  auto a = store_.create_multipart_upload("processed", "a b", {});
  auto b = store_.create_multipart_upload("processed", "dir/b", {});
  ASSERT_TRUE(a && b);
  Response first = run(signed_request("GET", "/processed", "", "max-uploads=1&uploads"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("<ListMultipartUploadsResult"), std::string::npos);
  EXPECT_NE(first.body.find("<Key>a b</Key><UploadId>" + *a + "</UploadId>"), std::string::npos)
      << first.body;
  EXPECT_NE(first.body.find("<IsTruncated>true</IsTruncated>"), std::string::npos);
  EXPECT_NE(first.body.find("<NextKeyMarker>a b</NextKeyMarker>"), std::string::npos);
  EXPECT_NE(first.body.find("<NextUploadIdMarker>" + *a + "</NextUploadIdMarker>"),
            std::string::npos);
  Response rest =
      run(signed_request("GET", "/processed", "",
                         "encoding-type=url&key-marker=a%20b&upload-id-marker=" + *a + "&uploads"));
  EXPECT_NE(rest.body.find("<Key>dir/b</Key>"), std::string::npos) << rest.body;
  EXPECT_NE(rest.body.find("<KeyMarker>a%20b</KeyMarker>"), std::string::npos);
  EXPECT_EQ(rest.body.find("<Key>a%20b</Key>"), std::string::npos);
  Response prefixed = run(signed_request("GET", "/processed", "", "prefix=dir%2F&uploads"));
  EXPECT_EQ(prefixed.body.find("<Key>a b</Key>"), std::string::npos);
  EXPECT_NE(prefixed.body.find("<Key>dir/b</Key>"), std::string::npos);
  EXPECT_EQ(run(request("GET", "/uploads", "uploads")).status, 403);  // not for anonymous
  Response grouped = run(signed_request("GET", "/processed", "", "delimiter=%2F&uploads"));
  EXPECT_NE(grouped.body.find("<Delimiter>/</Delimiter>"), std::string::npos) << grouped.body;
  EXPECT_NE(grouped.body.find("<Key>a b</Key>"), std::string::npos);
  EXPECT_NE(grouped.body.find("<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"),
            std::string::npos);
  EXPECT_EQ(grouped.body.find("<Key>dir/b</Key>"), std::string::npos);
}

// ---- The anonymous door ----------------------------------------------------------------------

TEST_F(HandlerTest, AnAnonymousUploadCannotReplaceAnObject) {
  ASSERT_EQ(run(anonymous_put("/uploads/victim.jpg", "mine"), "mine").status, 200);
  for (const auto& extra : std::vector<std::vector<http::Header>>{
           {}, {{"If-Match", "\"" + core::to_hex(core::md5("mine")) + "\""}}}) {
    Response again = run(anonymous_put("/uploads/victim.jpg", "evil", extra), "evil");
    EXPECT_EQ(again.status, 412) << again.body;
    EXPECT_EQ(again.error_code, "PreconditionFailed");
    EXPECT_NE(again.body.find("already exists"), std::string::npos) << again.body;
  }
  Response post = run(form_post("/uploads"), form_body({{"key", "victim.jpg"}}, "evil"));
  EXPECT_EQ(post.status, 412) << post.body;
  Response multipart =
      run(request("POST", "/uploads/victim.jpg", "uploads", {{"Content-Type", "image/jpeg"}}));
  EXPECT_EQ(multipart.status, 412) << multipart.body;
  EXPECT_EQ(store_.get_string("uploads", "victim.jpg").value_or(""), "mine");
  EXPECT_EQ(pending_events(), 1u);
  // An operator who wants the old behaviour can have it.
  options_.anonymous.may_overwrite = true;
  EXPECT_EQ(run(anonymous_put("/uploads/victim.jpg", "new"), "new").status, 200);
  EXPECT_EQ(pending_events(), 2u);
}

TEST_F(HandlerTest, PutIfMatchReplacesOnlyTheVersionNamed) {
  auto first = store_.put("processed", "k.jpg", "one");
  ASSERT_TRUE(first);
  const std::string etag = "\"" + first->etag + "\"";
  Response replaced =
      run(signed_request("PUT", "/processed/k.jpg", "two", "", {{"If-Match", etag}}), "two");
  EXPECT_EQ(replaced.status, 200) << replaced.body;
  Response stale =
      run(signed_request("PUT", "/processed/k.jpg", "three", "", {{"If-Match", etag}}), "three");
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(stale.error_code, "PreconditionFailed");
  EXPECT_EQ(store_.get_string("processed", "k.jpg").value_or(""), "two");
  Response absent =
      run(signed_request("PUT", "/processed/none.jpg", "x", "", {{"If-Match", etag}}), "x");
  EXPECT_EQ(absent.status, 404) << absent.body;
  EXPECT_EQ(absent.error_code, "NoSuchKey");
}

TEST_F(HandlerTest, ImgflowMetadataIsTheFunctionRolesMark) {
  Response anonymous = run(
      anonymous_put("/uploads/skip.jpg", "x", {{"x-amz-meta-imgflow-source-key", "a.jpg"}}), "x");
  EXPECT_EQ(anonymous.status, 403) << anonymous.body;
  EXPECT_NE(anonymous.body.find("reserved"), std::string::npos) << anonymous.body;
  Response post = run(form_post("/uploads"),
                      form_body({{"key", "skip.jpg"}, {"x-amz-meta-Imgflow-Variant", "x"}}, "x"));
  EXPECT_EQ(post.status, 403) << post.body;
  EXPECT_FALSE(store_.head("uploads", "skip.jpg"));
  EXPECT_EQ(pending_events(), 0u);
  Response admin = run(signed_request("PUT", "/uploads/restored.jpg", "x", "",
                                      {{"x-amz-meta-imgflow-source-key", "a.jpg"}}),
                       "x");
  EXPECT_EQ(admin.status, 200) << admin.body;
}

TEST_F(HandlerTest, AnonymousKeysMustFitThePipelinesOutputNames) {
  const std::size_t limit = max_anonymous_key_bytes("");
  EXPECT_EQ(limit, 1024u - 70u);
  const std::string fits = "/uploads/" + std::string(limit, 'k');
  EXPECT_EQ(run(anonymous_put(fits, "x"), "x").status, 200);
  Response too_long = run(anonymous_put(fits + "k", "x"), "x");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(too_long.error_code, "KeyTooLongError");
  // With a destination prefix, its bytes and a '/' come off the limit.
  options_.roles.destination_prefix = "out";
  EXPECT_EQ(run(anonymous_put("/uploads/" + std::string(limit - 3, 'p'), "x"), "x").status, 400);
  EXPECT_EQ(run(anonymous_put("/uploads/" + std::string(limit - 4, 'p'), "x"), "x").status, 200);
  for (const std::string key : {"a%0Ab.jpg", "a%0Db.jpg", "a%00b.jpg", "a%1Fb.jpg", "a%7Fb.jpg"}) {
    Response control = run(anonymous_put("/uploads/" + key, "x"), "x");
    EXPECT_EQ(control.status, 400) << key;
    EXPECT_EQ(control.error_code, "InvalidArgument") << key;
    EXPECT_NE(control.body.find("control character 0x"), std::string::npos) << control.body;
  }
  // Signed uploads keep S3's rules.
  EXPECT_EQ(run(signed_request("PUT", "/uploads/a%0Ab.jpg", "x"), "x").status, 200);
}

TEST_F(HandlerTest, AnonymousContentTypeIsOneMediaTypeOfAnImage) {
  int n = 0;  // a fresh key each time: anonymous uploads do not replace
  const auto put_as = [&](std::optional<std::string> type) {
    std::vector<http::Header> headers = {{"Content-Length", "1"}};
    if (type) headers.push_back({"Content-Type", *type});
    return run(request("PUT", "/uploads/t" + std::to_string(++n), "", headers), "x");
  };
  for (const char* ok : {"image/jpeg", "IMAGE/JPEG", "Image/Png ; charset=\"binary\"", "image/avif",
                         "image/heic", "application/octet-stream"}) {
    EXPECT_EQ(put_as(ok).status, 200) << ok;
  }
  EXPECT_EQ(put_as(std::nullopt).status, 200);
  for (const char* refused : {"image/svg+xml", "text/html", "image/x-icon", "video/mp4"}) {
    Response r = put_as(refused);
    EXPECT_EQ(r.status, 403) << refused;
    EXPECT_EQ(r.error_code, "AccessDenied") << refused;
  }
  for (const char* malformed : {"image/jpeg, text/html", "image/", "image", "image/jpeg;x"}) {
    Response r = put_as(malformed);
    EXPECT_EQ(r.status, 400) << malformed;
    EXPECT_EQ(r.error_code, "InvalidArgument") << malformed;
  }
}

TEST_F(HandlerTest, AnonymousUploadsCanBeTurnedOff) {
  options_.anonymous.enabled = false;
  Response put = run(anonymous_put("/uploads/cat.jpg", "x"), "x");
  EXPECT_EQ(put.status, 403);
  EXPECT_NE(put.body.find("presigned URL"), std::string::npos) << put.body;
  EXPECT_EQ(run(form_post("/uploads"), form_body({{"key", "cat.jpg"}}, "x")).status, 403);
  EXPECT_EQ(
      run(request("POST", "/uploads/cat.jpg", "uploads", {{"Content-Type", "image/jpeg"}})).status,
      403);
  EXPECT_EQ(run(signed_request("PUT", "/uploads/cat.jpg", "x"), "x").status, 200);
}

// ---- Anonymous multipart uploads -------------------------------------------------------------

class AnonymousMultipartTest : public HandlerTest {
 protected:
  // CreateMultipartUpload; the upload id, or "" when refused (then `refused` holds the answer).
  std::string create(std::string key, Response* refused = nullptr) {
    Response r =
        run(request("POST", "/uploads/" + key, "uploads", {{"Content-Type", "image/png"}}));
    if (r.status != 200) {
      if (refused != nullptr) *refused = std::move(r);
      return "";
    }
    const auto start = r.body.find("<UploadId>") + 10;
    return r.body.substr(start, r.body.find("</UploadId>") - start);
  }
  Response part(const std::string& key, const std::string& id, int number, std::string_view body) {
    return run(request("PUT", "/uploads/" + key,
                       "partNumber=" + std::to_string(number) + "&uploadId=" + id,
                       {{"Content-Length", std::to_string(body.size())}}),
               body);
  }
  Response complete(const std::string& key, const std::string& id,
                    const std::vector<std::string>& etags) {
    std::string xml = "<CompleteMultipartUpload>";
    for (std::size_t i = 0; i < etags.size(); ++i) {
      xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] +
             "</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    return run(request("POST", "/uploads/" + key, "uploadId=" + id,
                       {{"Content-Length", std::to_string(xml.size())}}),
               xml);
  }
};

TEST_F(AnonymousMultipartTest, AnUploadInPartsBecomesOneObjectAndOneEvent) {
  const std::string id = create("big.png");
  ASSERT_FALSE(id.empty());
  const std::string first(storage::kMinPartSize, 'a');
  Response p1 = part("big.png", id, 1, first);
  ASSERT_EQ(p1.status, 200) << p1.body;
  Response p2 = part("big.png", id, 2, "tail");
  ASSERT_EQ(p2.status, 200) << p2.body;
  Response done =
      complete("big.png", id, {std::string(*p1.header("ETag")), std::string(*p2.header("ETag"))});
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(store_.head("uploads", "big.png")->size, first.size() + 4);
  // A retry after a lost response: the same answer, and no second event.
  Response again =
      complete("big.png", id, {std::string(*p1.header("ETag")), std::string(*p2.header("ETag"))});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, done.body);
  auto events = store_.claim(10, std::chrono::seconds(30));
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].event_name, "ObjectCreated:CompleteMultipartUpload");
  EXPECT_NE((*events)[0].payload.find("\"principal\":\"anonymous\""), std::string::npos);
}

TEST_F(AnonymousMultipartTest, TheRulesOfAPutHoldForTheWholeUpload) {
  Response refused;
  EXPECT_TRUE(create("x%0A.png", &refused).empty());
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(
      run(request("POST", "/uploads/page.html", "uploads", {{"Content-Type", "text/html"}})).status,
      403);
  EXPECT_EQ(run(request("POST", "/uploads/s.png", "uploads",
                        {{"Content-Type", "image/png"}, {"x-amz-meta-imgflow-variant", "v"}}))
                .status,
            403);
  // The size limit holds over all parts: each is declared, and their sum stays under it.
  options_.anonymous.max_bytes = 10;
  const std::string id = create("small.png");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(part("small.png", id, 1, "123456").status, 200);
  Response over = part("small.png", id, 2, "12345");
  EXPECT_EQ(over.status, 400);
  EXPECT_EQ(over.error_code, "EntityTooLarge");
  EXPECT_EQ(part("small.png", id, 2, "1234").status, 200);
  Response undeclared = run(request("PUT", "/uploads/small.png", "partNumber=3&uploadId=" + id,
                                    {{"Transfer-Encoding", "chunked"}}),
                            "1");
  EXPECT_EQ(undeclared.error_code, "MissingContentLength");
  // Anonymous callers may not look inside uploads.
  EXPECT_EQ(run(request("GET", "/uploads/small.png", "uploadId=" + id)).status, 403);
  EXPECT_EQ(run(request("GET", "/uploads", "uploads")).status, 403);
}

TEST_F(AnonymousMultipartTest, UploadsAreCappedPerAddressAndExpire) {
  options_.anonymous.max_multipart_uploads_per_client = 2;
  options_.anonymous.multipart_lifetime = std::chrono::minutes(10);
  const std::string a = create("a.png");
  const std::string b = create("b.png");
  ASSERT_FALSE(a.empty() || b.empty());
  Response third;
  EXPECT_TRUE(create("c.png", &third).empty());
  EXPECT_EQ(third.status, 503);
  EXPECT_EQ(third.error_code, "SlowDown");
  // Another address has its own allowance.
  HttpRequest elsewhere =
      request("POST", "/uploads/c.png", "uploads", {{"Content-Type", "image/png"}});
  elsewhere.remote_ip = "198.51.100.1";
  EXPECT_EQ(run(elsewhere).status, 200);
  // Ten minutes on, both are gone: their ids are unknown and the address may start again.
  clock_.advance(std::chrono::minutes(10));
  Response late = part("a.png", a, 1, "x");
  EXPECT_EQ(late.status, 404);
  EXPECT_EQ(late.error_code, "NoSuchUpload");
  EXPECT_FALSE(create("c.png").empty());
}

// ---- Unsigned aws-chunked bodies -------------------------------------------------------------

std::string chunked_with_crc(std::string_view data, std::uint32_t crc) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx", data.size());
  return std::string(size) + "\r\n" + std::string(data) +
         "\r\n0\r\nx-amz-checksum-crc32:" + core::base64_encode(core::be32_bytes(crc)) + "\r\n\r\n";
}

TEST_F(HandlerTest, AnonymousUnsignedTrailerBodiesAreDecodedAndChecked) {
  const std::string data = "\xff\xd8\xff an image with a trailing checksum";
  const auto headers = [&](const std::string& body, bool with_sha256) {
    std::vector<http::Header> h = {{"Content-Type", "image/jpeg"},
                                   {"Content-Encoding", "aws-chunked"},
                                   {"x-amz-decoded-content-length", std::to_string(data.size())},
                                   {"x-amz-trailer", "x-amz-checksum-crc32"},
                                   {"Content-Length", std::to_string(body.size())}};
    if (with_sha256) h.push_back({"x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"});
    return h;
  };
  const std::string good = chunked_with_crc(data, core::crc32(data));
  Response ok = run(request("PUT", "/uploads/t.jpg", "", headers(good, true)), good);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(store_.get_string("uploads", "t.jpg").value_or(""), data);
  // As SDKs send it unsigned: Content-Encoding alone says aws-chunked.
  Response sdk = run(request("PUT", "/uploads/sdk.jpg", "", headers(good, false)), good);
  EXPECT_EQ(sdk.status, 200) << sdk.body;
  EXPECT_EQ(store_.get_string("uploads", "sdk.jpg").value_or(""), data);
  const std::string bad = chunked_with_crc(data, core::crc32(data) ^ 1);
  Response refused = run(request("PUT", "/uploads/bad.jpg", "", headers(bad, true)), bad);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.error_code, "BadDigest");
  EXPECT_FALSE(store_.head("uploads", "bad.jpg"));
  // The declared length is the payload's: the size limit applies to it.
  options_.anonymous.max_bytes = data.size() - 1;
  Response big = run(request("PUT", "/uploads/big.jpg", "", headers(good, true)), good);
  EXPECT_EQ(big.error_code, "EntityTooLarge");
  EXPECT_EQ(pending_events(), 2u);
}

TEST_F(HandlerTest, AnonymousChunkSignedBodiesAreRefused) {
  Response r = run(request("PUT", "/uploads/s.jpg", "",
                           {{"Content-Type", "image/jpeg"},
                            {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
                            {"x-amz-decoded-content-length", "1"},
                            {"Content-Length", "90"}}),
                   std::string(90, 'x'));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code, "InvalidRequest");
  Response no_length = run(request("PUT", "/uploads/s.jpg", "",
                                   {{"Content-Type", "image/jpeg"},
                                    {"x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
                                    {"Content-Length", "5"}}),
                           "0\r\n\r\n");
  EXPECT_EQ(no_length.error_code, "MissingContentLength");
}

// ---- Operations clients and test suites call ---------------------------------------------------

TEST_F(HandlerTest, DeleteBucketRefusesABucketInUseAndTheServersOwn) {
  ASSERT_TRUE(store_.create_bucket("scratch"));
  ASSERT_TRUE(store_.put("scratch", "k", "x"));
  Response busy = run(signed_request("DELETE", "/scratch"));
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(busy.error_code, "BucketNotEmpty");
  ASSERT_TRUE(store_.delete_object("scratch", "k"));
  EXPECT_EQ(run(request("DELETE", "/scratch")).status, 403);  // anonymous
  Response done = run(signed_request("DELETE", "/scratch"));
  EXPECT_EQ(done.status, 204) << done.body;
  EXPECT_FALSE(store_.head_bucket("scratch"));
  EXPECT_EQ(run(signed_request("DELETE", "/scratch")).error_code, "NoSuchBucket");
  for (const char* own : {"/uploads", "/processed"}) {
    Response refused = run(signed_request("DELETE", own));
    EXPECT_EQ(refused.status, 403) << own;
    EXPECT_NE(refused.body.find("cannot be deleted"), std::string::npos) << refused.body;
  }
}

TEST_F(HandlerTest, AclReadsAnswerAsForABucketWithAclsDisabled) {
  ASSERT_TRUE(store_.put("processed", "a.jpg", "x"));
  for (const char* path : {"/processed", "/processed/a.jpg"}) {
    Response acl = run(signed_request("GET", path, "", "acl"));
    ASSERT_EQ(acl.status, 200) << path << acl.body;
    EXPECT_NE(
        acl.body.find("<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                      "<Owner><ID>imgflow</ID>"),
        std::string::npos)
        << acl.body;
    EXPECT_NE(acl.body.find("xsi:type=\"CanonicalUser\"><ID>imgflow</ID>"), std::string::npos);
    EXPECT_NE(acl.body.find("<Permission>FULL_CONTROL</Permission></Grant></AccessControlList>"),
              std::string::npos);
    EXPECT_EQ(run(request("GET", path, "acl")).status, 403);  // anonymous
  }
  EXPECT_EQ(run(signed_request("GET", "/processed/none.jpg", "", "acl")).error_code, "NoSuchKey");
  EXPECT_EQ(run(signed_request("PUT", "/processed/a.jpg", "", "acl")).status, 501);
}

TEST_F(HandlerTest, OptionsWithoutAnOriginIsABadRequest) {
  options_.cors_origins = {"*"};
  Response r =
      run(request("OPTIONS", "/uploads/a.jpg", "", {{"Access-Control-Request-Method", "PUT"}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code, "BadRequest");
  EXPECT_NE(r.body.find("Insufficient information. Origin request header needed."),
            std::string::npos);
}

TEST_F(HandlerTest, UploadPartCopyCopiesARangeOfASourceItMayRead) {
  ASSERT_TRUE(store_.put("processed", "src.bin", "0123456789"));
  auto id = store_.create_multipart_upload("processed", "dst.bin", {});
  ASSERT_TRUE(id);
  const auto copy = [&](std::vector<http::Header> headers, std::string_view bucket = "processed") {
    headers.push_back({"x-amz-copy-source", "/processed/src.bin"});
    return run(signed_request("PUT", "/" + std::string(bucket) + "/dst.bin", "",
                              "partNumber=1&uploadId=" + *id, headers));
  };
  Response ranged = copy({{"x-amz-copy-source-range", "bytes=2-5"}});
  ASSERT_EQ(ranged.status, 200) << ranged.body;
  EXPECT_NE(ranged.body.find("<CopyPartResult"), std::string::npos);
  EXPECT_NE(ranged.body.find("<ETag>&quot;" + core::to_hex(core::md5("2345")) + "&quot;</ETag>"),
            std::string::npos)
      << ranged.body;
  auto parts = store_.list_parts("processed", "dst.bin", *id);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].size, 4u);
  for (const char* bad : {"bytes=5-2", "bytes=-3", "bytes=0-10", "bytes=10-12", "items=0-1"}) {
    Response r = copy({{"x-amz-copy-source-range", bad}});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.error_code, "InvalidArgument") << bad;
  }
  EXPECT_EQ(copy({{"x-amz-copy-source-if-match", "\"other\""}}).status, 412);
  EXPECT_EQ(copy({{"x-amz-copy-source-if-none-match", "*"}}).status, 412);
  EXPECT_EQ(
      copy({{"x-amz-copy-source-if-match", "\"" + core::to_hex(core::md5("0123456789")) + "\""}})
          .status,
      200);
  // Anonymous uploaders read nothing, so they copy nothing.
  auto mine = store_.create_multipart_upload("uploads", "mine.jpg", {});
  Response anonymous = run(request("PUT", "/uploads/mine.jpg", "partNumber=1&uploadId=" + *mine,
                                   {{"x-amz-copy-source", "/processed/src.bin"}}));
  EXPECT_EQ(anonymous.status, 403);
}

TEST_F(HandlerTest, ListObjectVersionsOfAnUnversionedBucket) {
  ASSERT_TRUE(store_.put("processed", "v/a.jpg", "a"));
  ASSERT_TRUE(store_.put("processed", "v/d/b.jpg", "bb"));
  ASSERT_TRUE(store_.put("processed", "v/e.jpg", "e"));
  Response all = run(signed_request("GET", "/processed", "", "delimiter=%2F&prefix=v%2F&versions"));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_NE(all.body.find("<ListVersionsResult xmlns="), std::string::npos);
  EXPECT_NE(all.body.find("<Version><Key>v/a.jpg</Key><VersionId>null</VersionId>"
                          "<IsLatest>true</IsLatest>"),
            std::string::npos)
      << all.body;
  EXPECT_NE(all.body.find("<CommonPrefixes><Prefix>v/d/</Prefix></CommonPrefixes>"),
            std::string::npos);
  EXPECT_EQ(all.body.find("DeleteMarker"), std::string::npos);
  // Paged one entry at a time, following the markers.
  Response first =
      run(signed_request("GET", "/processed", "", "delimiter=%2F&max-keys=2&prefix=v%2F&versions"));
  EXPECT_NE(first.body.find("<NextKeyMarker>v/d/</NextKeyMarker>"), std::string::npos)
      << first.body;
  EXPECT_EQ(first.body.find("<NextVersionIdMarker>"), std::string::npos);  // after a prefix
  Response rest = run(signed_request("GET", "/processed", "",
                                     "delimiter=%2F&key-marker=v%2Fd%2F&prefix=v%2F&versions"));
  EXPECT_EQ(rest.body.find("v/d/"), rest.body.find("<KeyMarker>v/d/</KeyMarker>") + 11)
      << rest.body;  // the prefix is not listed again
  EXPECT_NE(rest.body.find("<Key>v/e.jpg</Key>"), std::string::npos);
  Response after_key = run(signed_request("GET", "/processed", "",
                                          "key-marker=v%2Fa.jpg&max-keys=1&version-id-marker=null"
                                          "&versions"));
  EXPECT_NE(after_key.body.find("<Key>v/d/b.jpg</Key>"), std::string::npos) << after_key.body;
  EXPECT_NE(after_key.body.find("<NextVersionIdMarker>null</NextVersionIdMarker>"),
            std::string::npos);
  EXPECT_EQ(
      run(signed_request("GET", "/processed", "", "version-id-marker=null&versions")).error_code,
      "InvalidArgument");
  EXPECT_EQ(run(request("GET", "/processed", "versions")).status, 403);
}

TEST_F(HandlerTest, ListObjectsV1ContinuesAfterACommonPrefixMarker) {
  ASSERT_TRUE(store_.put("processed", "d/a/1.jpg", "x"));
  ASSERT_TRUE(store_.put("processed", "d/a/2.jpg", "x"));
  ASSERT_TRUE(store_.put("processed", "d/b.jpg", "x"));
  Response first =
      run(signed_request("GET", "/processed", "", "delimiter=%2F&max-keys=1&prefix=d%2F"));
  EXPECT_NE(first.body.find("<NextMarker>d/a/</NextMarker>"), std::string::npos) << first.body;
  Response rest =
      run(signed_request("GET", "/processed", "", "delimiter=%2F&marker=d%2Fa%2F&prefix=d%2F"));
  EXPECT_EQ(rest.body.find("<Prefix>d/a/</Prefix>"), std::string::npos) << rest.body;
  EXPECT_NE(rest.body.find("<Key>d/b.jpg</Key>"), std::string::npos);
  EXPECT_NE(rest.body.find("<Marker>d/a/</Marker>"), std::string::npos);
}

}  // namespace
}  // namespace imgflow::gateway

namespace imgflow::gateway {
namespace {

HttpRequest wire_request(std::string method, std::string path, std::string query = "",
                         std::vector<http::Header> headers = {}) {
  HttpRequest r;
  r.wire = {std::move(method), std::move(path), std::move(query), std::move(headers)};
  return r;
}

TEST(Privilege, ProbesAreBodilessGetsOrHeadsOfHealthReadyAndMetrics) {
  for (const char* path : {"/_imgflow/health", "/_imgflow/ready", "/_imgflow/metrics"}) {
    EXPECT_TRUE(is_probe(wire_request("GET", path))) << path;
    EXPECT_TRUE(is_privileged(wire_request("HEAD", path))) << path;
  }
  EXPECT_FALSE(is_probe(wire_request("GET", "/_imgflow/dlq")));
  EXPECT_FALSE(is_probe(wire_request("PUT", "/_imgflow/health")));
  EXPECT_FALSE(is_probe(wire_request("GET", "/_imgflow/health", "", {{"Content-Length", "9"}})));
  EXPECT_FALSE(
      is_probe(wire_request("GET", "/_imgflow/health", "", {{"Transfer-Encoding", "chunked"}})));
  EXPECT_TRUE(is_probe(wire_request("GET", "/_imgflow/health", "", {{"Content-Length", "0"}})));
}

TEST(Privilege, SignedRequestsArePrivilegedBeforeTheirSignatureIsChecked) {
  EXPECT_FALSE(is_privileged(wire_request("PUT", "/uploads/a.jpg")));
  EXPECT_TRUE(is_privileged(
      wire_request("PUT", "/uploads/a.jpg", "", {{"Authorization", "AWS4-HMAC-SHA256 x"}})));
  EXPECT_TRUE(is_privileged(wire_request("GET", "/processed/a.jpg",
                                         "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00")));
  // Both at once is refused by the verifier; it buys no reserved connection either.
  EXPECT_FALSE(
      is_privileged(wire_request("GET", "/processed/a.jpg", "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                                 {{"Authorization", "AWS4-HMAC-SHA256 x"}})));
}

}  // namespace
}  // namespace imgflow::gateway
