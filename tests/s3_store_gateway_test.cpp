// S3Store (the client side) against the embedded gateway (the server side), both real: the
// imgflow binary serving on a loopback port, libcurl underneath S3Store.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "core/digest.h"
#include "http/curl_http_client.h"
#include "serve_process.h"
#include "storage/s3/s3_store.h"
#include "storage/test_support.h"

namespace imgflow {
namespace {

using storage::ErrorDetail;
using storage::testing::ChunkedSource;
using storage::testing::make_bytes;
using testing::ServeProcess;

class S3StoreAgainstGateway : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServeProcess(IMGFLOW_BINARY);
    ASSERT_FALSE(server_->endpoint().empty()) << "imgflow serve did not start";
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override { store_ = make_store(ServeProcess::kSecretAccessKey); }

  std::unique_ptr<storage::s3::S3Store> make_store(const std::string& secret) {
    storage::s3::S3Config config;
    config.endpoint = server_->endpoint();
    config.path_style = true;
    config.credentials = sigv4::Credentials{ServeProcess::kAccessKeyId, secret, ""};
    config.retry.max_attempts = 1;
    auto store = storage::s3::S3Store::create(config, client_);
    EXPECT_TRUE(store) << store.error().to_string();
    return store ? std::move(*store) : nullptr;
  }

  static ServeProcess* server_;
  http::CurlHttpClient client_;
  std::unique_ptr<storage::s3::S3Store> store_;
};

ServeProcess* S3StoreAgainstGateway::server_ = nullptr;

TEST_F(S3StoreAgainstGateway, PutGetHeadDeleteRoundTrip) {
  storage::PutOptions options;
  options.content_type = "image/png";
  options.user_metadata = {{"origin", "round trip"}};
  const std::string body = make_bytes(70'000, 1);
  auto put = store_->put("processed", "dir/with space/ünï.png", body, options);
  ASSERT_TRUE(put) << put.error().to_string();
  EXPECT_EQ(put->etag, core::to_hex(core::md5(body)));

  auto head = store_->head("processed", "dir/with space/ünï.png");
  ASSERT_TRUE(head) << head.error().to_string();
  EXPECT_EQ(head->size, body.size());
  EXPECT_EQ(head->content_type, "image/png");
  EXPECT_EQ(head->user_metadata.at("origin"), "round trip");

  auto got = store_->get_string("processed", "dir/with space/ünï.png");
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(*got, body);

  auto range = store_->get_string("processed", "dir/with space/ünï.png",
                                  {storage::ByteRange::from(100, 199)});
  ASSERT_TRUE(range) << range.error().to_string();
  EXPECT_EQ(*range, body.substr(100, 100));

  ASSERT_TRUE(store_->delete_object("processed", "dir/with space/ünï.png"));
  auto gone = store_->head("processed", "dir/with space/ünï.png");
  ASSERT_FALSE(gone);
  EXPECT_EQ(storage::detail_of(gone.error()), ErrorDetail::kNoSuchKey);
}

TEST_F(S3StoreAgainstGateway, ListPagesWithPrefixAndDelimiter) {
  for (const char* key :
       {"list/a.jpg", "list/b.jpg", "list/c.jpg", "list/sub/d.jpg", "other.jpg"}) {
    ASSERT_TRUE(store_->put("processed", key, std::string("x"), {}));
  }
  storage::ListOptions options;
  options.prefix = "list/";
  options.delimiter = "/";
  options.max_keys = 2;
  std::vector<std::string> keys;
  std::vector<std::string> prefixes;
  for (int page = 0; page < 10; ++page) {
    auto result = store_->list("processed", options);
    ASSERT_TRUE(result) << result.error().to_string();
    for (const auto& o : result->objects) keys.push_back(o.key);
    for (const auto& p : result->common_prefixes) prefixes.push_back(p);
    if (!result->is_truncated) break;
    options.continuation_token = result->next_continuation_token;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"list/a.jpg", "list/b.jpg", "list/c.jpg"}));
  EXPECT_EQ(prefixes, (std::vector<std::string>{"list/sub/"}));
}

TEST_F(S3StoreAgainstGateway, CopyKeepsTheBytes) {
  const std::string body = make_bytes(10'000, 2);
  ASSERT_TRUE(store_->put("processed", "copy/src.bin", body, {}));
  auto copied = store_->copy("processed", "copy/src.bin", "processed", "copy/dst.bin", {});
  ASSERT_TRUE(copied) << copied.error().to_string();
  EXPECT_EQ(*store_->get_string("processed", "copy/dst.bin"), body);
}

TEST_F(S3StoreAgainstGateway, MultipartUploadGivesTheS3Etag) {
  const std::string part1 = make_bytes(5 << 20, 3);
  const std::string part2 = make_bytes(1000, 4);
  auto id = store_->create_multipart_upload("processed", "multi/big.bin", {});
  ASSERT_TRUE(id) << id.error().to_string();
  storage::StringSource s1(part1);
  storage::StringSource s2(part2);
  auto p1 = store_->upload_part("processed", "multi/big.bin", *id, 1, s1, {});
  auto p2 = store_->upload_part("processed", "multi/big.bin", *id, 2, s2, {});
  ASSERT_TRUE(p1) << p1.error().to_string();
  ASSERT_TRUE(p2) << p2.error().to_string();
  auto done = store_->complete_multipart_upload("processed", "multi/big.bin", *id,
                                                {{1, p1->etag}, {2, p2->etag}}, {});
  ASSERT_TRUE(done) << done.error().to_string();
  const auto d1 = core::md5(part1);
  const auto d2 = core::md5(part2);
  std::string both(reinterpret_cast<const char*>(d1.data()), d1.size());
  both.append(reinterpret_cast<const char*>(d2.data()), d2.size());
  EXPECT_EQ(done->etag, core::to_hex(core::md5(both)) + "-2");
  EXPECT_EQ(*store_->get_string("processed", "multi/big.bin"), part1 + part2);
}

// Reads of an odd size, as a socket hands a body over.
constexpr std::size_t kUnevenRead = 300'007;

std::size_t uploads_left(storage::ObjectStore& store, const std::string& prefix) {
  storage::ListUploadsOptions options;
  options.prefix = prefix;
  auto listed = store.list_multipart_uploads("processed", options);
  EXPECT_TRUE(listed) << listed.error().to_string();
  return listed ? listed->uploads.size() : 0;
}

TEST_F(S3StoreAgainstGateway, LargePutGoesUpInPartsAndRoundTrips) {
  // Over S3Store's 8 MiB limit: three 8 MiB parts, no length given; the GET spools.
  const std::string body = make_bytes(20 << 20, 5);
  ChunkedSource source(body, kUnevenRead);
  storage::PutOptions options;
  options.content_type = "application/x-big";
  options.content_md5 = core::base64_encode(core::md5(body));
  auto put = store_->put("processed", "large/blob.bin", source, options);
  ASSERT_TRUE(put) << put.error().to_string();
  EXPECT_EQ(put->size, body.size());
  EXPECT_TRUE(put->etag.ends_with("-3")) << put->etag;
  auto head = store_->head("processed", "large/blob.bin");
  ASSERT_TRUE(head) << head.error().to_string();
  EXPECT_EQ(head->size, body.size());
  EXPECT_EQ(head->content_type, "application/x-big");
  auto got = store_->get_string("processed", "large/blob.bin");
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->size(), body.size());
  EXPECT_TRUE(*got == body);
  EXPECT_EQ(uploads_left(*store_, "large/"), 0U);
}

TEST_F(S3StoreAgainstGateway, FailedLargePutLeavesNoObjectAndNoUpload) {
  const std::string body = make_bytes(20 << 20, 6);
  ChunkedSource dropped(body, kUnevenRead, 12 << 20);  // after the first part went up
  auto cut = store_->put("processed", "aborted/a.bin", dropped, {});
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().message, "client went away");

  ChunkedSource whole(body, kUnevenRead);
  storage::PutOptions options;
  options.content_md5 = core::base64_encode(core::md5("not the body"));
  auto bad = store_->put("processed", "aborted/b.bin", whole, options);
  ASSERT_FALSE(bad);
  EXPECT_EQ(storage::detail_of(bad.error()), ErrorDetail::kBadDigest);

  for (const char* key : {"aborted/a.bin", "aborted/b.bin"}) {
    auto head = store_->head("processed", key);
    ASSERT_FALSE(head) << key;
    EXPECT_EQ(storage::detail_of(head.error()), ErrorDetail::kNoSuchKey);
  }
  EXPECT_EQ(uploads_left(*store_, "aborted/"), 0U);
}

TEST_F(S3StoreAgainstGateway, WrongSecretIsRefused) {
  auto wrong = make_store("not-the-secret-not-the-secret-not-the-se");
  auto result = wrong->put("processed", "nope.bin", std::string("x"), {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, core::ErrorCode::kPermissionDenied) << result.error().to_string();
  EXPECT_FALSE(store_->head("processed", "nope.bin"));
}

}  // namespace
}  // namespace imgflow
