#include "storage/s3/s3_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>

#include "core/digest.h"
#include "http/fake_http_client.h"
#include "http/request_head.h"
#include "sigv4/verifier.h"
#include "storage/test_support.h"

namespace imgflow::storage::s3 {
namespace {

using core::ErrorCode;
using std::chrono::milliseconds;
using testing::ChunkedSource;

constexpr std::string_view kKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::optional<std::string> header(const http::Request& r, std::string_view name) {
  http::Response view{0, r.headers};
  auto v = view.header(name);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

// The request as the server sees it, checked by the project's own SigV4 verifier.
void expect_valid_signature(const http::Request& r, const core::Clock& clock,
                            std::string_view region = "us-east-1") {
  const auto scheme_end = r.url.find("://") + 3;
  const auto path_start = r.url.find('/', scheme_end);
  const auto q = r.url.find('?', path_start);
  http::RequestHead server{r.method,
                           r.url.substr(path_start, q - path_start),
                           q == std::string::npos ? "" : r.url.substr(q + 1),
                           {}};
  for (const auto& h : r.headers) server.headers.push_back({h.name, h.value});
  if (r.body_length) server.headers.push_back({"Content-Length", std::to_string(*r.body_length)});
  const auto lookup = [](std::string_view id) -> std::optional<sigv4::SecretKey> {
    if (id != kKeyId) return std::nullopt;
    return sigv4::SecretKey{std::string(kSecret), "admin", "", std::nullopt};
  };
  const auto verified =
      sigv4::verify_header(server, lookup, clock, {.region = std::string(region)});
  EXPECT_TRUE(verified.has_value())
      << r.method << " " << r.url << ": " << (verified ? "" : verified.error().message);
}

class S3StoreTest : public ::testing::Test {
 protected:
  S3StoreTest()
      : clock_(std::chrono::sys_days(std::chrono::year(2013) / 5 / 24) + std::chrono::hours(1)) {}

  std::unique_ptr<S3Store> make(S3Config config = {}) {
    if (config.endpoint.empty() && config.region == "us-east-1") {
      config.endpoint = "http://127.0.0.1:9000";
      config.path_style = true;
    }
    if (!config.credentials) {
      config.credentials = sigv4::Credentials{std::string(kKeyId), std::string(kSecret), ""};
    }
    auto store =
        S3Store::create(config, fake_, clock_, [this](milliseconds d) { sleeps_.push_back(d); });
    EXPECT_TRUE(store.has_value()) << store.error().to_string();
    return std::move(*store);
  }

  http::FakeHttpClient::Recorded only_request() {
    const auto all = fake_.requests();
    EXPECT_EQ(all.size(), 1U);
    return all.empty() ? http::FakeHttpClient::Recorded{} : all.back();
  }

  core::ManualClock clock_;
  http::FakeHttpClient fake_;
  std::vector<milliseconds> sleeps_;
};

std::string error_xml(std::string_view code, std::string_view message = "msg") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + std::string(code) +
         "</Code><Message>" + std::string(message) +
         "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
}

TEST_F(S3StoreTest, TheTraceIdGoesOutAsXAmznTraceIdWhenThereIsOne) {
  std::string trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
  S3Config config;
  config.trace_id = [&trace] { return trace; };
  auto store = make(config);
  fake_.push(200, "", {{"ETag", "\"e\""}, {"Content-Length", "0"}});
  fake_.push(200, "", {{"ETag", "\"e\""}, {"Content-Length", "0"}});
  ASSERT_TRUE(store->head("uploads", "a.jpg"));
  trace.clear();
  ASSERT_TRUE(store->head("uploads", "a.jpg"));
  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(header(all[0].request, "x-amzn-trace-id"),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
  EXPECT_EQ(header(all[1].request, "x-amzn-trace-id"), std::nullopt);
}

TEST_F(S3StoreTest, PutSmallBodyIsSignedWithItsSha256) {
  auto store = make();
  fake_.push(200, "", {{"ETag", "\"5d41402abc4b2a76b9719d911017c592\""}});
  PutOptions options;
  options.content_type = "image/jpeg";
  options.user_metadata = {{"imgflow-recipe", "abc"}};
  options.cache_control = "max-age=60";
  options.if_none_match_star = true;
  const auto info = store->put("uploads", "photos/my cat+1.jpg", "hello", options);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_EQ(info->etag, "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(info->size, 5U);
  EXPECT_EQ(info->content_type, "image/jpeg");

  const auto rec = only_request();
  EXPECT_EQ(rec.request.method, "PUT");
  EXPECT_EQ(rec.request.url, "http://127.0.0.1:9000/uploads/photos/my%20cat%2B1.jpg");
  EXPECT_EQ(rec.body, "hello");
  EXPECT_EQ(rec.request.body_length, 5U);
  EXPECT_EQ(header(rec.request, "host"), "127.0.0.1:9000");
  EXPECT_EQ(header(rec.request, "x-amz-content-sha256"), core::to_hex(core::sha256("hello")));
  EXPECT_EQ(header(rec.request, "x-amz-date"), "20130524T010000Z");
  EXPECT_EQ(header(rec.request, "content-type"), "image/jpeg");
  EXPECT_EQ(header(rec.request, "x-amz-meta-imgflow-recipe"), "abc");
  EXPECT_EQ(header(rec.request, "if-none-match"), "*");
  const auto auth = header(rec.request, "authorization").value_or("");
  EXPECT_TRUE(auth.starts_with(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request, "
      "SignedHeaders=cache-control;content-type;host;if-none-match;x-amz-content-sha256;"
      "x-amz-date;x-amz-meta-imgflow-recipe, Signature="))
      << auth;
  expect_valid_signature(rec.request, clock_);
}

TEST_F(S3StoreTest, PutSendsIfMatchQuoted) {
  auto store = make();
  fake_.push(412, error_xml("PreconditionFailed"));
  PutOptions options;
  options.if_match = "5d41402abc4b2a76b9719d911017c592";
  const auto info = store->put("uploads", "k", "hello", options);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(detail_of(info.error()), ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(header(only_request().request, "if-match"), "\"5d41402abc4b2a76b9719d911017c592\"");
}

TEST_F(S3StoreTest, VirtualHostedStyleAndSessionToken) {
  S3Config config;
  config.region = "eu-west-1";
  config.credentials = sigv4::Credentials{std::string(kKeyId), std::string(kSecret), "TOKEN"};
  auto store = make(config);
  fake_.push(200, "abc", {{"Content-Length", "3"}});
  fake_.push(200, "abc", {{"Content-Length", "3"}});
  ASSERT_TRUE(store->get_string("uploads", "a/b.png").has_value());
  ASSERT_TRUE(store->get_string("my.dotted.bucket", "k").has_value());
  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].request.url, "https://uploads.s3.eu-west-1.amazonaws.com/a/b.png");
  EXPECT_EQ(header(all[0].request, "host"), "uploads.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(header(all[0].request, "x-amz-security-token"), "TOKEN");
  EXPECT_EQ(header(all[0].request, "x-amz-content-sha256"), std::string(sigv4::kEmptySha256));
  // A dotted bucket would not match the TLS wildcard: path style.
  EXPECT_EQ(all[1].request.url, "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k");
}

std::string bytes_of(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + i % 23);
  return out;
}

S3Config small_parts() {
  S3Config config;
  config.max_buffered_body = 16;
  config.multipart_part_size = 40;
  return config;
}

constexpr std::string_view kInitiated =
    "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>";

TEST_F(S3StoreTest, LargePutGoesUpAsSignedPartsWithoutKnowingItsLength) {
  auto store = make(small_parts());
  const std::string body = bytes_of(100);
  fake_.push(200, std::string(kInitiated));
  fake_.push(503, error_xml("SlowDown"));  // a part is in memory, so it can be resent
  for (const char* etag : {"\"e1\"", "\"e2\"", "\"e3\""}) fake_.push(200, "", {{"ETag", etag}});
  fake_.push(200, R"(<CompleteMultipartUploadResult><ETag>"m-3"</ETag>
</CompleteMultipartUploadResult>)");
  PutOptions options;
  options.content_type = "image/png";
  options.content_md5 = core::base64_encode(core::md5(body));
  const auto info = store->put("uploads", "big.png", body, options);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_EQ(info->size, 100U);
  EXPECT_EQ(info->etag, "m-3");

  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 6U);
  EXPECT_EQ(all[0].request.url, "http://127.0.0.1:9000/uploads/big.png?uploads");
  EXPECT_EQ(header(all[0].request, "content-type"), "image/png");
  EXPECT_FALSE(header(all[0].request, "content-md5"));  // it covers the whole, not a part
  EXPECT_EQ(all[2].request.url, "http://127.0.0.1:9000/uploads/big.png?partNumber=1&uploadId=U1");
  EXPECT_EQ(all[2].body, body.substr(0, 40));
  EXPECT_EQ(all[3].body, body.substr(40, 40));
  EXPECT_EQ(all[4].body, body.substr(80));
  EXPECT_EQ(header(all[4].request, "x-amz-content-sha256"),
            core::to_hex(core::sha256(body.substr(80))));
  EXPECT_EQ(all[5].body,
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part>"
            "<Part><PartNumber>3</PartNumber><ETag>\"e3\"</ETag></Part>"
            "</CompleteMultipartUpload>");
  for (const auto& r : all) expect_valid_signature(r.request, clock_);
}

TEST_F(S3StoreTest, BodyEndingOnAPartBoundarySendsNoEmptyPart) {
  auto store = make(small_parts());
  fake_.push(200, std::string(kInitiated));
  fake_.push(200, "", {{"ETag", "\"e1\""}});
  fake_.push(200,
             "<CompleteMultipartUploadResult><ETag>m-1</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(store->put("uploads", "k", bytes_of(40)).has_value());
  EXPECT_EQ(fake_.requests().size(), 3U);
}

TEST_F(S3StoreTest, FailedLargePutAbortsItsUpload) {
  auto store = make(small_parts());
  fake_.push(200, std::string(kInitiated));
  fake_.push(200, "", {{"ETag", "\"e1\""}});
  fake_.push(204);
  const std::string body = bytes_of(100);
  ChunkedSource dropped(body, body.size(), 60);
  const auto info = store->put("uploads", "k", dropped, {});
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().message, "client went away");
  auto all = fake_.requests();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[2].request.method, "DELETE");
  EXPECT_EQ(all[2].request.url, "http://127.0.0.1:9000/uploads/k?uploadId=U1");

  // A whole-body digest that does not match: every part is sent, but the upload never completes.
  fake_.push(200, std::string(kInitiated));
  for (int i = 0; i < 3; ++i) fake_.push(200, "", {{"ETag", "\"e\""}});
  fake_.push(204);
  PutOptions options;
  options.content_md5 = core::base64_encode(core::md5("other"));
  const auto bad = store->put("uploads", "k", bytes_of(100), options);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(detail_of(bad.error()), ErrorDetail::kBadDigest);
  all = fake_.requests();
  ASSERT_EQ(all.size(), 8U);
  EXPECT_EQ(all.back().request.method, "DELETE");

  options.content_md5 = std::nullopt;
  options.content_length = 120;  // the source ends early
  fake_.push(200, std::string(kInitiated));
  for (int i = 0; i < 3; ++i) fake_.push(200, "", {{"ETag", "\"e\""}});
  fake_.push(204);
  const auto short_body = store->put("uploads", "k", bytes_of(100), options);
  ASSERT_FALSE(short_body.has_value());
  EXPECT_EQ(detail_of(short_body.error()), ErrorDetail::kIncompleteBody);
  EXPECT_EQ(fake_.requests().back().request.method, "DELETE");
}

TEST_F(S3StoreTest, LargeUploadPartStreamsUnsignedAndIsNotRetried) {
  S3Config config;
  config.max_buffered_body = 16;
  auto store = make(config);
  const std::string body(100, 'q');
  fake_.push(200, "", {{"ETag", "\"e\""}});
  PartOptions options;
  options.content_length = body.size();
  StringSource source(body);
  const auto part = store->upload_part("uploads", "big.bin", "U1", 1, source, options);
  ASSERT_TRUE(part.has_value()) << part.error().to_string();
  const auto rec = only_request();
  EXPECT_EQ(header(rec.request, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_EQ(rec.body, body);
  expect_valid_signature(rec.request, clock_);

  StringSource no_length(body);
  EXPECT_EQ(store->upload_part("uploads", "big.bin", "U1", 1, no_length, {}).error().code,
            ErrorCode::kInvalidArgument);
  fake_.push(503, error_xml("SlowDown"));
  fake_.push(200);
  StringSource again(body);
  EXPECT_FALSE(store->upload_part("uploads", "big.bin", "U1", 1, again, options).has_value());
  EXPECT_EQ(fake_.requests().size(), 2U);  // a stream cannot be resent
}

TEST_F(S3StoreTest, SmallPutWithTheWrongDeclaredLengthSendsNothing) {
  auto store = make();
  PutOptions options;
  options.content_length = 5;
  const auto info = store->put("uploads", "k", "abc", options);
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(detail_of(info.error()), ErrorDetail::kIncompleteBody);
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(S3StoreTest, RetriesTransientFailuresWithBackoff) {
  auto store = make();
  fake_.push(503, error_xml("SlowDown", "Please reduce your request rate."));
  fake_.push_error({ErrorCode::kUnavailable, "Connection reset by peer"});
  fake_.push(200, "", {{"ETag", "\"abc\""}});
  const auto info = store->put("uploads", "k.jpg", "body");
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 3U);
  for (const auto& r : all) EXPECT_EQ(r.body, "body");  // the buffered body is resent whole
  ASSERT_EQ(sleeps_.size(), 2U);
  EXPECT_LE(sleeps_[0], milliseconds(100));  // full jitter under base * 2^retry
  EXPECT_LE(sleeps_[1], milliseconds(200));
}

TEST_F(S3StoreTest, GivesUpAfterMaxAttempts) {
  auto store = make();
  for (int i = 0; i < 4; ++i) fake_.push(500, error_xml("InternalError"));
  const auto info = store->head("uploads", "k.jpg");
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(fake_.requests().size(), 4U);
  EXPECT_EQ(sleeps_.size(), 3U);
}

TEST_F(S3StoreTest, ClientErrorsAreNotRetried) {
  auto store = make();
  fake_.push(403, error_xml("SignatureDoesNotMatch", "The request signature we calculated..."));
  const auto r = store->get_string("uploads", "k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(r.error().reason, "SignatureDoesNotMatch");
  EXPECT_EQ(fake_.requests().size(), 1U);
}

TEST_F(S3StoreTest, ErrorsMapToStorageDetails) {
  auto store = make();
  fake_.push(404, error_xml("NoSuchKey", "The specified key does not exist."));
  fake_.push(404);  // HEAD object: no body
  fake_.push(404);  // HEAD bucket: no body
  fake_.push(409, error_xml("BucketAlreadyOwnedByYou"));
  fake_.push(416, error_xml("InvalidRange"));
  fake_.push(412);

  const auto get = store->get_string("uploads", "missing");
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(detail_of(get.error()), ErrorDetail::kNoSuchKey);
  EXPECT_NE(get.error().message.find("The specified key does not exist."), std::string::npos);
  EXPECT_NE(get.error().message.find("4442587FB7D0A2F9"), std::string::npos);

  EXPECT_EQ(detail_of(store->head("uploads", "missing").error()), ErrorDetail::kNoSuchKey);
  EXPECT_EQ(detail_of(store->head_bucket("nobucket").error()), ErrorDetail::kNoSuchBucket);
  EXPECT_EQ(detail_of(store->create_bucket("uploads").error()),
            ErrorDetail::kBucketAlreadyOwnedByYou);
  EXPECT_EQ(detail_of(store->get_string("uploads", "k", {ByteRange::from(100)}).error()),
            ErrorDetail::kInvalidRange);
  PutOptions create_only;
  create_only.if_none_match_star = true;
  EXPECT_EQ(detail_of(store->put("uploads", "k", "x", create_only).error()),
            ErrorDetail::kPreconditionFailed);
}

TEST_F(S3StoreTest, NamesAreCheckedBeforeSending) {
  auto store = make();
  EXPECT_EQ(detail_of(store->head("Bad_Bucket", "k").error()), ErrorDetail::kInvalidBucketName);
  EXPECT_EQ(detail_of(store->head("uploads", std::string(1025, 'k')).error()),
            ErrorDetail::kKeyTooLongError);
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(S3StoreTest, OpenWithRange) {
  auto store = make();
  fake_.push(206, "cdef",
             {{"Content-Length", "4"},
              {"Content-Range", "bytes 2-5/10"},
              {"ETag", "\"0123\""},
              {"Content-Type", "image/png"},
              {"Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"},
              {"x-amz-meta-Imgflow-Source", "uploads/a.png"},
              {"x-amz-checksum-crc32", "AAAAAA=="}});
  auto reader = store->open("uploads", "a.png", {ByteRange::from(2, 5)});
  ASSERT_TRUE(reader.has_value()) << reader.error().to_string();
  const auto rec = only_request();
  EXPECT_EQ(rec.request.method, "GET");
  EXPECT_EQ(header(rec.request, "range"), "bytes=2-5");
  expect_valid_signature(rec.request, clock_);
  const ObjectReader& r = **reader;
  EXPECT_TRUE(r.partial());
  EXPECT_EQ(r.first(), 2U);
  EXPECT_EQ(r.length(), 4U);
  EXPECT_EQ(r.info().size, 10U);
  EXPECT_EQ(r.info().etag, "0123");
  EXPECT_EQ(r.info().content_type, "image/png");
  EXPECT_EQ(r.info().user_metadata.at("imgflow-source"), "uploads/a.png");
  ASSERT_TRUE(r.info().checksum.has_value());
  EXPECT_EQ(r.info().checksum->algorithm, ChecksumAlgorithm::kCrc32);
  EXPECT_EQ(r.info().last_modified.time_since_epoch(), std::chrono::seconds(1445412480));
  char buf[16];
  auto n = (*reader)->read(buf, sizeof buf);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(std::string(buf, *n), "cdef");
  EXPECT_EQ(*(*reader)->read(buf, sizeof buf), 0U);
}

TEST_F(S3StoreTest, LargeGetSpoolsToDisk) {
  S3Config config;
  config.max_memory_response = 1000;
  auto store = make(config);
  std::string body(100'000, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  fake_.push(200, body, {{"Content-Length", std::to_string(body.size())}});
  const auto got = store->get_string("uploads", "big.bin");
  ASSERT_TRUE(got.has_value()) << got.error().to_string();
  EXPECT_EQ(*got, body);
}

TEST_F(S3StoreTest, ShortGetBodyIsAnError) {
  auto store = make();
  fake_.push(200, "12345", {{"Content-Length", "10"}});
  const auto got = store->get_string("uploads", "k");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
}

TEST_F(S3StoreTest, DeleteObject) {
  auto store = make();
  fake_.push(204);
  ASSERT_TRUE(store->delete_object("uploads", "dir/a b.jpg").has_value());
  const auto rec = only_request();
  EXPECT_EQ(rec.request.method, "DELETE");
  EXPECT_EQ(rec.request.url, "http://127.0.0.1:9000/uploads/dir/a%20b.jpg");
  EXPECT_FALSE(rec.had_body);
  expect_valid_signature(rec.request, clock_);
}

TEST_F(S3StoreTest, ListObjectsV2) {
  auto store = make();
  fake_.push(200, R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>uploads</Name><Prefix>photos%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys>
  <Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>photos/my+cat%2B1.jpg</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>photos/caf%C3%A9.png</Key><LastModified>2009-10-12T17:50:31.000Z</LastModified>
    <ETag>"abc-2"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <CommonPrefixes><Prefix>photos/2024%2F</Prefix></CommonPrefixes>
</ListBucketResult>)");
  ListOptions options;
  options.prefix = "photos/";
  options.delimiter = "/";
  options.max_keys = 2;
  options.continuation_token = "tok=en";
  const auto list = store->list("uploads", options);
  ASSERT_TRUE(list.has_value()) << list.error().to_string();
  const auto rec = only_request();
  EXPECT_EQ(rec.request.url,
            "http://127.0.0.1:9000/uploads?list-type=2&encoding-type=url&max-keys=2&"
            "prefix=photos%2F&delimiter=%2F&continuation-token=tok%3Den");
  expect_valid_signature(rec.request, clock_);
  ASSERT_EQ(list->objects.size(), 2U);
  EXPECT_EQ(list->objects[0].key, "photos/my cat+1.jpg");
  EXPECT_EQ(list->objects[0].size, 434234U);
  EXPECT_EQ(list->objects[0].etag, "fba9dede5f27731c9771645a39863328");
  EXPECT_EQ(list->objects[0].last_modified.time_since_epoch(), std::chrono::seconds(1255369830));
  EXPECT_EQ(list->objects[1].key, "photos/caf\xC3\xA9.png");
  EXPECT_EQ(list->objects[1].etag, "abc-2");
  ASSERT_EQ(list->common_prefixes.size(), 1U);
  EXPECT_EQ(list->common_prefixes[0], "photos/2024/");
  EXPECT_TRUE(list->is_truncated);
  EXPECT_EQ(list->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  EXPECT_EQ(list->key_count, 3);
}

TEST_F(S3StoreTest, ListRejectsBadInputAndBadXml) {
  auto store = make();
  ListOptions negative;
  negative.max_keys = -1;
  EXPECT_EQ(store->list("uploads", negative).error().code, ErrorCode::kInvalidArgument);
  fake_.push(200, "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>");
  EXPECT_EQ(store->list("uploads", {}).error().code, ErrorCode::kCorrupt);  // no Size
  fake_.push(200, "<ListBucketResult><Contents>");
  EXPECT_EQ(store->list("uploads", {}).error().code, ErrorCode::kCorrupt);
  fake_.push(200, "<Other/>");
  EXPECT_EQ(store->list("uploads", {}).error().code, ErrorCode::kCorrupt);
}

TEST_F(S3StoreTest, CopyRetriesAnErrorInsideA200) {
  auto store = make();
  fake_.push(200, error_xml("InternalError", "We encountered an internal error."));
  fake_.push(200, R"(<CopyObjectResult><LastModified>2009-10-12T17:50:30.000Z</LastModified>
<ETag>"9b2cf535f27731c974343645a3985328"</ETag></CopyObjectResult>)");
  fake_.push(200, "",
             {{"Content-Length", "42"},
              {"ETag", "\"9b2cf535f27731c974343645a3985328\""},
              {"Content-Type", "image/webp"}});
  CopyOptions options;
  options.replace_metadata = true;
  options.content_type = "image/webp";
  options.user_metadata = {{"imgflow-variant", "thumb"}};
  const auto info = store->copy("uploads", "a b.jpg", "processed", "a/thumb.webp", options);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_EQ(info->size, 42U);
  EXPECT_EQ(info->etag, "9b2cf535f27731c974343645a3985328");
  EXPECT_EQ(info->last_modified.time_since_epoch(), std::chrono::seconds(1255369830));
  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[1].request.method, "PUT");
  EXPECT_EQ(all[1].request.url, "http://127.0.0.1:9000/processed/a/thumb.webp");
  EXPECT_EQ(header(all[1].request, "x-amz-copy-source"), "/uploads/a%20b.jpg");
  EXPECT_EQ(header(all[1].request, "x-amz-metadata-directive"), "REPLACE");
  EXPECT_EQ(header(all[1].request, "x-amz-meta-imgflow-variant"), "thumb");
  expect_valid_signature(all[1].request, clock_);
  EXPECT_EQ(all[2].request.method, "HEAD");
}

TEST_F(S3StoreTest, Buckets) {
  S3Config config;
  config.region = "eu-west-1";
  config.endpoint = "http://localhost:9000";
  config.path_style = true;
  auto store = make(config);
  fake_.push(200);
  ASSERT_TRUE(store->create_bucket("processed").has_value());
  fake_.push(200, R"(<ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets>
<Bucket><Name>uploads</Name><CreationDate>2024-01-02T03:04:05.000Z</CreationDate></Bucket>
<Bucket><Name>processed</Name><CreationDate>2024-01-01T00:00:00.000Z</CreationDate></Bucket>
</Buckets></ListAllMyBucketsResult>)");
  const auto buckets = store->list_buckets();
  ASSERT_TRUE(buckets.has_value()) << buckets.error().to_string();
  ASSERT_EQ(buckets->size(), 2U);
  EXPECT_EQ((*buckets)[0].name, "processed");
  EXPECT_EQ((*buckets)[1].name, "uploads");
  fake_.push(200);
  EXPECT_EQ(store->head_bucket("uploads")->name, "uploads");

  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].request.method, "PUT");
  EXPECT_EQ(all[0].request.url, "http://localhost:9000/processed");
  EXPECT_NE(all[0].body.find("<LocationConstraint>eu-west-1</LocationConstraint>"),
            std::string::npos);
  expect_valid_signature(all[0].request, clock_, "eu-west-1");
  EXPECT_EQ(all[1].request.url, "http://localhost:9000/");
  expect_valid_signature(all[1].request, clock_, "eu-west-1");
  EXPECT_EQ(all[2].request.method, "HEAD");
  EXPECT_EQ(all[2].request.url, "http://localhost:9000/uploads");
}

TEST_F(S3StoreTest, DeleteBucket) {
  auto store = make();
  fake_.push(204);
  ASSERT_TRUE(store->delete_bucket("scratch").has_value());
  fake_.push(409, error_xml("BucketNotEmpty", "The bucket you tried to delete is not empty"));
  auto busy = store->delete_bucket("scratch");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, core::ErrorCode::kFailedPrecondition);
  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].request.method, "DELETE");
  EXPECT_TRUE(all[0].request.url.ends_with("/scratch")) << all[0].request.url;
  expect_valid_signature(all[0].request, clock_);
}

TEST_F(S3StoreTest, MultipartUpload) {
  auto store = make();
  fake_.push(200, R"(<InitiateMultipartUploadResult><Bucket>uploads</Bucket><Key>big.jpg</Key>
<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>)");
  fake_.push(200, "", {{"ETag", "\"p1\""}});
  fake_.push(200, R"(<ListPartsResult><IsTruncated>true</IsTruncated>
<NextPartNumberMarker>1</NextPartNumberMarker>
<Part><PartNumber>1</PartNumber><LastModified>2024-01-01T00:00:00.000Z</LastModified>
<ETag>"p1"</ETag><Size>5</Size></Part></ListPartsResult>)");
  fake_.push(200, R"(<ListPartsResult><IsTruncated>false</IsTruncated>
<Part><PartNumber>2</PartNumber><ETag>"p2"</ETag><Size>3</Size></Part></ListPartsResult>)");
  fake_.push(200, R"(<CompleteMultipartUploadResult><Bucket>uploads</Bucket><Key>big.jpg</Key>
<ETag>"3858f62230ac3c915f300c664312c11f-2"</ETag></CompleteMultipartUploadResult>)");
  fake_.push(200, "", {{"Content-Length", "8"}});
  fake_.push(204);

  MultipartOptions mp;
  mp.content_type = "image/jpeg";
  const auto id = store->create_multipart_upload("uploads", "big.jpg", mp);
  ASSERT_TRUE(id.has_value()) << id.error().to_string();
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  StringSource part_body("hello");
  const auto part = store->upload_part("uploads", "big.jpg", *id, 1, part_body, {});
  ASSERT_TRUE(part.has_value()) << part.error().to_string();
  EXPECT_EQ(part->etag, "p1");
  EXPECT_EQ(part->size, 5U);
  const auto parts = store->list_parts("uploads", "big.jpg", *id);
  ASSERT_TRUE(parts.has_value()) << parts.error().to_string();
  ASSERT_EQ(parts->size(), 2U);
  EXPECT_EQ((*parts)[1].part_number, 2);
  const auto done =
      store->complete_multipart_upload("uploads", "big.jpg", *id, {{1, "\"p1\""}, {2, "p2"}}, {});
  ASSERT_TRUE(done.has_value()) << done.error().to_string();
  EXPECT_EQ(done->etag, "3858f62230ac3c915f300c664312c11f-2");
  EXPECT_EQ(done->size, 8U);
  ASSERT_TRUE(store->abort_multipart_upload("uploads", "big.jpg", *id).has_value());

  const auto all = fake_.requests();
  ASSERT_EQ(all.size(), 7U);
  EXPECT_EQ(all[0].request.method, "POST");
  EXPECT_EQ(all[0].request.url, "http://127.0.0.1:9000/uploads/big.jpg?uploads");
  EXPECT_EQ(header(all[0].request, "content-type"), "image/jpeg");
  EXPECT_EQ(all[1].request.url,
            "http://127.0.0.1:9000/uploads/big.jpg?partNumber=1&uploadId=VXBsb2FkIElE");
  EXPECT_EQ(all[1].body, "hello");
  EXPECT_EQ(all[3].request.url,
            "http://127.0.0.1:9000/uploads/big.jpg?uploadId=VXBsb2FkIElE&part-number-marker=1");
  EXPECT_EQ(all[4].request.method, "POST");
  EXPECT_EQ(all[4].body,
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>\"p1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"p2\"</ETag></Part>"
            "</CompleteMultipartUpload>");
  EXPECT_EQ(all[6].request.method, "DELETE");
  for (const auto& r : all) expect_valid_signature(r.request, clock_);

  EXPECT_EQ(store->upload_part("uploads", "big.jpg", *id, 0, part_body, {}).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(S3StoreTest, ListMultipartUploadsDecodesKeysAndMarkers) {
  auto store = make();
  fake_.push(200, R"(<ListMultipartUploadsResult><EncodingType>url</EncodingType>
<IsTruncated>true</IsTruncated><NextKeyMarker>a%20b</NextKeyMarker>
<NextUploadIdMarker>U2</NextUploadIdMarker>
<Upload><Key>a%20b</Key><UploadId>U2</UploadId><Initiated>2024-01-01T00:00:00.000Z</Initiated>
</Upload></ListMultipartUploadsResult>)");
  ListUploadsOptions options;
  options.prefix = "a";
  options.key_marker = "a";
  options.upload_id_marker = "U1";
  options.max_uploads = 5000;
  const auto listed = store->list_multipart_uploads("uploads", options);
  ASSERT_TRUE(listed.has_value()) << listed.error().to_string();
  ASSERT_EQ(listed->uploads.size(), 1U);
  EXPECT_EQ(listed->uploads[0].key, "a b");
  EXPECT_EQ(listed->uploads[0].upload_id, "U2");
  EXPECT_TRUE(listed->is_truncated);
  EXPECT_EQ(listed->next_key_marker, "a b");
  EXPECT_EQ(listed->next_upload_id_marker, "U2");
  EXPECT_EQ(only_request().request.url,
            "http://127.0.0.1:9000/uploads?uploads&encoding-type=url&max-uploads=1000&prefix=a"
            "&key-marker=a&upload-id-marker=U1");
  fake_.push(200,
             "<ListMultipartUploadsResult><Upload><UploadId>x</UploadId></Upload>"
             "</ListMultipartUploadsResult>");
  EXPECT_EQ(store->list_multipart_uploads("uploads", {}).error().code, ErrorCode::kCorrupt);
}

TEST_F(S3StoreTest, ListMultipartUploadsSendsTheDelimiterAndReadsCommonPrefixes) {
  auto store = make();
  fake_.push(200, R"(<ListMultipartUploadsResult><EncodingType>url</EncodingType>
<IsTruncated>false</IsTruncated><CommonPrefixes><Prefix>d/a%20b/</Prefix></CommonPrefixes>
</ListMultipartUploadsResult>)");
  ListUploadsOptions options;
  options.prefix = "d/";
  options.delimiter = "/";
  const auto listed = store->list_multipart_uploads("uploads", options);
  ASSERT_TRUE(listed.has_value()) << listed.error().to_string();
  EXPECT_TRUE(listed->uploads.empty());
  EXPECT_EQ(listed->common_prefixes, std::vector<std::string>{"d/a b/"});
  EXPECT_EQ(only_request().request.url,
            "http://127.0.0.1:9000/uploads?uploads&encoding-type=url&max-uploads=1000"
            "&prefix=d%2F&delimiter=%2F");
}

TEST_F(S3StoreTest, CreateMultipartIsNotRetried) {
  auto store = make();
  fake_.push(503, error_xml("SlowDown"));
  fake_.push(
      200, "<InitiateMultipartUploadResult><UploadId>x</UploadId></InitiateMultipartUploadResult>");
  EXPECT_FALSE(store->create_multipart_upload("uploads", "k", {}).has_value());
  EXPECT_EQ(fake_.requests().size(), 1U);
}

TEST(S3StoreConfig, CredentialsAndEndpoint) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
  http::FakeHttpClient fake;
  EXPECT_EQ(S3Store::create({}, fake).error().code, ErrorCode::kInvalidArgument);
  ::setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
  ::setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
  const auto env = credentials_from_environment();
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->access_key_id, "AKID");
  EXPECT_EQ(env->session_token, "TOKEN");
  EXPECT_TRUE(S3Store::create({}, fake).has_value());
  S3Config bad;
  bad.endpoint = "ftp://example.com";
  EXPECT_EQ(S3Store::create(bad, fake).error().code, ErrorCode::kInvalidArgument);
  bad.endpoint = "http://example.com/path";
  EXPECT_EQ(S3Store::create(bad, fake).error().code, ErrorCode::kInvalidArgument);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
}

}  // namespace
}  // namespace imgflow::storage::s3
