#include "storage/s3/s3_address.h"

#include <gtest/gtest.h>

namespace imgflow::storage::s3 {
namespace {

TEST(S3Address, NoEndpointIsAwsInTheRegion) {
  auto aws = parse_s3_endpoint("", "eu-west-1");
  ASSERT_TRUE(aws) << aws.error().message;
  EXPECT_EQ(aws->scheme, "https");
  EXPECT_EQ(aws->host, "s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(aws->base_path, "");
  const S3Target target = s3_target(*aws, false, "photos", "summer trip/été 1.jpg");
  EXPECT_EQ(target.host, "photos.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(target.path, "/summer%20trip/%C3%A9t%C3%A9%201.jpg");
  EXPECT_EQ(s3_url(*aws, target, "a=1"),
            "https://photos.s3.eu-west-1.amazonaws.com/summer%20trip/%C3%A9t%C3%A9%201.jpg?a=1");
}

TEST(S3Address, PathStyleForCustomEndpointsAndDottedBuckets) {
  auto gateway = parse_s3_endpoint("HTTP://127.0.0.1:9000/", "us-east-1");
  ASSERT_TRUE(gateway);
  EXPECT_EQ(gateway->scheme, "http");
  EXPECT_EQ(gateway->base_path, "");
  const S3Target path_style = s3_target(*gateway, true, "uploads", "a/b.jpg");
  EXPECT_EQ(path_style.host, "127.0.0.1:9000");
  EXPECT_EQ(path_style.path, "/uploads/a/b.jpg");
  EXPECT_EQ(s3_target(*gateway, true, "uploads", "").path, "/uploads");
  EXPECT_EQ(s3_target(*gateway, true, "", "").path, "/");
  // A dotted bucket would not match a *.host certificate: path style even when not asked.
  auto aws = parse_s3_endpoint("", "us-east-1");
  const S3Target dotted = s3_target(*aws, false, "img.example.com", "k");
  EXPECT_EQ(dotted.host, "s3.us-east-1.amazonaws.com");
  EXPECT_EQ(dotted.path, "/img.example.com/k");
}

TEST(S3Address, ABasePathIsKeptBeforeTheBucket) {
  auto proxied = parse_s3_endpoint("https://example.com/s3//", "us-east-1");
  ASSERT_TRUE(proxied);
  EXPECT_EQ(proxied->base_path, "/s3");
  EXPECT_EQ(s3_target(*proxied, true, "b", "k").path, "/s3/b/k");
  EXPECT_EQ(s3_target(*proxied, true, "b", "").path, "/s3/b");
}

TEST(S3Address, RefusesWhatIsNotAnHttpEndpoint) {
  for (const char* bad : {"ftp://example.com", "example.com", "http://", "http://a b",
                          "http://user@host", "http://host?x", "http://host/p#f"}) {
    auto parsed = parse_s3_endpoint(bad, "us-east-1");
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find(bad), std::string::npos) << parsed.error().message;
  }
}

}  // namespace
}  // namespace imgflow::storage::s3
