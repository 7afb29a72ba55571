#include "gateway/s3_request.h"

#include <gtest/gtest.h>

#include "http/request_head.h"

namespace imgflow::gateway {
namespace {

struct Route {
  std::string_view method;
  std::string_view path;
  std::string_view query;
  std::vector<http::Header> headers;
  Operation op;
};

TEST(S3RequestTest, RoutesEveryOperation) {
  const std::vector<Route> routes = {
      {"GET", "/", "", {}, Operation::kListBuckets},
      {"PUT", "/b", "", {}, Operation::kCreateBucket},
      {"DELETE", "/b", "", {}, Operation::kDeleteBucket},
      {"GET", "/b", "acl", {}, Operation::kGetBucketAcl},
      {"GET", "/b/k", "acl", {}, Operation::kGetObjectAcl},
      {"GET", "/b", "versions&prefix=a", {}, Operation::kListObjectVersions},
      {"PUT",
       "/b/k",
       "partNumber=1&uploadId=u",
       {{"x-amz-copy-source", "/a/b"}},
       Operation::kUploadPartCopy},
      {"HEAD", "/b", "", {}, Operation::kHeadBucket},
      {"GET", "/b", "location", {}, Operation::kGetBucketLocation},
      {"GET", "/b", "list-type=2&prefix=a", {}, Operation::kListObjectsV2},
      {"GET", "/b/", "", {}, Operation::kListObjects},
      {"POST", "/b", "delete", {}, Operation::kDeleteObjects},
      {"POST", "/b", "", {}, Operation::kPostObject},
      {"PUT", "/b/k", "", {}, Operation::kPutObject},
      {"PUT", "/b/k", "", {{"x-amz-copy-source", "/a/b"}}, Operation::kCopyObject},
      {"GET", "/b/k", "", {}, Operation::kGetObject},
      {"HEAD", "/b/k", "", {}, Operation::kHeadObject},
      {"DELETE", "/b/k", "", {}, Operation::kDeleteObject},
      {"POST", "/b/k", "uploads", {}, Operation::kCreateMultipartUpload},
      {"PUT", "/b/k", "partNumber=1&uploadId=u", {}, Operation::kUploadPart},
      {"POST", "/b/k", "uploadId=u", {}, Operation::kCompleteMultipartUpload},
      {"DELETE", "/b/k", "uploadId=u", {}, Operation::kAbortMultipartUpload},
      {"GET", "/b/k", "uploadId=u", {}, Operation::kListParts},
      {"GET", "/_imgflow/health", "", {}, Operation::kOperational},
      {"PUT", "/b/k", "tagging", {}, Operation::kNotImplemented},
      {"PUT", "/b", "acl", {}, Operation::kNotImplemented},
      {"PUT", "/b/k", "acl", {}, Operation::kNotImplemented},
      {"GET", "/b/k", "versions", {}, Operation::kNotImplemented},
      {"GET", "/b", "versioning", {}, Operation::kNotImplemented},
  };
  for (const auto& route : routes) {
    http::RequestHead wire{std::string(route.method), std::string(route.path),
                           std::string(route.query), route.headers};
    auto parsed = parse_s3_request(wire);
    ASSERT_TRUE(parsed) << route.method << " " << route.path;
    EXPECT_EQ(parsed->op, route.op) << route.method << " " << route.path << "?" << route.query
                                    << " → " << to_string(parsed->op);
  }
}

TEST(S3RequestTest, DecodesBucketAndKeyOnce) {
  http::RequestHead wire{"GET", "/uploads/a%20b/..%2F../c+d%25", "", {}};
  auto parsed = parse_s3_request(wire);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->bucket, "uploads");
  // '+' stays a plus in paths; "%25" is one percent sign, not decoded twice.
  EXPECT_EQ(parsed->key, "a b/../../c+d%");
}

TEST(S3RequestTest, VirtualHostedStyleTakesTheBucketFromTheHost) {
  EXPECT_EQ(virtual_host_bucket("photos.localhost:9000", "localhost"), "photos");
  EXPECT_EQ(virtual_host_bucket("Photos.LOCALHOST", "localhost"), "photos");
  EXPECT_EQ(virtual_host_bucket("localhost:9000", "localhost"), "");
  EXPECT_EQ(virtual_host_bucket("127.0.0.1:9000", "localhost"), "");
  EXPECT_EQ(virtual_host_bucket("photos.localhost", ""), "");
  http::RequestHead wire{"GET", "/a/b%20c.jpg", "", {}};
  auto parsed = parse_s3_request(wire, "photos");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->bucket, "photos");
  EXPECT_EQ(parsed->key, "a/b c.jpg");
  EXPECT_EQ(parsed->op, Operation::kGetObject);
}

TEST(S3RequestTest, ParsesOneMediaTypeAsRfc9110Says) {
  auto jpeg = parse_media_type("  Image/JPEG ; Charset=\"bin\\\"ary\" ;; q=1 ");
  ASSERT_TRUE(jpeg);
  EXPECT_EQ(jpeg->type, "image");
  EXPECT_EQ(jpeg->subtype, "jpeg");
  ASSERT_EQ(jpeg->parameters.size(), 2u);
  EXPECT_EQ(jpeg->parameters[0].first, "charset");
  EXPECT_EQ(jpeg->parameters[0].second, "bin\"ary");
  EXPECT_EQ(jpeg->parameters[1].second, "1");
  EXPECT_EQ(parse_media_type("image/svg+xml")->subtype, "svg+xml");
  for (const char* bad : {"", "image", "image/", "/jpeg", "image/jpeg, text/html", "image/jpeg;x",
                          "image/jpeg;x=", "image/jpeg;x=\"open", "image /jpeg", "image/jp eg",
                          "image/jpeg\r\nX: 1", "im@ge/jpeg", "image/jpeg;x=\"a\x01\""}) {
    EXPECT_FALSE(parse_media_type(bad)) << bad;
  }
}

TEST(S3RequestTest, RecognisesUnsignedAwsChunkedBodies) {
  const auto parse = [](std::vector<http::Header> headers) {
    return parse_unsigned_chunked(http::RequestHead{"PUT", "/b/k", "", std::move(headers)});
  };
  auto plain = parse({{"Content-Type", "image/jpeg"}});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(*plain);
  auto trailer = parse({{"x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
                        {"x-amz-decoded-content-length", "42"},
                        {"x-amz-trailer", " X-Amz-Checksum-CRC32 "}});
  ASSERT_TRUE(trailer && *trailer);
  EXPECT_EQ((*trailer)->decoded_length, 42u);
  EXPECT_EQ((*trailer)->trailer, "x-amz-checksum-crc32");
  auto by_encoding =
      parse({{"Content-Encoding", "gzip, AWS-Chunked"}, {"x-amz-decoded-content-length", "7"}});
  ASSERT_TRUE(by_encoding && *by_encoding);
  EXPECT_EQ((*by_encoding)->trailer, "");
  auto signed_chunks = parse({{"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
                              {"x-amz-decoded-content-length", "7"}});
  ASSERT_FALSE(signed_chunks);
  EXPECT_EQ(signed_chunks.error().code, "InvalidRequest");
  auto no_length = parse({{"x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
                          {"x-amz-decoded-content-length", "-1"}});
  ASSERT_FALSE(no_length);
  EXPECT_EQ(no_length.error().code, "MissingContentLength");
  // A payload hash says the body is not chunked, whatever Content-Encoding claims.
  auto hashed =
      parse({{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}, {"Content-Encoding", "aws-chunked"}});
  ASSERT_TRUE(hashed);
  EXPECT_FALSE(*hashed);
}

TEST(S3RequestTest, RejectsUnknownMethods) {
  http::RequestHead wire{"PATCH", "/b/k", "", {}};
  auto parsed = parse_s3_request(wire);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "MethodNotAllowed");
  EXPECT_EQ(parsed.error().status, 405);
}

}  // namespace
}  // namespace imgflow::gateway
