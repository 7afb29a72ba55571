#include "lambda/lambda_config.h"

#include <gtest/gtest.h>

#include <map>

namespace imgflow::lambda {
namespace {

Environment from(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

const std::map<std::string, std::string> kMinimal = {{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
                                                     {"AWS_REGION", "eu-west-1"},
                                                     {"IMGFLOW_DESTINATION_BUCKET", "out"}};

TEST(LambdaConfig, TheMinimalEnvironmentAndItsDefaults) {
  auto c = read_config(from(kMinimal));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->destination_bucket, "out");
  EXPECT_EQ(c->s3_endpoint, "");
  EXPECT_EQ(c->source_bucket, "");
  EXPECT_TRUE(c->recipe.empty());
  EXPECT_EQ(c->deadline_margin.count(), 1000);
}

TEST(LambdaConfig, EndpointOverridesAsTheSdksReadThem) {
  auto env = kMinimal;
  env["AWS_ENDPOINT_URL"] = "http://general:1";
  EXPECT_EQ(read_config(from(env))->s3_endpoint, "http://general:1");
  env["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:9000";
  EXPECT_EQ(read_config(from(env))->s3_endpoint, "http://127.0.0.1:9000");
  env["AWS_ENDPOINT_URL_S3"] = "127.0.0.1:9000";
  EXPECT_FALSE(read_config(from(env)));
}

TEST(LambdaConfig, WhatIsMissingOrWrongIsNamed) {
  for (const char* name : {"AWS_LAMBDA_RUNTIME_API", "AWS_REGION", "IMGFLOW_DESTINATION_BUCKET"}) {
    auto env = kMinimal;
    env.erase(name);
    auto c = read_config(from(env));
    ASSERT_FALSE(c) << name;
    EXPECT_NE(c.error().message.find(name), std::string::npos) << c.error().message;
  }
  auto env = kMinimal;
  env["IMGFLOW_DEADLINE_MARGIN_MS"] = "soon";
  auto c = read_config(from(env));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("IMGFLOW_DEADLINE_MARGIN_MS"), std::string::npos);
}

TEST(LambdaConfig, TheCaFileIsFoundWhereverTheSystemKeepsIt) {
  EXPECT_EQ(find_ca_file(from({{"SSL_CERT_FILE", "/x/ca.pem"}}), ""), "/x/ca.pem");
  // This machine is Debian: its bundle is first in line.
  EXPECT_EQ(find_ca_file(from({}), "/nonexistent"), "/etc/ssl/certs/ca-certificates.crt");
}

}  // namespace
}  // namespace imgflow::lambda
