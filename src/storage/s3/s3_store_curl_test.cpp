// S3Store over the real CurlHttpClient against a loopback server that checks every request with
// the project's SigV4 verifier: what curl puts on the wire must be exactly what was signed.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/digest.h"
#include "http/curl_http_client.h"
#include "http/request_head.h"
#include "http/test_server.h"
#include "sigv4/verifier.h"
#include "storage/s3/s3_store.h"

namespace imgflow::storage::s3 {
namespace {

using http::testing_support::LoopbackServer;

constexpr std::string_view kKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Received {
  http::RequestHead request;
  std::string body;
};

Received parse_raw(const std::string& raw) {
  Received out;
  const auto head_end = raw.find("\r\n\r\n");
  std::string_view head(raw.data(), head_end);
  out.body = raw.substr(head_end + 4);
  const auto line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  out.request.method = std::string(line.substr(0, sp1));
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto q = target.find('?');
  out.request.path = std::string(target.substr(0, q));
  out.request.query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
  head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
  while (!head.empty()) {
    const auto end = head.find("\r\n");
    const std::string_view h = head.substr(0, end);
    const auto colon = h.find(':');
    out.request.headers.push_back(
        {std::string(h.substr(0, colon)), std::string(h.substr(colon + 2))});
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
  }
  return out;
}

// Verifies the signature and the payload hash; answers 200 with `ok_reply` or 403 with the reason.
LoopbackServer::Respond verifying(const core::Clock& clock, std::string ok_headers,
                                  std::string ok_body, Received* seen) {
  return [&clock, ok_headers, ok_body, seen](const std::string& raw) {
    *seen = parse_raw(raw);
    const auto lookup = [](std::string_view id) -> std::optional<sigv4::SecretKey> {
      if (id != kKeyId) return std::nullopt;
      return sigv4::SecretKey{std::string(kSecret), "admin", "", std::nullopt};
    };
    auto verified = sigv4::verify_header(seen->request, lookup, clock);
    std::string reason;
    if (!verified) {
      reason = verified.error().message;
    } else if (auto p = sigv4::check_payload_sha256(*verified, core::sha256(seen->body)); !p) {
      reason = p.error().message;
    }
    if (!reason.empty()) {
      const std::string body =
          "<Error><Code>SignatureDoesNotMatch</Code><Message>" + reason + "</Message></Error>";
      return "HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\nConnection: close\r\n\r\n" + body;
    }
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(ok_body.size()) +
           "\r\nConnection: close\r\n" + ok_headers + "\r\n" + ok_body;
  };
}

class S3OverCurlTest : public ::testing::Test {
 protected:
  std::unique_ptr<S3Store> store_for(const LoopbackServer& server,
                                     std::size_t max_buffered = 1 << 20) {
    S3Config config;
    config.endpoint = server.url("");
    config.path_style = true;
    config.credentials = sigv4::Credentials{std::string(kKeyId), std::string(kSecret), ""};
    config.retry.max_attempts = 1;
    config.max_buffered_body = max_buffered;
    config.timeout = std::chrono::seconds(10);
    auto store = S3Store::create(config, client_, core::SystemClock::instance());
    EXPECT_TRUE(store.has_value());
    return std::move(*store);
  }

  http::CurlHttpClient client_;
  Received seen_;
};

TEST_F(S3OverCurlTest, SignedPutIsAccepted) {
  LoopbackServer server(verifying(core::SystemClock::instance(), "ETag: \"abc\"\r\n", "", &seen_));
  ASSERT_TRUE(server.ok());
  auto store = store_for(server);
  PutOptions options;
  options.content_type = "image/jpeg";
  options.user_metadata = {{"imgflow-recipe", "r1"}};
  const std::string body(3000, 'j');
  const auto info = store->put("uploads", "photos/my cat (1)+\xE2\x82\xAC.jpg", body, options);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_EQ(info->etag, "abc");
  server.request();
  EXPECT_EQ(seen_.request.method, "PUT");
  EXPECT_EQ(seen_.request.path, "/uploads/photos/my%20cat%20%281%29%2B%E2%82%AC.jpg");
  EXPECT_EQ(seen_.body, body);
}

TEST_F(S3OverCurlTest, StreamedUploadPartIsAccepted) {
  LoopbackServer server(verifying(core::SystemClock::instance(), "ETag: \"s\"\r\n", "", &seen_));
  auto store = store_for(server, 10);
  PartOptions options;
  const std::string body(50'000, 's');
  options.content_length = body.size();
  StringSource source(body);
  const auto info = store->upload_part("uploads", "big.bin", "U1", 1, source, options);
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  server.request();
  EXPECT_EQ(seen_.body, body);
}

TEST_F(S3OverCurlTest, SignedListIsAccepted) {
  LoopbackServer server(verifying(core::SystemClock::instance(), "",
                                  "<ListBucketResult><IsTruncated>false</IsTruncated>"
                                  "<Contents><Key>a b.jpg</Key><Size>1</Size></Contents>"
                                  "</ListBucketResult>",
                                  &seen_));
  auto store = store_for(server);
  ListOptions options;
  options.prefix = "photos/2024 q1+x";
  options.start_after = "photos/2024 q1+x/a";
  const auto list = store->list("uploads", options);
  ASSERT_TRUE(list.has_value()) << list.error().to_string();
  ASSERT_EQ(list->objects.size(), 1U);
  EXPECT_EQ(list->objects[0].key, "a b.jpg");  // no EncodingType: taken as is
}

TEST_F(S3OverCurlTest, BadSignatureMapsToPermissionDenied) {
  LoopbackServer server(verifying(core::SystemClock::instance(), "", "", &seen_));
  S3Config config;
  config.endpoint = server.url("");
  config.path_style = true;
  config.credentials = sigv4::Credentials{std::string(kKeyId), "wrong-secret", ""};
  auto store = S3Store::create(config, client_, core::SystemClock::instance());
  ASSERT_TRUE(store.has_value());
  const auto r = (*store)->delete_object("uploads", "k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(r.error().reason, "SignatureDoesNotMatch");
}

}  // namespace
}  // namespace imgflow::storage::s3
