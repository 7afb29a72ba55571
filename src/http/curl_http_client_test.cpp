#include "http/curl_http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "http/fake_http_client.h"
#include "http/test_server.h"

namespace imgflow::http {
namespace {

using testing_support::LoopbackServer;

using core::ErrorCode;

std::string reply(std::string_view status_line, std::string_view headers, std::string_view body) {
  return std::string(status_line) + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n" + std::string(headers) + "\r\n" + std::string(body);
}

std::string body_of(const std::string& raw) { return raw.substr(raw.find("\r\n\r\n") + 4); }

TEST(CurlHttpClient, GetStreamsResponseAndKeepsPathAsIs) {
  LoopbackServer server([](const std::string&) {
    return reply("HTTP/1.1 200 OK", "ETag: \"abc\"\r\nx-amz-meta-color:  blue \r\n", "hello world");
  });
  CurlHttpClient client;
  Request req;
  req.url = server.url("/bucket/a%20b/../c?list-type=2&prefix=x");
  req.headers = {{"Host", "bucket.example"}, {"X-Amz-Date", "20240101T000000Z"}};
  std::string body;
  StringBodySink sink(body);
  const auto resp = client.send(req, nullptr, &sink);
  ASSERT_TRUE(resp.has_value()) << resp.error().to_string();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(body, "hello world");
  EXPECT_EQ(resp->header("etag").value_or(""), "\"abc\"");
  EXPECT_EQ(resp->header("X-AMZ-META-COLOR").value_or(""), "blue");
  const std::string& raw = server.request();
  EXPECT_TRUE(raw.starts_with("GET /bucket/a%20b/../c?list-type=2&prefix=x HTTP/1.1\r\n")) << raw;
  EXPECT_NE(raw.find("Host: bucket.example\r\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("X-Amz-Date: 20240101T000000Z\r\n"), std::string::npos);
  EXPECT_EQ(raw.find("Expect:"), std::string::npos);
}

TEST(CurlHttpClient, PutStreamsBodyWithLength) {
  LoopbackServer server([](const std::string&) { return reply("HTTP/1.1 200 OK", "", ""); });
  std::string payload(200'000, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  CurlHttpClient client;
  Request req{"PUT", server.url("/b/k"), {}, payload.size()};
  StringBodySource source(payload);
  const auto resp = client.send(req, &source, nullptr);
  ASSERT_TRUE(resp.has_value()) << resp.error().to_string();
  const std::string& raw = server.request();
  EXPECT_TRUE(raw.starts_with("PUT /b/k HTTP/1.1\r\n"));
  EXPECT_NE(raw.find("Content-Length: 200000\r\n"), std::string::npos);
  EXPECT_EQ(body_of(raw), payload);
}

TEST(CurlHttpClient, PostWithoutLengthIsChunked) {
  LoopbackServer server([](const std::string&) { return reply("HTTP/1.1 201 Created", "", ""); });
  CurlHttpClient client;
  Request req{"POST", server.url("/b?uploads"), {}, std::nullopt};
  StringBodySource source("abc");
  const auto resp = client.send(req, &source, nullptr);
  ASSERT_TRUE(resp.has_value()) << resp.error().to_string();
  EXPECT_EQ(resp->status, 201);
  const std::string& raw = server.request();
  EXPECT_TRUE(raw.starts_with("POST /b?uploads HTTP/1.1\r\n")) << raw;
  EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << raw;
  EXPECT_EQ(body_of(raw), "3\r\nabc\r\n0\r\n\r\n");
}

TEST(CurlHttpClient, EmptyPutSendsZeroLength) {
  LoopbackServer server([](const std::string&) { return reply("HTTP/1.1 200 OK", "", ""); });
  CurlHttpClient client;
  const auto resp = client.send(Request{"PUT", server.url("/newbucket"), {}, {}}, nullptr, nullptr);
  ASSERT_TRUE(resp.has_value()) << resp.error().to_string();
  EXPECT_NE(server.request().find("Content-Length: 0\r\n"), std::string::npos) << server.request();
}

TEST(CurlHttpClient, HeadReadsHeadersOnly) {
  LoopbackServer server([](const std::string&) {
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 120\r\nConnection: close\r\n\r\n";
  });
  CurlHttpClient client;
  const auto resp =
      client.send(Request{"HEAD", server.url("/b/missing"), {}, {}}, nullptr, nullptr);
  ASSERT_TRUE(resp.has_value()) << resp.error().to_string();
  EXPECT_EQ(resp->status, 404);
  EXPECT_EQ(resp->header("content-length").value_or(""), "120");
  EXPECT_TRUE(server.request().starts_with("HEAD /b/missing HTTP/1.1\r\n"));
}

TEST(CurlHttpClient, DeadlineGivesTimeout) {
  LoopbackServer server([](const std::string&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return reply("HTTP/1.1 200 OK", "", "late");
  });
  CurlHttpClient client;
  Request req{"GET", server.url("/slow"), {}, {}};
  req.timeout = std::chrono::milliseconds(200);
  const auto resp = client.send(req, nullptr, nullptr);
  ASSERT_FALSE(resp.has_value());
  EXPECT_EQ(resp.error().code, ErrorCode::kTimeout) << resp.error().to_string();
}

TEST(CurlHttpClient, RefusedConnectionIsUnavailable) {
  // A port that was just free: bind, read the number, close.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  CurlHttpClient client;
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  const auto resp = client.send(Request{"GET", url, {}, {}}, nullptr, nullptr);
  ASSERT_FALSE(resp.has_value());
  EXPECT_EQ(resp.error().code, ErrorCode::kUnavailable) << resp.error().to_string();
}

TEST(CurlHttpClient, SinkErrorAbortsTransfer) {
  LoopbackServer server(
      [](const std::string&) { return reply("HTTP/1.1 200 OK", "", std::string(100'000, 'z')); });
  class FailingSink final : public BodySink {
   public:
    core::Status write(std::string_view) override {
      return core::fail(ErrorCode::kTooLarge, "object over the limit");
    }
  } sink;
  CurlHttpClient client;
  const auto resp = client.send(Request{"GET", server.url("/big"), {}, {}}, nullptr, &sink);
  ASSERT_FALSE(resp.has_value());
  EXPECT_EQ(resp.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(resp.error().message, "object over the limit");
}

TEST(CurlHttpClient, SourceErrorAbortsTransfer) {
  LoopbackServer server([](const std::string&) { return reply("HTTP/1.1 200 OK", "", ""); });
  class FailingSource final : public BodySource {
   public:
    core::Result<std::size_t> read(char*, std::size_t) override {
      return core::fail(ErrorCode::kCorrupt, "disk read failed");
    }
  } source;
  CurlHttpClient client;
  const auto resp = client.send(Request{"PUT", server.url("/b/k"), {}, 10}, &source, nullptr);
  ASSERT_FALSE(resp.has_value());
  EXPECT_EQ(resp.error().code, ErrorCode::kCorrupt);
}

TEST(CurlHttpClient, HandlesAreReused) {
  CurlHttpClient client(1);
  for (int i = 0; i < 3; ++i) {
    LoopbackServer server(
        [i](const std::string&) { return reply("HTTP/1.1 200 OK", "", std::to_string(i)); });
    std::string body;
    StringBodySink sink(body);
    const auto resp = client.send(Request{"GET", server.url("/"), {}, {}}, nullptr, &sink);
    ASSERT_TRUE(resp.has_value()) << resp.error().to_string();
    EXPECT_EQ(body, std::to_string(i));
  }
}

TEST(FakeHttpClient, ScriptsAndRecords) {
  FakeHttpClient fake;
  fake.push(200, "body", {{"ETag", "\"e\""}});
  fake.push_error({ErrorCode::kUnavailable, "connection reset"});
  std::string got;
  StringBodySink sink(got);
  StringBodySource source("up");
  const auto first = fake.send(Request{"PUT", "http://h/b/k", {{"A", "1"}}, 2}, &source, &sink);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->header("etag").value_or(""), "\"e\"");
  EXPECT_EQ(got, "body");
  const auto second = fake.send(Request{"GET", "http://h/b/k", {}, {}}, nullptr, nullptr);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(fake.send(Request{}, nullptr, nullptr)->status, 599);
  const auto recorded = fake.requests();
  ASSERT_EQ(recorded.size(), 3U);
  EXPECT_EQ(recorded[0].request.method, "PUT");
  EXPECT_EQ(recorded[0].body, "up");
  EXPECT_TRUE(recorded[0].had_body);
  EXPECT_FALSE(recorded[1].had_body);
}

}  // namespace
}  // namespace imgflow::http
