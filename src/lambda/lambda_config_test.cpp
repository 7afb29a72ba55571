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

TEST(LambdaConfig, ModesAndWhatEachNeeds) {
  EXPECT_EQ(read_config(from(kMinimal))->mode, Mode::kEvents);
  auto env = kMinimal;
  env["IMGFLOW_MODE"] = "events";
  EXPECT_EQ(read_config(from(env))->mode, Mode::kEvents);

  env["IMGFLOW_MODE"] = "presigned";
  auto wrong = read_config(from(env));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("IMGFLOW_MODE"), std::string::npos);
  EXPECT_NE(wrong.error().message.find("'presigned'"), std::string::npos);

  // The upload endpoint has no destination bucket, but needs its source bucket.
  env = {{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
         {"AWS_REGION", "eu-west-1"},
         {"IMGFLOW_MODE", "presign"}};
  auto no_source = read_config(from(env));
  ASSERT_FALSE(no_source);
  EXPECT_NE(no_source.error().message.find("IMGFLOW_SOURCE_BUCKET"), std::string::npos);
  env["IMGFLOW_SOURCE_BUCKET"] = "in";
  auto presign = read_config(from(env));
  ASSERT_TRUE(presign) << presign.error().message;
  EXPECT_EQ(presign->mode, Mode::kPresign);
  EXPECT_EQ(presign->source_prefix, "");
  env["IMGFLOW_SOURCE_PREFIX"] = "uploads/2026/";
  EXPECT_EQ(read_config(from(env))->source_prefix, "uploads/2026/");
  for (const char* bad : {"uploads", "/uploads/", "up loads/", "a//", "uploads/*", "\x0a/"}) {
    env["IMGFLOW_SOURCE_PREFIX"] = bad;
    auto c = read_config(from(env));
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.error().message.find("IMGFLOW_SOURCE_PREFIX"), std::string::npos);
  }
}

TEST(LambdaConfig, TheStackTurnsScanningOnWithItsClamdAndQuarantine) {
  auto env = kMinimal;
  env["IMGFLOW_SOURCE_BUCKET"] = "in";
  env["IMGFLOW_CLAMD"] = "tcp://10.0.1.5:3310";
  env["IMGFLOW_QUARANTINE_BUCKET"] = "held";
  auto c = read_config(from(env));
  ASSERT_TRUE(c) << c.error().message;
  recipe::Recipe recipe = recipe::default_recipe();
  ASSERT_FALSE(recipe.scan.enabled);
  ASSERT_TRUE(apply_scan_settings(*c, recipe));
  EXPECT_TRUE(recipe.scan.enabled);
  EXPECT_EQ(recipe.scan.clamd.to_string(), "tcp://10.0.1.5:3310");
  EXPECT_EQ(recipe.scan.quarantine_bucket, "held");
  EXPECT_EQ(recipe.scan.on_infected, recipe::OnInfected::kQuarantine);
  // As a scan: section without max_bytes: every source the handler accepts is scanned whole.
  EXPECT_EQ(recipe.scan.max_bytes, recipe.limits.max_input_bytes);

  env["IMGFLOW_CLAMD"] = "clamd.internal:3310";
  auto bad = read_config(from(env));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("IMGFLOW_CLAMD"), std::string::npos);
}

TEST(LambdaConfig, AQuarantineBucketNeedsScanningAndItsOwnBucket) {
  auto env = kMinimal;
  env["IMGFLOW_SOURCE_BUCKET"] = "in";
  env["IMGFLOW_QUARANTINE_BUCKET"] = "held";
  recipe::Recipe recipe = recipe::default_recipe();
  auto unscanned = apply_scan_settings(*read_config(from(env)), recipe);
  ASSERT_FALSE(unscanned);
  EXPECT_NE(unscanned.error().message.find("nothing is scanned"), std::string::npos);

  env["IMGFLOW_CLAMD"] = "unix:/run/clamd.ctl";
  recipe.scan.on_infected = recipe::OnInfected::kDelete;  // the stack's bucket goes unused
  ASSERT_TRUE(apply_scan_settings(*read_config(from(env)), recipe));
  EXPECT_EQ(recipe.scan.quarantine_bucket, "quarantine");

  recipe.scan.on_infected = recipe::OnInfected::kQuarantine;
  for (const char* published : {"in", "out"}) {
    env["IMGFLOW_QUARANTINE_BUCKET"] = published;
    auto same = apply_scan_settings(*read_config(from(env)), recipe);
    ASSERT_FALSE(same) << published;
    EXPECT_NE(same.error().message.find("must not be the source or destination"),
              std::string::npos);
  }
}

TEST(LambdaConfig, TheStackNamesATopicToNotify) {
  auto env = kMinimal;
  EXPECT_EQ(read_config(from(env))->notify_topic_arn, "");
  env["IMGFLOW_NOTIFY_TOPIC_ARN"] = "arn:aws:sns:eu-west-1:123456789012:imgflow-notifications";
  env["AWS_ENDPOINT_URL_SNS"] = "http://127.0.0.1:4566";
  auto config = read_config(from(env));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->notify_topic_arn, env["IMGFLOW_NOTIFY_TOPIC_ARN"]);
  EXPECT_EQ(config->sns_endpoint, "http://127.0.0.1:4566");
  env["IMGFLOW_NOTIFY_TOPIC_ARN"] = "imgflow-notifications";
  auto bad = read_config(from(env));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("IMGFLOW_NOTIFY_TOPIC_ARN: 'imgflow-notifications' is not an "
                                     "SNS topic ARN"),
            std::string::npos)
      << bad.error().message;
}

TEST(LambdaConfig, TheCaFileIsFoundWhereverTheSystemKeepsIt) {
  EXPECT_EQ(find_ca_file(from({{"SSL_CERT_FILE", "/x/ca.pem"}}), ""), "/x/ca.pem");
  // This machine is Debian: its bundle is first in line.
  EXPECT_EQ(find_ca_file(from({}), "/nonexistent"), "/etc/ssl/certs/ca-certificates.crt");
}

}  // namespace
}  // namespace imgflow::lambda
