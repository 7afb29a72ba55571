#include "lambda/runtime_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/fake_http_client.h"

namespace imgflow::lambda {
namespace {

using http::FakeHttpClient;

std::string header_of(const http::Request& request, std::string_view name) {
  for (const auto& h : request.headers) {
    if (h.name == name) return h.value;
  }
  return "";
}

TEST(RuntimeApi, NextReadsTheFourHeadersAndTheEvent) {
  FakeHttpClient client;
  client.push(200, R"({"Records":[]})",
              {{"Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"},
               {"Lambda-Runtime-Deadline-Ms", "1542409706888"},
               {"Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:1:function:f"},
               {"Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"}});
  const RuntimeApi api("127.0.0.1:9001", client);
  auto next = api.next();
  ASSERT_TRUE(next) << next.error().to_string();
  EXPECT_EQ(next->request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  EXPECT_EQ(next->deadline_ms, 1542409706888);
  EXPECT_EQ(next->function_arn, "arn:aws:lambda:eu-west-1:1:function:f");
  EXPECT_EQ(next->trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1");
  EXPECT_EQ(next->event, R"({"Records":[]})");
  const auto sent = client.requests().at(0).request;
  EXPECT_EQ(sent.url, "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next");
  EXPECT_EQ(sent.timeout.count(), 0) << "a long poll must not time out";
}

TEST(RuntimeApi, NextWithoutItsHeadersIsCorrupt) {
  FakeHttpClient client;
  client.push(200, "{}", {{"Lambda-Runtime-Deadline-Ms", "soon"}});
  const RuntimeApi api("h:1", client);
  auto next = api.next();
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, core::ErrorCode::kCorrupt);
  EXPECT_NE(next.error().message.find("Lambda-Runtime-Aws-Request-Id"), std::string::npos);
}

TEST(RuntimeApi, ErrorsCarryTheSchemaAndTheTypeHeader) {
  FakeHttpClient client;
  client.push(202);
  const RuntimeApi api("h:1", client);
  ASSERT_TRUE(api.fail("id-1", {"Imgflow.Permanent", "a.jpg: corrupt"}));
  const auto sent = client.requests().at(0);
  EXPECT_EQ(sent.request.url, "http://h:1/2018-06-01/runtime/invocation/id-1/error");
  EXPECT_EQ(header_of(sent.request, "Lambda-Runtime-Function-Error-Type"), "Imgflow.Permanent");
  const auto body = nlohmann::json::parse(sent.body);
  EXPECT_EQ(body["errorType"], "Imgflow.Permanent");
  EXPECT_EQ(body["errorMessage"], "a.jpg: corrupt");
  EXPECT_EQ(body["stackTrace"], nlohmann::json::array());
}

TEST(RuntimeApi, RefusalsSayWhatLambdaMeant) {
  FakeHttpClient client;
  client.push(403, "already");
  client.push(400, "stale");
  client.push(413, "big");
  client.push(202);
  const RuntimeApi api("h:1", client);
  auto twice = api.respond("id", "{}");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("already answered"), std::string::npos);
  auto stale = api.respond("id", "{}");
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("no longer current"), std::string::npos);
  auto big = api.respond("id", "{}");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, core::ErrorCode::kTooLarge);
  ASSERT_TRUE(api.init_error({"Imgflow.Config", "IMGFLOW_DESTINATION_BUCKET is not set"}));
  EXPECT_EQ(client.requests().back().request.url, "http://h:1/2018-06-01/runtime/init/error");
}

}  // namespace
}  // namespace imgflow::lambda
