#include "events/event_parser.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "events/event_json.h"
#include "events/form_url.h"

namespace imgflow::events {
namespace {

using core::ErrorCode;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(IMGFLOW_SOURCE_DIR) + "/src/events/testdata/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

EventRecord sample(std::string key) {
  EventRecord r;
  r.event_name = "ObjectCreated:Put";
  r.aws_region = "us-east-1";
  r.event_time = "2024-05-04T10:11:12.345Z";
  r.bucket = "uploads";
  r.key = std::move(key);
  r.size = 12345;
  r.etag = "5eb63bbbe01eeed093cb22bb8f5acdc3";
  r.sequencer = "0000000000000007";
  r.principal = "anonymous";
  r.source_ip = "127.0.0.1";
  r.request_id = "REQ1";
  r.host_id = "HOST1";
  r.configuration_id = "imgflow";
  return r;
}

// Expects parse_event(json) to fail with `code` and a message containing `needle`.
void expect_error(std::string_view json, ErrorCode code, std::string_view needle) {
  const auto r = parse_event(json);
  ASSERT_FALSE(r.has_value()) << json;
  EXPECT_EQ(r.error().code, code) << r.error().to_string();
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().to_string();
}

TEST(ParseEvent, AwsPut) {
  const auto records = parse_event(fixture("aws_put.json"));
  ASSERT_TRUE(records.has_value()) << records.error().to_string();
  ASSERT_EQ(records->size(), 1U);
  const auto& r = (*records)[0];
  EXPECT_EQ(r.event_name, "ObjectCreated:Put");
  EXPECT_EQ(r.kind(), EventKind::kCreated);
  EXPECT_EQ(r.event_source, "aws:s3");
  EXPECT_EQ(r.aws_region, "us-west-2");
  EXPECT_EQ(r.event_time, "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(r.bucket, "mybucket");
  EXPECT_EQ(r.key, "photos/my cat (1).jpg");
  EXPECT_EQ(r.size, 1024U);
  EXPECT_EQ(r.etag, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(r.version_id, "096fKKXTRTtl3on89fVO.nfljtsv6qko");
  EXPECT_EQ(r.sequencer, "0055AED6DCD90281E5");
  EXPECT_EQ(r.principal, "AIDAJDPLRKLG7UEXAMPLE");
  EXPECT_EQ(r.source_ip, "127.0.0.1");
  EXPECT_EQ(r.request_id, "C3D13FE58DE4C810");
  EXPECT_EQ(r.configuration_id, "testConfigRule");
}

TEST(ParseEvent, AwsDeleteHasNoSize) {
  const auto records = parse_event(fixture("aws_delete.json"));
  ASSERT_TRUE(records.has_value()) << records.error().to_string();
  ASSERT_EQ(records->size(), 1U);
  EXPECT_EQ((*records)[0].kind(), EventKind::kRemoved);
  EXPECT_EQ((*records)[0].key, "2024/05/old photo.png");
  EXPECT_EQ((*records)[0].size, 0U);
  EXPECT_EQ((*records)[0].etag, "");
}

TEST(ParseEvent, AwsTestEventIsEmpty) {
  const auto records = parse_event(fixture("aws_test_event.json"));
  ASSERT_TRUE(records.has_value()) << records.error().to_string();
  EXPECT_TRUE(records->empty());
}

TEST(ParseEvent, TestEventRecordIsKindTest) {
  EventRecord r = sample("k");
  r.event_name = "TestEvent";
  const auto records = parse_event(to_aws_json({r}));
  ASSERT_TRUE(records.has_value());
  EXPECT_EQ((*records)[0].kind(), EventKind::kTest);
}

TEST(ParseEvent, MinioWebhook) {
  const auto records = parse_event(fixture("minio_put.json"));
  ASSERT_TRUE(records.has_value()) << records.error().to_string();
  ASSERT_EQ(records->size(), 1U);
  const auto& r = (*records)[0];
  EXPECT_EQ(r.event_name, "ObjectCreated:Put");
  EXPECT_EQ(r.event_source, "minio:s3");
  EXPECT_EQ(r.bucket, "uploads");
  EXPECT_EQ(r.key, "photos/summer trip/IMG 0001.jpg");
  EXPECT_EQ(r.size, 204800U);
  EXPECT_EQ(r.source_ip, "172.17.0.1");
}

TEST(ParseEvent, CephRgw) {
  const auto records = parse_event(fixture("ceph_put.json"));
  ASSERT_TRUE(records.has_value()) << records.error().to_string();
  ASSERT_EQ(records->size(), 1U);
  const auto& r = (*records)[0];
  EXPECT_EQ(r.event_name, "ObjectCreated:Put");
  EXPECT_EQ(r.key,
            "caf\xC3\xA9/cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
            "e.webp");
  EXPECT_EQ(r.size, 2048U);  // sent as a string
  EXPECT_EQ(r.etag, "37b51d194a7513e45b56f6524f2d51f2");
  EXPECT_EQ(r.event_time, "2024-05-04T10:11:12.345678Z");

  const auto legacy = parse_event(fixture("ceph_put_legacy.json"));
  ASSERT_TRUE(legacy.has_value()) << legacy.error().to_string();
  EXPECT_EQ((*legacy)[0].event_name, "ObjectCreated:Put");
  EXPECT_EQ((*legacy)[0].key, "myimage1.jpg");
}

TEST(ParseEvent, EventBridge) {
  const auto records = parse_event(fixture("eventbridge_created.json"));
  ASSERT_TRUE(records.has_value()) << records.error().to_string();
  ASSERT_EQ(records->size(), 1U);
  const auto& r = (*records)[0];
  EXPECT_EQ(r.event_name, "ObjectCreated:Put");
  EXPECT_EQ(r.bucket, "uploads");
  EXPECT_EQ(r.key, "photos/beach day.jpg");
  EXPECT_EQ(r.size, 5U);
  EXPECT_EQ(r.etag, "b1946ac92492d2347c6235b4d2611184");
  EXPECT_EQ(r.version_id, "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e");
  EXPECT_EQ(r.aws_region, "ca-central-1");
  EXPECT_EQ(r.principal, "123456789012");
  expect_error(R"({"source":"aws.s3","detail-type":"Object Restore Completed","detail":{}})",
               ErrorCode::kUnsupported, "Object Restore Completed");
}

TEST(ParseEvent, RoundTripKeys) {
  const std::vector<std::string> keys = {
      "plain.jpg",
      "with space/and more.png",
      "a+b=c&d.jpg",
      "100%/done%20.gif",
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC/\xF0\x9F\x98\x80.webp",
      "dir/sub/../x~y_z-1.jpg",
      "quote\"back\\slash'\t.jpg"};
  std::vector<EventRecord> records;
  for (const auto& k : keys) records.push_back(sample(k));
  records.back().version_id = "v1";
  const std::string json = to_aws_json(records);
  const auto parsed = parse_event(json);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string() << "\n" << json;
  EXPECT_EQ(*parsed, records);
}

TEST(ParseEvent, WriterShape) {
  EventRecord r = sample("my photo/a+b.jpg");
  r.event_time = format_event_time(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1714817472345)));
  const std::string json = to_aws_json({r});
  EXPECT_NE(json.find(R"("eventVersion":"2.1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("eventSource":"aws:s3")"), std::string::npos);
  EXPECT_NE(json.find(R"("eventTime":"2024-05-04T10:11:12.345Z")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("key":"my+photo/a%2Bb.jpg")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("arn":"arn:aws:s3:::uploads")"), std::string::npos);
  EXPECT_NE(json.find(R"("s3SchemaVersion":"1.0")"), std::string::npos);
  EXPECT_NE(json.find(R"("x-amz-request-id":"REQ1")"), std::string::npos);
  EXPECT_NE(json.find(R"("size":12345)"), std::string::npos);
  EXPECT_EQ(json.find("versionId"), std::string::npos);  // only when versioned
}

TEST(ParseEvent, Errors) {
  expect_error("", ErrorCode::kCorrupt, "not valid JSON");
  expect_error("{\"Records\": [", ErrorCode::kCorrupt, "not valid JSON");
  expect_error("[]", ErrorCode::kInvalidArgument, "JSON object");
  expect_error("{}", ErrorCode::kInvalidArgument, "no Records");
  expect_error(R"({"Records":{}})", ErrorCode::kInvalidArgument, "Records must be an array");
  expect_error(R"({"Records":[1]})", ErrorCode::kInvalidArgument, "Records[0] must be an object");
  expect_error(R"({"Records":[{"s3":{}}]})", ErrorCode::kInvalidArgument,
               "Records[0].eventName is missing");
  expect_error(R"({"Records":[{"eventName":7,"s3":{}}]})", ErrorCode::kInvalidArgument,
               "Records[0].eventName must be a string");
  expect_error(R"({"Records":[{"eventName":"s3:","s3":{}}]})", ErrorCode::kInvalidArgument,
               "names no event");
  expect_error(R"({"Records":[{"eventName":"ObjectCreated:Put"}]})", ErrorCode::kInvalidArgument,
               "Records[0].s3 is missing");
  expect_error(R"({"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]})",
               ErrorCode::kInvalidArgument, "Records[0].s3.bucket is missing");
  const std::string head =
      R"({"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":)";
  expect_error(head + R"({}}}]})", ErrorCode::kInvalidArgument,
               "Records[0].s3.object.key is missing");
  expect_error(head + R"({"key":""}}}]})", ErrorCode::kInvalidArgument, "must not be empty");
  expect_error(head + R"({"key":"a%2"}}}]})", ErrorCode::kInvalidArgument, "percent-encoding");
  expect_error(head + R"({"key":"a%zz"}}}]})", ErrorCode::kInvalidArgument, "percent-encoding");
  expect_error(head + R"({"key":"%FF"}}}]})", ErrorCode::kInvalidArgument, "UTF-8");
  expect_error(head + R"({"key":"k","size":-1}}}]})", ErrorCode::kInvalidArgument, "negative");
  expect_error(head + R"({"key":"k","size":1.5}}}]})", ErrorCode::kInvalidArgument,
               "s3.object.size must be a non-negative integer");
  expect_error(head + R"({"key":"k","size":"12x"}}}]})", ErrorCode::kInvalidArgument, "size");
  expect_error(head + R"({"key":"k","eTag":[]}}}]})", ErrorCode::kInvalidArgument,
               "s3.object.eTag must be a string");
}

TEST(ParseEvent, Limits) {
  expect_error(std::string(kMaxEventBytes + 1, ' '), ErrorCode::kTooLarge, "bytes");
  expect_error(std::string(100, '[') + std::string(100, ']'), ErrorCode::kTooLarge, "nests");
  std::string many = R"({"Records":[)";
  for (std::size_t i = 0; i <= kMaxEventRecords; ++i) many += (i ? ",{}" : "{}");
  many += "]}";
  expect_error(many, ErrorCode::kTooLarge, "records");
}

TEST(FormUrl, EncodeDecode) {
  EXPECT_EQ(form_url_encode("a b+c/d%e~f"), "a+b%2Bc/d%25e~f");
  EXPECT_EQ(form_url_encode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(*form_url_decode("a+b%2Bc%2fd"), "a b+c/d");
  EXPECT_FALSE(form_url_decode("%").has_value());
  EXPECT_FALSE(form_url_decode("%C3").has_value());        // truncated UTF-8
  EXPECT_FALSE(form_url_decode("%ED%A0%80").has_value());  // a surrogate
}

TEST(Classify, Kinds) {
  EXPECT_EQ(classify("ObjectCreated:CompleteMultipartUpload"), EventKind::kCreated);
  EXPECT_EQ(classify("s3:ObjectRemoved:DeleteMarkerCreated"), EventKind::kRemoved);
  EXPECT_EQ(classify("s3:TestEvent"), EventKind::kTest);
  EXPECT_EQ(classify("ObjectRestore:Post"), EventKind::kOther);
}

}  // namespace
}  // namespace imgflow::events
