#include "lambda/presign.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "core/digest.h"
#include "http/request_head.h"
#include "sigv4/amz_date.h"
#include "sigv4/verifier.h"

namespace imgflow::lambda {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::uint64_t kMax = 50ULL << 20;
const sigv4::Credentials kCredentials{"ASIAIMGFLOWTEST00001",
                                      "secretsecretsecretsecretsecretsecret0000",
                                      "FwoGZXIvYXdzEJr//////////wEaDGltZ2Zsb3ctdGVzdA=="};

sigv4::TimePoint t0() { return *sigv4::parse_amz_date("20261206T120000Z"); }

// A function URL event (payload format 2.0) as Lambda builds it.
std::string url_event(std::string_view method, std::string_view body, bool base64 = false) {
  return json{{"version", "2.0"},
              {"routeKey", "$default"},
              {"rawPath", "/"},
              {"rawQueryString", ""},
              {"headers", {{"content-type", "application/json"}, {"host", "x.lambda-url.aws"}}},
              {"requestContext", {{"http", {{"method", method}, {"path", "/"}}}}},
              {"body", base64 ? core::base64_encode(body) : std::string(body)},
              {"isBase64Encoded", base64}}
      .dump();
}

tl::expected<UploadRequest, RequestError> parse(std::string_view body,
                                                std::string_view method = "POST") {
  auto event = parse_url_event(url_event(method, body));
  EXPECT_TRUE(event);
  return parse_upload_request(*event, kMax);
}

// The status of a refused request, and its message in `message`.
int refused(std::string_view body, std::string* message = nullptr) {
  auto r = parse(body);
  EXPECT_FALSE(r) << body;
  if (r) return 200;
  if (message != nullptr) *message = r.error().message;
  return r.error().status;
}

TEST(PresignRequest, ReadsFunctionUrlEventsPlainOrBase64) {
  auto plain = parse_url_event(url_event("POST", R"({"a":1})"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->method, "POST");
  EXPECT_EQ(plain->body, R"({"a":1})");
  auto encoded = parse_url_event(url_event("POST", R"({"a":1})", true));
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->body, R"({"a":1})");

  // Anything else is not a client's request: the function was invoked another way.
  for (std::string_view event :
       {R"({"Records": []})", R"({"version": "1.0", "httpMethod": "POST"})",
        R"({"version": "2.0", "requestContext": {}})", "[]", "not json", ""}) {
    auto r = parse_url_event(event);
    ASSERT_FALSE(r) << event;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("function URL"), std::string::npos);
  }
}

TEST(PresignRequest, AGoodRequest) {
  auto r = parse(R"({"content_type": "image/jpeg", "size": 2481532})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->content_type, "image/jpeg");
  EXPECT_EQ(r->size, 2481532U);
  EXPECT_EQ(r->extension, "jpg");

  auto upper = parse(R"({"content_type": "IMAGE/HEIC", "size": 1, "filename": "IMG_0001.HEIC"})");
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(upper->content_type, "image/heic");
  EXPECT_EQ(upper->extension, "heic");
  auto at_limit = parse(R"({"content_type": "image/avif", "size": 52428800})");
  ASSERT_TRUE(at_limit);
  EXPECT_EQ(at_limit->extension, "avif");
}

TEST(PresignRequest, TheFilenameOnlyPicksTheExtension) {
  EXPECT_EQ(parse(R"({"content_type":"image/jpeg","size":9,"filename":"a.JPEG"})")->extension,
            "jpeg");
  EXPECT_EQ(parse(R"({"content_type":"image/tiff","size":9,"filename":"scan.tif"})")->extension,
            "tif");
  EXPECT_EQ(
      parse(R"({"content_type":"image/png","size":9,"filename":"../../etc/passwd"})")->extension,
      "png");
  EXPECT_EQ(parse(R"({"content_type":"image/png","size":9,"filename":"notes.txt"})")->extension,
            "png");
  std::string message;
  EXPECT_EQ(refused(R"({"content_type":"image/jpeg","size":9,"filename":"logo.png"})", &message),
            400);
  EXPECT_NE(message.find("another image type"), std::string::npos) << message;
  EXPECT_EQ(refused(R"({"content_type":"image/jpeg","size":9,"filename":7})"), 400);
}

TEST(PresignRequest, MistakesAreNamed) {
  struct Case {
    const char* body;
    int status;
    const char* says;
  };
  const Case cases[] = {
      {"", 400, "the body is empty"},
      {"{", 400, "not a JSON object"},
      {R"(["image/jpeg", 12])", 400, "not a JSON object"},
      {R"({"size": 12})", 400, "content_type is missing"},
      {R"({"content_type": "image/jpeg"})", 400, "size is missing"},
      {R"({"content_type": "image/jpeg", "size": 12, "key": "mine.jpg"})", 400,
       "unknown field 'key'"},
      {R"({"content_type": "text/html", "size": 12})", 400, "'text/html' is not an image type"},
      {R"({"content_type": "image/svg+xml", "size": 12})", 400, "not an image type"},
      {R"({"content_type": "image/jpeg; q=1", "size": 12})", 400, "not an image type"},
      {R"({"content_type": ["image/jpeg"], "size": 12})", 400, "must be a string"},
      {R"({"content_type": "image/jpeg", "size": 0})", 400, "at least 1 byte"},
      {R"({"content_type": "image/jpeg", "size": -5})", 400, "at least 1 byte"},
      {R"({"content_type": "image/jpeg", "size": 1.5})", 400, "whole number of bytes"},
      {R"({"content_type": "image/jpeg", "size": "12"})", 400, "whole number of bytes"},
      {R"({"content_type": "image/jpeg", "size": 1e30})", 400, "whole number of bytes"},
      {R"({"content_type": "image/jpeg", "size": 52428801})", 413, "over the limit of 52428800"},
  };
  for (const Case& c : cases) {
    std::string message;
    EXPECT_EQ(refused(c.body, &message), c.status) << c.body;
    EXPECT_NE(message.find(c.says), std::string::npos) << c.body << " → " << message;
  }
  const std::string big = R"({"content_type": "image/jpeg", "size": 12, "filename": ")" +
                          std::string(5000, 'a') + "\"}";
  EXPECT_EQ(refused(big), 413);
  auto get = parse("", "GET");
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().status, 405);
  auto bad_base64 = parse_url_event(
      R"({"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"@@","isBase64Encoded":true})");
  ASSERT_TRUE(bad_base64);
  EXPECT_EQ(parse_upload_request(*bad_base64, kMax).error().status, 400);
}

TEST(PresignResponse, ErrorsAreFunctionUrlResponses) {
  const json response = json::parse(to_json(to_response(RequestError{400, "size is missing"})));
  EXPECT_EQ(response["statusCode"], 400);
  EXPECT_EQ(response["headers"]["content-type"], "application/json");
  EXPECT_EQ(json::parse(response["body"].get<std::string>()), (json{{"error", "size is missing"}}));
  const json not_allowed = json::parse(to_json(to_response(RequestError{405, "no"})));
  EXPECT_EQ(not_allowed["statusCode"], 405);
  EXPECT_EQ(not_allowed["headers"]["allow"], "POST");
}

// What a client sends to a URL: method, path, query and the headers it was told to send.
http::RequestHead request_for(std::string_view url, std::string_view content_type) {
  const std::size_t host_at = url.find("://") + 3;
  const std::size_t path_at = url.find('/', host_at);
  const std::size_t query_at = url.find('?');
  http::RequestHead r;
  r.method = "PUT";
  r.path = std::string(url.substr(path_at, query_at - path_at));
  r.query = std::string(url.substr(query_at + 1));
  r.headers = {{"Host", std::string(url.substr(host_at, path_at - host_at))},
               {"Content-Type", std::string(content_type)}};
  return r;
}

std::optional<sigv4::SecretKey> lookup(std::string_view id) {
  if (id != kCredentials.access_key_id) return std::nullopt;
  return sigv4::SecretKey{kCredentials.secret_access_key, "uploader", kCredentials.session_token,
                          std::nullopt};
}

UploadGrant grant(const PresignOptions& options, std::uint64_t size = 2048) {
  auto g = grant_upload(UploadRequest{"image/jpeg", size, "jpg"}, options.prefix + "0f1e.jpg",
                        options, kCredentials, t0());
  EXPECT_TRUE(g) << g.error().message;
  return *g;
}

PresignOptions path_style() {
  PresignOptions options;
  options.bucket = "uploads";
  options.prefix = "incoming/";
  options.region = "eu-west-1";
  options.endpoint = "http://127.0.0.1:9000/";
  return options;
}

TEST(PresignGrant, ThePutUrlVerifiesWithTheSameCredentialsAndBindsTheType) {
  const UploadGrant g = grant(path_style());
  EXPECT_EQ(g.key, "incoming/0f1e.jpg");
  EXPECT_TRUE(g.put_url.starts_with("http://127.0.0.1:9000/uploads/incoming/0f1e.jpg?"))
      << g.put_url;
  EXPECT_NE(g.put_url.find("X-Amz-Expires=300"), std::string::npos);
  EXPECT_NE(g.put_url.find("X-Amz-Security-Token="), std::string::npos);
  EXPECT_NE(g.put_url.find("X-Amz-SignedHeaders=content-type%3Bhost"), std::string::npos);

  const sigv4::VerifierOptions verifier{.region = "eu-west-1"};
  core::ManualClock clock(t0() + 299s);
  auto ok = sigv4::verify_presigned(request_for(g.put_url, "image/jpeg"), lookup, clock, verifier);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->access_key_id, kCredentials.access_key_id);

  auto other_type =
      sigv4::verify_presigned(request_for(g.put_url, "text/html"), lookup, clock, verifier);
  ASSERT_FALSE(other_type);
  EXPECT_EQ(other_type.error().code, sigv4::AuthErrorCode::kSignatureDoesNotMatch);
  clock.advance(2s);
  auto expired =
      sigv4::verify_presigned(request_for(g.put_url, "image/jpeg"), lookup, clock, verifier);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, sigv4::AuthErrorCode::kAccessDenied);
}

TEST(PresignGrant, ThePostFormVerifiesAndBindsKeyTypeAndSize) {
  const UploadGrant g = grant(path_style(), 2048);
  EXPECT_EQ(g.post_url, "http://127.0.0.1:9000/uploads");
  const sigv4::VerifierOptions verifier{.region = "eu-west-1"};
  core::ManualClock clock(t0() + 299s);
  auto ok = sigv4::verify_post_policy(g.post_fields, "uploads", lookup, clock, verifier);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(sigv4::check_content_length(ok->policy, 2048));
  EXPECT_EQ(sigv4::check_content_length(ok->policy, 2049).error().code,
            sigv4::AuthErrorCode::kEntityTooLarge);
  EXPECT_EQ(sigv4::check_content_length(ok->policy, 0).error().code,
            sigv4::AuthErrorCode::kEntityTooSmall);

  std::vector<sigv4::FormField> other_key = g.post_fields;
  other_key[0].value = "incoming/mine.jpg";
  EXPECT_FALSE(sigv4::verify_post_policy(other_key, "uploads", lookup, clock, verifier));
  std::vector<sigv4::FormField> other_type = g.post_fields;
  other_type[1].value = "image/png";
  EXPECT_FALSE(sigv4::verify_post_policy(other_type, "uploads", lookup, clock, verifier));
  clock.advance(2s);
  EXPECT_FALSE(sigv4::verify_post_policy(g.post_fields, "uploads", lookup, clock, verifier));
}

TEST(PresignGrant, AwsS3IsAddressedVirtualHosted) {
  PresignOptions options = path_style();
  options.endpoint = "";
  options.bucket = "imgflow-source-0123456789ab";
  const UploadGrant g = grant(options);
  EXPECT_TRUE(g.put_url.starts_with(
      "https://imgflow-source-0123456789ab.s3.eu-west-1.amazonaws.com/incoming/0f1e.jpg?"))
      << g.put_url;
  EXPECT_EQ(g.post_url, "https://imgflow-source-0123456789ab.s3.eu-west-1.amazonaws.com/");
  core::ManualClock clock(t0());
  EXPECT_TRUE(sigv4::verify_presigned(request_for(g.put_url, "image/jpeg"), lookup, clock,
                                      {.region = "eu-west-1"}));

  options.endpoint = "ftp://example.com";
  EXPECT_FALSE(
      grant_upload(UploadRequest{"image/jpeg", 1, "jpg"}, "k.jpg", options, kCredentials, t0()));
}

class PresignerTest : public ::testing::Test {
 protected:
  std::string read_log() {
    std::fflush(log_file_);
    std::rewind(log_file_);
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, log_file_)) out.append(buf, n);
    return out;
  }

  std::FILE* log_file_ = std::tmpfile();
  core::Logger log_{log_file_, core::LogLevel::kInfo, core::LogFormat::kLambda};
  core::ManualClock clock_{t0()};
  Presigner presigner_{path_style(), kCredentials, log_, clock_, [] {
                         return core::Result<std::string>("00112233445566778899aabbccddeeff");
                       }};
};

TEST_F(PresignerTest, AGrantIsA200WithBothWaysToUpload) {
  auto answer = presigner_.handle(
      url_event("POST", R"({"content_type":"image/png","size":1234,"filename":"logo.PNG"})", true),
      "req-1");
  ASSERT_TRUE(answer) << answer.error().message;
  const json response = json::parse(*answer);
  EXPECT_EQ(response["statusCode"], 200);
  EXPECT_EQ(response["headers"]["content-type"], "application/json");
  const json body = json::parse(response["body"].get<std::string>());
  EXPECT_EQ(body["key"], "incoming/00112233445566778899aabbccddeeff.png");
  EXPECT_EQ(body["bucket"], "uploads");
  EXPECT_EQ(body["method"], "PUT");
  EXPECT_EQ(body["expires_in"], 300);
  EXPECT_EQ(body["max_size"], 1234);
  EXPECT_EQ(body["headers"], (json{{"content-type", "image/png"}}));
  EXPECT_EQ(body["post"]["url"], "http://127.0.0.1:9000/uploads");
  EXPECT_EQ(body["post"]["fields"]["key"], body["key"]);
  EXPECT_EQ(body["post"]["fields"]["Content-Type"], "image/png");
  EXPECT_EQ(body["post"]["fields"]["x-amz-security-token"], kCredentials.session_token);
  EXPECT_TRUE(body["post"]["fields"].contains("policy"));
  EXPECT_TRUE(body["post"]["fields"].contains("x-amz-signature"));

  const std::string log = read_log();
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  const json line = json::parse(log);
  EXPECT_EQ(line["requestId"], "req-1");
  EXPECT_EQ(line["key"], "incoming/00112233445566778899aabbccddeeff.png");
  EXPECT_EQ(line["content_type"], "image/png");
  EXPECT_EQ(line["size"], 1234);
  EXPECT_EQ(line["outcome"], "granted");
  EXPECT_EQ(log.find(kCredentials.secret_access_key), std::string::npos);
  EXPECT_EQ(log.find("Signature"), std::string::npos);
  EXPECT_EQ(log.find(kCredentials.session_token), std::string::npos);
}

TEST_F(PresignerTest, AClientMistakeIsAResponseNotAnError) {
  auto answer =
      presigner_.handle(url_event("POST", R"({"content_type":"text/html","size":1})"), "req-2");
  ASSERT_TRUE(answer) << answer.error().message;
  const json response = json::parse(*answer);
  EXPECT_EQ(response["statusCode"], 400);
  EXPECT_NE(json::parse(response["body"].get<std::string>())["error"].get<std::string>().find(
                "text/html"),
            std::string::npos);
  const json line = json::parse(read_log());
  EXPECT_EQ(line["outcome"], "refused");
  EXPECT_EQ(line["status"], 400);

  auto not_a_request = presigner_.handle(R"({"Records": []})", "req-3");
  ASSERT_FALSE(not_a_request);
  EXPECT_EQ(not_a_request.error().code, core::ErrorCode::kInvalidArgument);
}

TEST_F(PresignerTest, KeysAreFreshRandomIdsByDefault) {
  Presigner presigner(path_style(), kCredentials, log_, clock_);
  std::set<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    auto answer =
        presigner.handle(url_event("POST", R"({"content_type":"image/gif","size":5})"), "r");
    ASSERT_TRUE(answer);
    const std::string key = json::parse(json::parse(*answer)["body"].get<std::string>())["key"];
    EXPECT_EQ(key.size(), std::string("incoming/").size() + 32 + std::string(".gif").size());
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 3U);
}

}  // namespace
}  // namespace imgflow::lambda
