// Behaviour every ObjectStore + Outbox implementation shares: each test runs against
// MemoryStore and LocalStore.

#include "storage/object_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/digest.h"
#include "storage/local_store.h"
#include "storage/memory_store.h"
#include "storage/test_support.h"

namespace imgflow::storage {
namespace {

using namespace std::chrono_literals;
using testing::ChunkedSource;
using testing::make_bytes;
using testing::TempDir;

std::string hex_md5(std::string_view data) { return core::to_hex(core::md5(data)); }
std::string b64_md5(std::string_view data) { return core::base64_encode(core::md5(data)); }

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "local") {
      dir_ = std::make_unique<TempDir>();
      auto opened = LocalStore::open({dir_->path(), &clock_});
      ASSERT_TRUE(opened) << opened.error().to_string();
      outbox_ = opened->get();
      store_ = std::move(*opened);
    } else {
      auto memory = std::make_unique<MemoryStore>(clock_);
      outbox_ = memory.get();
      store_ = std::move(memory);
    }
    ASSERT_OK(store_->create_bucket("bkt"));
  }

  // Puts `body` and fails the test on error.
  ObjectInfo put(std::string_view key, std::string_view body, const PutOptions& options = {}) {
    auto info = store_->put("bkt", key, body, options);
    EXPECT_TRUE(info) << info.error().to_string();
    return info ? *info : ObjectInfo{};
  }

  std::string get(std::string_view key, const GetOptions& options = {}) {
    auto body = store_->get_string("bkt", key, options);
    EXPECT_TRUE(body) << body.error().to_string();
    return body ? *body : std::string();
  }

  core::ManualClock clock_{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ObjectStore> store_;
  Outbox* outbox_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "local"),
                         [](const auto& param_info) { return param_info.param; });

// ---- put / get / head / delete ---------------------------------------------------------------

TEST_P(StoreTest, PutThenGetAndHeadReturnBytesAndMetadata) {
  PutOptions options;
  options.content_type = "image/jpeg";
  options.user_metadata = {{"imgflow-variant", "thumb"}, {"owner", "ann"}};
  options.cache_control = "max-age=60";
  const ObjectInfo put_info = put("photos/cat.jpg", "meow", options);
  EXPECT_EQ(put_info.etag, hex_md5("meow"));  // no quotes
  EXPECT_EQ(put_info.size, 4U);
  EXPECT_EQ(put_info.sequencer.size(), 16U);

  EXPECT_EQ(get("photos/cat.jpg"), "meow");
  auto head = store_->head("bkt", "photos/cat.jpg");
  ASSERT_OK(head);
  EXPECT_EQ(head->etag, put_info.etag);
  EXPECT_EQ(head->content_type, "image/jpeg");
  EXPECT_EQ(head->user_metadata, options.user_metadata);
  EXPECT_EQ(head->cache_control, "max-age=60");
  EXPECT_EQ(head->sequencer, put_info.sequencer);
  EXPECT_EQ(head->last_modified, clock_.now());
}

TEST_P(StoreTest, StreamsABodyThatArrivesInPieces) {
  const std::string body = make_bytes(3 * 1024 * 1024 + 17);
  ChunkedSource source(body, 65'537);
  auto info = store_->put("bkt", "big", source, PutOptions{});
  ASSERT_OK(info);
  EXPECT_EQ(info->size, body.size());
  EXPECT_EQ(info->etag, hex_md5(body));
  EXPECT_EQ(get("big"), body);
}

TEST_P(StoreTest, EmptyObject) {
  EXPECT_EQ(put("empty", "").etag, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(get("empty"), "");
}

TEST_P(StoreTest, OverwriteReplacesTheBodyAndIncreasesTheSequencer) {
  const auto first = put("k", "one");
  const auto second = put("k", "two!");
  EXPECT_EQ(get("k"), "two!");
  EXPECT_GT(second.sequencer, first.sequencer);
  EXPECT_GT(put("other", "x").sequencer, second.sequencer);
}

TEST_P(StoreTest, MissingKeyAndBucket) {
  EXPECT_DETAIL(store_->get_string("bkt", "nope"), ErrorDetail::kNoSuchKey);
  EXPECT_DETAIL(store_->head("bkt", "nope"), ErrorDetail::kNoSuchKey);
  EXPECT_EQ(store_->head("bkt", "nope").error().code, core::ErrorCode::kNotFound);
  EXPECT_DETAIL(store_->put("nobucket", "k", "x"), ErrorDetail::kNoSuchBucket);
  EXPECT_DETAIL(store_->get_string("nobucket", "k"), ErrorDetail::kNoSuchBucket);
  EXPECT_DETAIL(store_->list("nobucket", {}), ErrorDetail::kNoSuchBucket);
  EXPECT_DETAIL(store_->delete_object("nobucket", "k"), ErrorDetail::kNoSuchBucket);
}

TEST_P(StoreTest, DeleteIsIdempotent) {
  put("k", "v");
  ASSERT_OK(store_->delete_object("bkt", "k"));
  EXPECT_DETAIL(store_->head("bkt", "k"), ErrorDetail::kNoSuchKey);
  ASSERT_OK(store_->delete_object("bkt", "k"));
  ASSERT_OK(store_->delete_object("bkt", "never-existed"));
}

TEST_P(StoreTest, AReaderKeepsItsVersionWhenTheKeyIsOverwrittenOrDeleted) {
  const std::string old_body = make_bytes(300'000, 7);
  put("k", old_body);
  auto reader = store_->open("bkt", "k");
  ASSERT_OK(reader);
  put("k", "new");
  ASSERT_OK(store_->delete_object("bkt", "k"));
  std::string read(old_body.size(), '\0');
  std::size_t done = 0;
  while (true) {
    auto n = (*reader)->read(read.data() + done, read.size() - done);
    ASSERT_OK(n);
    if (*n == 0) break;
    done += *n;
  }
  EXPECT_EQ(done, old_body.size());
  EXPECT_TRUE(read == old_body);
  EXPECT_EQ((*reader)->info().etag, hex_md5(old_body));
}

TEST_P(StoreTest, ConcurrentWritersToOneKeyLeaveOneCompleteVersion) {
  std::vector<std::string> bodies;
  for (unsigned i = 0; i < 8; ++i) bodies.push_back(make_bytes(100'000 + i * 1000, i + 1));
  std::vector<std::thread> threads;
  for (const auto& body : bodies) {
    threads.emplace_back([&] {
      for (int round = 0; round < 3; ++round) EXPECT_TRUE(store_->put("bkt", "hot", body));
    });
  }
  for (auto& t : threads) t.join();
  const std::string final_body = get("hot");
  EXPECT_NE(std::find(bodies.begin(), bodies.end(), final_body), bodies.end());
  EXPECT_EQ(store_->head("bkt", "hot")->etag, hex_md5(final_body));
}

// ---- keys ------------------------------------------------------------------------------------

TEST_P(StoreTest, AnyUtf8KeyRoundTrips) {
  std::string utf8_1024;
  while (utf8_1024.size() < 1024) utf8_1024 += "\xC3\xA9";  // é, two bytes
  const std::vector<std::string> keys = {"../../../../etc/passwd",
                                         "..",
                                         "a/../../b",
                                         "/leading/slash",
                                         "%2F..%2Fx",
                                         "a+b c",
                                         "trailing ",
                                         "tab\there",
                                         "\xE6\x97\xA5\xE6\x9C\xAC",
                                         std::string(1024, 'k'),
                                         utf8_1024,
                                         "./.",
                                         "a//b",
                                         "nul\x00in"};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& key = i + 1 == keys.size() ? std::string("nul\0in", 6) : keys[i];
    SCOPED_TRACE(key.substr(0, 40));
    put(key, "body" + std::to_string(i));
    EXPECT_EQ(get(key), "body" + std::to_string(i));
  }
  auto listed = store_->list("bkt", {});
  ASSERT_OK(listed);
  EXPECT_EQ(listed->objects.size(), keys.size());
}

TEST_P(StoreTest, RefusesBadKeys) {
  EXPECT_DETAIL(store_->put("bkt", std::string(1025, 'k'), "x"), ErrorDetail::kKeyTooLongError);
  EXPECT_DETAIL(store_->put("bkt", "", "x"), ErrorDetail::kInvalidArgument);
  EXPECT_DETAIL(store_->put("bkt", "bad\xFFutf8", "x"), ErrorDetail::kInvalidArgument);
  EXPECT_DETAIL(store_->put("bkt", "overlong\xC0\xAF", "x"), ErrorDetail::kInvalidArgument);
  EXPECT_DETAIL(store_->get_string("bkt", std::string(1025, 'k')), ErrorDetail::kKeyTooLongError);
}

// ---- buckets ---------------------------------------------------------------------------------

TEST_P(StoreTest, Buckets) {
  EXPECT_DETAIL(store_->create_bucket("bkt"), ErrorDetail::kBucketAlreadyOwnedByYou);
  EXPECT_EQ(store_->create_bucket("bkt").error().code, core::ErrorCode::kAlreadyExists);
  for (const char* bad : {"ab", "UPPER", "has_underscore", "-dash", "dots..dots", "192.168.1.1",
                          "../evil", "a/b", "", "xn--punycode", "sthree-x", "amzn-s3-demo-x",
                          "x-s3alias", "x--ol-s3", "x.mrap", "x--x-s3", "x--table-s3"}) {
    SCOPED_TRACE(bad);
    EXPECT_DETAIL(store_->create_bucket(bad), ErrorDetail::kInvalidBucketName);
  }
  // Reserved words elsewhere in a name are fine.
  ASSERT_OK(store_->create_bucket("my-xn--s3alias.x"));
  ASSERT_OK(store_->create_bucket("a-bucket.2"));
  auto buckets = store_->list_buckets();
  ASSERT_OK(buckets);
  ASSERT_EQ(buckets->size(), 3U);
  EXPECT_EQ((*buckets)[0].name, "a-bucket.2");
  EXPECT_EQ((*buckets)[1].name, "bkt");
  ASSERT_OK(store_->head_bucket("bkt"));
  EXPECT_DETAIL(store_->head_bucket("missing"), ErrorDetail::kNoSuchBucket);
}

TEST_P(StoreTest, DeleteBucketOnlyWhenNothingIsInIt) {
  ASSERT_OK(store_->create_bucket("scratch"));
  ASSERT_OK(store_->put("scratch", "k", "x"));
  EXPECT_DETAIL(store_->delete_bucket("scratch"), ErrorDetail::kBucketNotEmpty);
  ASSERT_OK(store_->delete_object("scratch", "k"));
  auto upload = store_->create_multipart_upload("scratch", "m", {});
  ASSERT_OK(upload);
  EXPECT_DETAIL(store_->delete_bucket("scratch"), ErrorDetail::kBucketNotEmpty);
  ASSERT_OK(store_->abort_multipart_upload("scratch", "m", *upload));
  ASSERT_OK(store_->delete_bucket("scratch"));
  EXPECT_DETAIL(store_->head_bucket("scratch"), ErrorDetail::kNoSuchBucket);
  EXPECT_DETAIL(store_->put("scratch", "k", "x"), ErrorDetail::kNoSuchBucket);
  EXPECT_DETAIL(store_->delete_bucket("scratch"), ErrorDetail::kNoSuchBucket);
  EXPECT_EQ(store_->list_buckets()->size(), 1U);
  // The name can be used again, for an empty bucket.
  ASSERT_OK(store_->create_bucket("scratch"));
  EXPECT_EQ(store_->list("scratch", {})->key_count, 0);
  ASSERT_OK(store_->put("scratch", "k", "again"));
  EXPECT_EQ(store_->get_string("scratch", "k").value_or(""), "again");
}

// ---- ranges ----------------------------------------------------------------------------------

TEST_P(StoreTest, ByteRanges) {
  put("k", "0123456789");
  auto ranged = [&](ByteRange r) { return get("k", GetOptions{r}); };
  EXPECT_EQ(ranged(ByteRange::from(2, 4)), "234");
  EXPECT_EQ(ranged(ByteRange::from(7)), "789");
  EXPECT_EQ(ranged(ByteRange::from(8, 100)), "89");  // last past the end is clamped
  EXPECT_EQ(ranged(ByteRange::suffix(3)), "789");
  EXPECT_EQ(ranged(ByteRange::suffix(50)), "0123456789");
  EXPECT_EQ(ranged(ByteRange::from(9, 9)), "9");

  auto reader = store_->open("bkt", "k", GetOptions{ByteRange::from(3, 5)});
  ASSERT_OK(reader);
  EXPECT_TRUE((*reader)->partial());
  EXPECT_EQ((*reader)->first(), 3U);
  EXPECT_EQ((*reader)->length(), 3U);
  EXPECT_EQ((*reader)->info().size, 10U);

  for (auto bad : {ByteRange::from(10), ByteRange::from(10, 20), ByteRange::suffix(0)}) {
    EXPECT_DETAIL(store_->get_string("bkt", "k", GetOptions{bad}), ErrorDetail::kInvalidRange);
  }
  put("empty", "");
  EXPECT_DETAIL(store_->get_string("bkt", "empty", GetOptions{ByteRange::from(0)}),
                ErrorDetail::kInvalidRange);
  EXPECT_DETAIL(store_->get_string("bkt", "empty", GetOptions{ByteRange::suffix(1)}),
                ErrorDetail::kInvalidRange);
}

// ---- list ------------------------------------------------------------------------------------

std::vector<std::string> keys_of(const ListResult& r) {
  std::vector<std::string> out;
  for (const auto& o : r.objects) out.push_back(o.key);
  return out;
}

TEST_P(StoreTest, ListPagesThroughCommonPrefixesAndKeys) {
  for (const char* key : {"a/1", "a/2", "b/1", "c", "d/x/y", "d/z", "e"}) put(key, key);
  ListOptions options;
  options.delimiter = "/";
  options.max_keys = 2;
  std::vector<std::vector<std::string>> pages;
  std::vector<std::string> all_keys;
  std::vector<std::string> all_prefixes;
  while (true) {
    auto page = store_->list("bkt", options);
    ASSERT_OK(page);
    EXPECT_EQ(page->key_count,
              static_cast<int>(page->objects.size() + page->common_prefixes.size()));
    EXPECT_LE(page->key_count, 2);
    for (auto& k : keys_of(*page)) all_keys.push_back(k);
    for (auto& p : page->common_prefixes) all_prefixes.push_back(p);
    if (!page->is_truncated) break;
    EXPECT_FALSE(page->next_continuation_token.empty());
    options.continuation_token = page->next_continuation_token;
    ASSERT_LT(all_keys.size() + all_prefixes.size(), 20U);
  }
  EXPECT_EQ(all_keys, (std::vector<std::string>{"c", "e"}));
  EXPECT_EQ(all_prefixes, (std::vector<std::string>{"a/", "b/", "d/"}));

  // Page 1 is exactly [a/, b/] and says there is more.
  options.continuation_token.clear();
  auto first = store_->list("bkt", options);
  ASSERT_OK(first);
  EXPECT_EQ(first->common_prefixes, (std::vector<std::string>{"a/", "b/"}));
  EXPECT_TRUE(first->is_truncated);
}

TEST_P(StoreTest, ListWithPrefixDelimiterAndStartAfter) {
  for (const char* key : {"p/a.jpg", "p/b.jpg", "p/sub/c.jpg", "p/sub/d.jpg", "q/x", "p0"}) {
    put(key, "x");
  }
  ListOptions options;
  options.prefix = "p/";
  options.delimiter = "/";
  auto r = store_->list("bkt", options);
  ASSERT_OK(r);
  EXPECT_EQ(keys_of(*r), (std::vector<std::string>{"p/a.jpg", "p/b.jpg"}));
  EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"p/sub/"}));
  EXPECT_FALSE(r->is_truncated);
  EXPECT_EQ(r->key_count, 3);

  options.delimiter.clear();
  options.start_after = "p/b.jpg";
  r = store_->list("bkt", options);
  ASSERT_OK(r);
  EXPECT_EQ(keys_of(*r), (std::vector<std::string>{"p/sub/c.jpg", "p/sub/d.jpg"}));

  options = ListOptions{};
  options.start_after = "p0";
  r = store_->list("bkt", options);
  ASSERT_OK(r);
  EXPECT_EQ(keys_of(*r), (std::vector<std::string>{"q/x"}));
}

TEST_P(StoreTest, ListWithoutDelimiterVisitsEveryKeyOnceInOrder) {
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    expected.push_back("k" + std::to_string(100 + i));
    put(expected.back(), "x");
  }
  ListOptions options;
  options.max_keys = 7;
  std::vector<std::string> seen;
  int pages = 0;
  while (true) {
    auto page = store_->list("bkt", options);
    ASSERT_OK(page);
    ++pages;
    for (auto& k : keys_of(*page)) seen.push_back(k);
    if (!page->is_truncated) break;
    options.continuation_token = page->next_continuation_token;
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, 4);
}

TEST_P(StoreTest, ListMaxKeysLimits) {
  put("a", "x");
  ListOptions options;
  options.max_keys = 0;
  auto r = store_->list("bkt", options);
  ASSERT_OK(r);
  EXPECT_EQ(r->key_count, 0);
  options.max_keys = 5000;  // clamped to 1000, still lists
  EXPECT_EQ(store_->list("bkt", options)->key_count, 1);
  options.max_keys = -1;
  EXPECT_DETAIL(store_->list("bkt", options), ErrorDetail::kInvalidArgument);
  options.max_keys = 10;
  options.continuation_token = "not base64!";
  EXPECT_DETAIL(store_->list("bkt", options), ErrorDetail::kInvalidArgument);
}

// ---- digests and preconditions ---------------------------------------------------------------

TEST_P(StoreTest, ContentMd5) {
  PutOptions options;
  options.content_md5 = b64_md5("body");
  EXPECT_EQ(put("ok", "body", options).etag, hex_md5("body"));

  options.content_md5 = "not base64";
  EXPECT_DETAIL(store_->put("bkt", "k", "body", options), ErrorDetail::kInvalidDigest);
  options.content_md5 = core::base64_encode(std::string_view("short"));
  EXPECT_DETAIL(store_->put("bkt", "k", "body", options), ErrorDetail::kInvalidDigest);

  options.content_md5 = b64_md5("other");
  auto mismatch = store_->put("bkt", "k", "body", options);
  EXPECT_DETAIL(mismatch, ErrorDetail::kBadDigest);
  EXPECT_EQ(mismatch.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_DETAIL(store_->head("bkt", "k"), ErrorDetail::kNoSuchKey);  // nothing stored
}

TEST_P(StoreTest, Checksums) {
  const std::string body = "checksummed body";
  const std::vector<Checksum> good = {
      {ChecksumAlgorithm::kCrc32, core::base64_encode(core::be32_bytes(core::crc32(body)))},
      {ChecksumAlgorithm::kCrc32c, core::base64_encode(core::be32_bytes(core::crc32c(body)))},
      {ChecksumAlgorithm::kSha256, core::base64_encode(core::sha256(body))}};
  for (const auto& checksum : good) {
    SCOPED_TRACE(to_string(checksum.algorithm));
    PutOptions options;
    options.checksum = checksum;
    put("k", body, options);
    EXPECT_EQ(store_->head("bkt", "k")->checksum, checksum);

    auto wrong = checksum;
    wrong.base64 = checksum.algorithm == ChecksumAlgorithm::kSha256
                       ? core::base64_encode(core::sha256("x"))
                       : core::base64_encode(core::be32_bytes(1));
    options.checksum = wrong;
    EXPECT_DETAIL(store_->put("bkt", "k2", body, options), ErrorDetail::kBadDigest);

    auto malformed = checksum;
    malformed.base64 = "AAAA";  // 3 bytes
    options.checksum = malformed;
    EXPECT_DETAIL(store_->put("bkt", "k2", body, options), ErrorDetail::kInvalidRequest);
  }
  EXPECT_DETAIL(store_->head("bkt", "k2"), ErrorDetail::kNoSuchKey);
}

TEST_P(StoreTest, ContentLengthMismatchIsIncompleteBody) {
  PutOptions options;
  options.content_length = 10;
  EXPECT_DETAIL(store_->put("bkt", "k", "short", options), ErrorDetail::kIncompleteBody);
  options.content_length = 5;
  put("k", "short", options);
}

TEST_P(StoreTest, IfNoneMatchStarCreatesOnlyOnce) {
  PutOptions options;
  options.if_none_match_star = true;
  put("k", "first", options);
  auto again = store_->put("bkt", "k", "second", options);
  EXPECT_DETAIL(again, ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(again.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(get("k"), "first");
}

TEST_P(StoreTest, IfMatchReplacesOnlyTheVersionNamed) {
  const ObjectInfo first = put("k", "first");
  PutOptions options;
  options.if_match = "\"" + first.etag + "\"";  // quoted, as on the wire
  const ObjectInfo second = put("k", "second", options);
  EXPECT_EQ(get("k"), "second");
  // The first version's ETag no longer names the current one.
  auto stale = store_->put("bkt", "k", "third", options);
  EXPECT_DETAIL(stale, ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(get("k"), "second");
  options.if_match = second.etag;  // unquoted works too
  put("k", "third", options);
  options.if_match = "*";
  put("k", "fourth", options);
  EXPECT_DETAIL(store_->put("bkt", "absent", "x", options), ErrorDetail::kNoSuchKey);
  EXPECT_DETAIL(store_->head("bkt", "absent"), ErrorDetail::kNoSuchKey);
  // Both conditions: an existing key fails If-None-Match, an absent one If-Match.
  options.if_none_match_star = true;
  EXPECT_DETAIL(store_->put("bkt", "k", "x", options), ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(get("k"), "fourth");
}

// ---- copy ------------------------------------------------------------------------------------

TEST_P(StoreTest, CopyKeepsOrReplacesMetadata) {
  PutOptions options;
  options.content_type = "image/png";
  options.user_metadata = {{"a", "1"}};
  const auto source = put("src", "copied bytes", options);
  ASSERT_OK(store_->create_bucket("dst"));

  CopyOptions copy;
  copy.event = EventToRecord{"ObjectCreated:Copy", ""};
  auto copied = store_->copy("bkt", "src", "dst", "c1", copy);
  ASSERT_OK(copied);
  EXPECT_EQ(copied->etag, source.etag);
  EXPECT_EQ(copied->content_type, "image/png");
  EXPECT_EQ(copied->user_metadata, options.user_metadata);
  EXPECT_GT(copied->sequencer, source.sequencer);
  EXPECT_EQ(store_->get_string("dst", "c1").value(), "copied bytes");

  copy.replace_metadata = true;
  copy.content_type = "text/plain";
  copy.user_metadata = {{"bkt", "2"}};
  auto replaced =
      store_->copy("bkt", "src", "bkt", "src", copy);  // onto itself: allowed with REPLACE
  ASSERT_OK(replaced);
  EXPECT_EQ(store_->head("bkt", "src")->content_type, "text/plain");
  EXPECT_EQ(get("src"), "copied bytes");

  copy.replace_metadata = false;
  EXPECT_DETAIL(store_->copy("bkt", "src", "bkt", "src", copy), ErrorDetail::kInvalidRequest);
  EXPECT_DETAIL(store_->copy("bkt", "missing", "bkt", "x", copy), ErrorDetail::kNoSuchKey);
  EXPECT_DETAIL(store_->copy("bkt", "src", "nobucket", "x", copy), ErrorDetail::kNoSuchBucket);
  copy.if_none_match_star = true;
  EXPECT_DETAIL(store_->copy("bkt", "src", "dst", "c1", copy), ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(outbox_->count_pending().value(), 2U);
}

// ---- multipart -------------------------------------------------------------------------------

class MultipartTest : public StoreTest {
 protected:
  std::string create(std::string_view key = "mp") {
    MultipartOptions options;
    options.content_type = "video/mp4";
    options.user_metadata = {{"m", "v"}};
    auto id = store_->create_multipart_upload("bkt", key, options);
    EXPECT_TRUE(id) << id.error().to_string();
    return id ? *id : std::string();
  }
  PartInfo upload(const std::string& id, int number, std::string_view body,
                  std::string_view key = "mp") {
    StringSource source(body);
    auto part = store_->upload_part("bkt", key, id, number, source, PartOptions{});
    EXPECT_TRUE(part) << part.error().to_string();
    return part ? *part : PartInfo{};
  }
};

INSTANTIATE_TEST_SUITE_P(Stores, MultipartTest, ::testing::Values("memory", "local"),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(MultipartTest, CompleteJoinsPartsWithTheS3Etag) {
  const std::string p1 = make_bytes(kMinPartSize, 1);
  const std::string p2 = make_bytes(kMinPartSize + 3, 2);
  const std::string p3 = make_bytes(1000, 3);
  const std::string id = create();
  const auto i1 = upload(id, 1, p1);
  const auto i3 = upload(id, 3, p3);
  const auto i2 = upload(id, 2, p2);
  EXPECT_EQ(i1.etag, hex_md5(p1));

  auto parts = store_->list_parts("bkt", "mp", id);
  ASSERT_OK(parts);
  ASSERT_EQ(parts->size(), 3U);
  EXPECT_EQ((*parts)[1].part_number, 2);
  EXPECT_EQ((*parts)[1].size, p2.size());

  // Independently: md5 of the concatenated binary part digests, then "-<count>".
  std::string digests;
  for (const auto* p : {&p1, &p2, &p3}) {
    const auto d = core::md5(*p);
    digests.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  const std::string expected_etag = core::to_hex(core::md5(digests)) + "-3";

  CompleteOptions options;
  options.event = EventToRecord{"ObjectCreated:CompleteMultipartUpload", "{}"};
  auto done = store_->complete_multipart_upload(
      "bkt", "mp", id, {{1, i1.etag}, {2, "\"" + i2.etag + "\""}, {3, i3.etag}}, options);
  ASSERT_OK(done);
  EXPECT_EQ(done->etag, expected_etag);
  EXPECT_EQ(done->size, p1.size() + p2.size() + p3.size());
  EXPECT_EQ(done->content_type, "video/mp4");
  EXPECT_TRUE(get("mp") == p1 + p2 + p3);
  EXPECT_EQ(store_->head("bkt", "mp")->user_metadata.at("m"), "v");

  auto events = outbox_->claim(10, 1min);
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ((*events)[0].etag, expected_etag);
  EXPECT_DETAIL(store_->list_parts("bkt", "mp", id), ErrorDetail::kNoSuchUpload);
}

TEST_P(MultipartTest, CompleteHonoursIfMatchAndIfNoneMatch) {
  const ObjectInfo old = put("mp", "old version");
  const std::string id = create();
  const auto part = upload(id, 1, "new version");
  CompleteOptions options;
  options.if_match = "0123";
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", id, {{1, part.etag}}, options),
                ErrorDetail::kPreconditionFailed);
  options.if_match = std::nullopt;
  options.if_none_match_star = true;
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", id, {{1, part.etag}}, options),
                ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(get("mp"), "old version");
  options.if_none_match_star = false;
  options.if_match = old.etag;
  ASSERT_OK(store_->complete_multipart_upload("bkt", "mp", id, {{1, part.etag}}, options));
  EXPECT_EQ(get("mp"), "new version");
}

TEST_P(MultipartTest, ARetriedCompletionSucceedsAgainAndChangesNothing) {
  const std::string id = create();
  const auto part = upload(id, 1, "only part");
  CompleteOptions options;
  options.event = EventToRecord{"ObjectCreated:CompleteMultipartUpload", "{}"};
  auto first = store_->complete_multipart_upload("bkt", "mp", id, {{1, part.etag}}, options);
  ASSERT_OK(first);
  clock_.advance(5s);
  // The retry's conditions no longer hold (the key exists now), and the part list is wrong:
  // neither matters, the retry answers what the completion did.
  options.if_none_match_star = true;
  auto retry = store_->complete_multipart_upload("bkt", "mp", id, {{1, "bogus"}}, options);
  ASSERT_OK(retry);
  EXPECT_EQ(retry->etag, first->etag);
  EXPECT_EQ(retry->size, first->size);
  EXPECT_EQ(retry->sequencer, first->sequencer);
  EXPECT_EQ(retry->last_modified, first->last_modified);
  EXPECT_EQ(outbox_->count_pending().value(), 1U);  // no second event
  EXPECT_EQ(store_->head("bkt", "mp")->sequencer, first->sequencer);
  // Only the completion is remembered: the upload itself is gone.
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "other", id, {{1, part.etag}}, {}),
                ErrorDetail::kNoSuchUpload);
  StringSource more("x");
  EXPECT_DETAIL(store_->upload_part("bkt", "mp", id, 2, more, {}), ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->list_parts("bkt", "mp", id), ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->abort_multipart_upload("bkt", "mp", id), ErrorDetail::kNoSuchUpload);
}

TEST_P(MultipartTest, UploadsInProgressAreCappedPerInitiator) {
  MultipartOptions capped;
  capped.initiator = "anonymous 192.0.2.7";
  capped.max_uploads_per_initiator = 2;
  auto first = store_->create_multipart_upload("bkt", "a", capped);
  ASSERT_OK(first);
  ASSERT_OK(store_->create_multipart_upload("bkt", "b", capped));
  auto third = store_->create_multipart_upload("bkt", "c", capped);
  EXPECT_DETAIL(third, ErrorDetail::kSlowDown);
  EXPECT_EQ(third.error().code, core::ErrorCode::kUnavailable);
  // Others are not counted against it, nor is it limited without a cap.
  MultipartOptions other = capped;
  other.initiator = "anonymous 192.0.2.8";
  ASSERT_OK(store_->create_multipart_upload("bkt", "c", other));
  capped.max_uploads_per_initiator = 0;
  ASSERT_OK(store_->create_multipart_upload("bkt", "c", capped));
  // Finishing one makes room: 3 are open now, so a cap of 3 refuses and one abort allows.
  capped.max_uploads_per_initiator = 3;
  EXPECT_DETAIL(store_->create_multipart_upload("bkt", "d", capped), ErrorDetail::kSlowDown);
  ASSERT_OK(store_->abort_multipart_upload("bkt", "a", *first));
  ASSERT_OK(store_->create_multipart_upload("bkt", "d", capped));
  auto listed = store_->list_multipart_uploads("bkt", {});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->uploads.size(), 4U);  // b, c (twice), d
  EXPECT_EQ(listed->uploads[0].key, "b");
  EXPECT_EQ(listed->uploads[0].initiator, "anonymous 192.0.2.7");
}

TEST_P(MultipartTest, AnUploadEndsWhenItsTimeRunsOut) {
  MultipartOptions options;
  options.initiator = "anonymous 192.0.2.7";
  options.max_uploads_per_initiator = 1;
  options.expires = clock_.now() + 1h;
  auto id = store_->create_multipart_upload("bkt", "mp", options);
  ASSERT_OK(id);
  const auto part = upload(*id, 1, "before");
  clock_.advance(1h);
  StringSource late("late");
  EXPECT_DETAIL(store_->upload_part("bkt", "mp", *id, 2, late, {}), ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", *id, {{1, part.etag}}, {}),
                ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->list_parts("bkt", "mp", *id), ErrorDetail::kNoSuchUpload);
  EXPECT_TRUE(store_->list_multipart_uploads("bkt", {})->uploads.empty());
  // It no longer counts against its initiator, and no longer keeps its bucket in use.
  options.expires = std::nullopt;
  auto next = store_->create_multipart_upload("bkt", "mp", options);
  ASSERT_OK(next);
  ASSERT_OK(store_->abort_multipart_upload("bkt", "mp", *next));
  ASSERT_OK(store_->create_bucket("brief"));
  MultipartOptions brief;
  brief.expires = clock_.now() + 1s;
  ASSERT_OK(store_->create_multipart_upload("brief", "x", brief));
  EXPECT_DETAIL(store_->delete_bucket("brief"), ErrorDetail::kBucketNotEmpty);
  clock_.advance(1s);
  ASSERT_OK(store_->delete_bucket("brief"));
}

TEST_P(MultipartTest, TheUploadBudgetHoldsOverAllParts) {
  const std::string id = create();
  PartOptions options;
  options.max_upload_bytes = 10;
  const auto part = [&](int number, std::string_view body, bool declared) {
    StringSource source(body);
    PartOptions with = options;
    if (declared) with.content_length = body.size();
    return store_->upload_part("bkt", "mp", id, number, source, with);
  };
  ASSERT_OK(part(1, "123456", true));
  EXPECT_DETAIL(part(2, "12345", true), ErrorDetail::kEntityTooLarge);   // refused unread
  EXPECT_DETAIL(part(2, "12345", false), ErrorDetail::kEntityTooLarge);  // refused once read
  // A replaced part counts once, with its new size.
  ASSERT_OK(part(1, "1234", true));
  ASSERT_OK(part(2, "12345", false));
  ASSERT_OK(part(2, "123456", true));
  EXPECT_DETAIL(part(3, "1", true), ErrorDetail::kEntityTooLarge);
  auto parts = store_->list_parts("bkt", "mp", id);
  ASSERT_OK(parts);
  ASSERT_EQ(parts->size(), 2U);
  EXPECT_EQ((*parts)[0].size + (*parts)[1].size, 10U);
}

TEST_P(MultipartTest, PartsNotListedAreDiscardedAndALoneSmallPartIsFine) {
  const std::string id = create();
  const auto i1 = upload(id, 1, "tiny");
  upload(id, 2, "unused");
  auto done = store_->complete_multipart_upload("bkt", "mp", id, {{1, i1.etag}}, {});
  ASSERT_OK(done);
  EXPECT_EQ(get("mp"), "tiny");
  EXPECT_EQ(done->etag, core::to_hex(core::md5(std::string_view(
                            reinterpret_cast<const char*>(core::md5("tiny").data()), 16))) +
                            "-1");
}

TEST_P(MultipartTest, CompleteErrors) {
  const std::string id = create();
  const auto i1 = upload(id, 1, "small part");
  const auto i2 = upload(id, 2, "last");
  EXPECT_DETAIL(
      store_->complete_multipart_upload("bkt", "mp", id, {{1, i1.etag}, {2, i2.etag}}, {}),
      ErrorDetail::kEntityTooSmall);
  EXPECT_DETAIL(
      store_->complete_multipart_upload("bkt", "mp", id, {{2, i2.etag}, {1, i1.etag}}, {}),
      ErrorDetail::kInvalidPartOrder);
  EXPECT_DETAIL(
      store_->complete_multipart_upload("bkt", "mp", id, {{1, i1.etag}, {1, i1.etag}}, {}),
      ErrorDetail::kInvalidPartOrder);
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", id, {{1, i2.etag}}, {}),
                ErrorDetail::kInvalidPart);
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", id, {{7, i1.etag}}, {}),
                ErrorDetail::kInvalidPart);
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", id, {}, {}),
                ErrorDetail::kInvalidRequest);
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "other", id, {{1, i1.etag}}, {}),
                ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->complete_multipart_upload("bkt", "mp", "nope", {{1, i1.etag}}, {}),
                ErrorDetail::kNoSuchUpload);
  // The failed attempts left the upload intact.
  EXPECT_EQ(store_->list_parts("bkt", "mp", id)->size(), 2U);
}

TEST_P(MultipartTest, PartNumbersAndReplacement) {
  const std::string id = create();
  StringSource s1("x");
  EXPECT_DETAIL(store_->upload_part("bkt", "mp", id, 0, s1, {}), ErrorDetail::kInvalidArgument);
  StringSource s2("x");
  EXPECT_DETAIL(store_->upload_part("bkt", "mp", id, 10001, s2, {}), ErrorDetail::kInvalidArgument);
  upload(id, 10000, "max");
  upload(id, 1, "first");
  const auto replaced = upload(id, 1, "second");
  auto parts = store_->list_parts("bkt", "mp", id);
  ASSERT_OK(parts);
  ASSERT_EQ(parts->size(), 2U);
  EXPECT_EQ((*parts)[0].etag, replaced.etag);
  PartOptions bad_md5;
  bad_md5.content_md5 = b64_md5("something else");
  StringSource s3("x");
  EXPECT_DETAIL(store_->upload_part("bkt", "mp", id, 2, s3, bad_md5), ErrorDetail::kBadDigest);
}

TEST_P(MultipartTest, AbortForgetsTheUpload) {
  const std::string id = create();
  upload(id, 1, "data");
  ASSERT_OK(store_->abort_multipart_upload("bkt", "mp", id));
  EXPECT_DETAIL(store_->list_parts("bkt", "mp", id), ErrorDetail::kNoSuchUpload);
  StringSource s("x");
  EXPECT_DETAIL(store_->upload_part("bkt", "mp", id, 1, s, {}), ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->abort_multipart_upload("bkt", "mp", id), ErrorDetail::kNoSuchUpload);
  EXPECT_DETAIL(store_->head("bkt", "mp"), ErrorDetail::kNoSuchKey);
}

ListUploadsOptions uploads_page(std::string prefix, std::string key_marker = "",
                                std::string upload_id_marker = "", int max_uploads = 1000) {
  ListUploadsOptions options;
  options.prefix = std::move(prefix);
  options.key_marker = std::move(key_marker);
  options.upload_id_marker = std::move(upload_id_marker);
  options.max_uploads = max_uploads;
  return options;
}

TEST_P(MultipartTest, ListUploadsPagesByKeyThenUploadId) {
  std::vector<std::string> a_ids = {create("a"), create("a")};
  std::sort(a_ids.begin(), a_ids.end());
  const std::string b_id = create("b/1");
  const std::string c_id = create("c");
  ASSERT_OK(store_->abort_multipart_upload("bkt", "c", c_id));  // aborted: not listed
  const std::string done_id = create("done");
  upload(done_id, 1, "x", "done");
  ASSERT_OK(store_->complete_multipart_upload("bkt", "done", done_id, {{1, hex_md5("x")}}, {}));

  auto all = store_->list_multipart_uploads("bkt", {});
  ASSERT_OK(all);
  ASSERT_EQ(all->uploads.size(), 3U);
  EXPECT_EQ(all->uploads[0].key, "a");
  EXPECT_EQ(all->uploads[0].upload_id, a_ids[0]);
  EXPECT_EQ(all->uploads[1].upload_id, a_ids[1]);
  EXPECT_EQ(all->uploads[2].upload_id, b_id);
  EXPECT_EQ(all->uploads[2].initiated, clock_.now());
  EXPECT_FALSE(all->is_truncated);

  auto first = store_->list_multipart_uploads("bkt", uploads_page("", "", "", 1));
  ASSERT_OK(first);
  ASSERT_EQ(first->uploads.size(), 1U);
  EXPECT_TRUE(first->is_truncated);
  EXPECT_EQ(first->next_key_marker, "a");
  EXPECT_EQ(first->next_upload_id_marker, a_ids[0]);
  auto rest =
      store_->list_multipart_uploads("bkt", uploads_page("", "a", first->next_upload_id_marker));
  ASSERT_OK(rest);
  ASSERT_EQ(rest->uploads.size(), 2U);
  EXPECT_EQ(rest->uploads[0].upload_id, a_ids[1]);
  // A key marker alone skips every upload of that key.
  auto after_a = store_->list_multipart_uploads("bkt", uploads_page("", "a"));
  ASSERT_OK(after_a);
  ASSERT_EQ(after_a->uploads.size(), 1U);
  EXPECT_EQ(after_a->uploads[0].key, "b/1");
  auto prefixed = store_->list_multipart_uploads("bkt", uploads_page("b/"));
  ASSERT_OK(prefixed);
  EXPECT_EQ(prefixed->uploads.size(), 1U);

  EXPECT_DETAIL(store_->list_multipart_uploads("bkt", uploads_page("", "", "", -1)),
                ErrorDetail::kInvalidArgument);
  EXPECT_DETAIL(store_->list_multipart_uploads("nobucket", {}), ErrorDetail::kNoSuchBucket);
}

// Completions are remembered for retries, but only the last kRememberedCompletions of them
// (LocalStore's bound: local_store_test.cpp).
TEST(MemoryStoreTest, OnlyTheLastCompletionsAreRemembered) {
  MemoryStore store;
  ASSERT_OK(store.create_bucket("bkt"));
  std::vector<std::string> ids;
  for (std::size_t i = 0; i <= kRememberedCompletions; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto id = store.create_multipart_upload("bkt", key, {});
    ASSERT_OK(id);
    ids.push_back(*id);
    StringSource body("x");
    ASSERT_OK(store.upload_part("bkt", key, *id, 1, body, {}));
    ASSERT_OK(store.complete_multipart_upload("bkt", key, *id, {{1, hex_md5("x")}}, {}));
  }
  EXPECT_DETAIL(store.complete_multipart_upload("bkt", "k0", ids[0], {{1, hex_md5("x")}}, {}),
                ErrorDetail::kNoSuchUpload);
  ASSERT_OK(store.complete_multipart_upload("bkt", "k1", ids[1], {{1, hex_md5("x")}}, {}));
}

TEST_P(MultipartTest, ListUploadsRollsKeysUpToTheDelimiter) {
  for (const char* key : {"d/a/1", "d/a/2", "d/b", "d/c/x", "e/z"}) create(key);
  ListUploadsOptions options = uploads_page("d/");
  options.delimiter = "/";
  auto all = store_->list_multipart_uploads("bkt", options);
  ASSERT_OK(all);
  ASSERT_EQ(all->uploads.size(), 1U);
  EXPECT_EQ(all->uploads[0].key, "d/b");
  EXPECT_EQ(all->common_prefixes, (std::vector<std::string>{"d/a/", "d/c/"}));
  EXPECT_FALSE(all->is_truncated);
  // One entry a page: a prefix counts once however many uploads it holds, and the markers
  // continue after all of them.
  std::vector<std::string> entries;
  options.max_uploads = 1;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->list_multipart_uploads("bkt", options);
    ASSERT_OK(page);
    ASSERT_EQ(page->uploads.size() + page->common_prefixes.size(), 1U);
    entries.push_back(page->uploads.empty() ? page->common_prefixes[0] : page->uploads[0].key);
    if (!page->is_truncated) break;
    options.key_marker = page->next_key_marker;
    options.upload_id_marker = page->next_upload_id_marker;
    EXPECT_EQ(options.key_marker, entries.back());
  }
  EXPECT_EQ(entries, (std::vector<std::string>{"d/a/", "d/b", "d/c/"}));
  // Without a prefix, the top level.
  ListUploadsOptions top;
  top.delimiter = "/";
  EXPECT_EQ(store_->list_multipart_uploads("bkt", top)->common_prefixes,
            (std::vector<std::string>{"d/", "e/"}));
}

// ---- outbox ----------------------------------------------------------------------------------

TEST_P(StoreTest, PutRecordsItsEventInTheOutbox) {
  PutOptions options;
  options.event = EventToRecord{"ObjectCreated:Put", R"({"sourceIPAddress":"127.0.0.1"})"};
  const auto info = put("dir/photo 1.jpg", "pixels", options);
  put("no-event", "x");  // no event asked for
  EXPECT_EQ(outbox_->count_pending().value(), 1U);

  auto events = outbox_->claim(10, 30s);
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 1U);
  const OutboxEvent& e = (*events)[0];
  EXPECT_EQ(e.event_name, "ObjectCreated:Put");
  EXPECT_EQ(e.bucket, "bkt");
  EXPECT_EQ(e.key, "dir/photo 1.jpg");
  EXPECT_EQ(e.etag, info.etag);
  EXPECT_EQ(e.size, 6U);
  EXPECT_EQ(e.sequencer, info.sequencer);
  EXPECT_EQ(e.payload, options.event->payload);
  EXPECT_EQ(e.created, clock_.now());
  EXPECT_EQ(e.attempts, 1);
}

TEST_P(StoreTest, OutboxLeasesNacksAndAcks) {
  PutOptions options;
  options.event = EventToRecord{"ObjectCreated:Put", ""};
  for (int i = 0; i < 3; ++i) put("k" + std::to_string(i), "x", options);

  auto first = outbox_->claim(2, 30s);
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 2U);
  EXPECT_EQ((*first)[0].key, "k0");  // oldest first
  EXPECT_LT((*first)[0].id, (*first)[1].id);
  auto second = outbox_->claim(10, 30s);
  ASSERT_OK(second);
  ASSERT_EQ(second->size(), 1U);  // the two leased ones are hidden
  EXPECT_EQ((*second)[0].key, "k2");
  EXPECT_TRUE(outbox_->claim(10, 30s)->empty());

  // Lease expiry makes an event claimable again (at-least-once).
  clock_.advance(31s);
  auto redelivered = outbox_->claim(10, 30s);
  ASSERT_OK(redelivered);
  ASSERT_EQ(redelivered->size(), 3U);
  EXPECT_EQ((*redelivered)[0].attempts, 2);

  // nack with a delay, ack the others.
  ASSERT_OK(outbox_->nack((*redelivered)[0].id, 5s));
  ASSERT_OK(outbox_->ack((*redelivered)[1].id));
  ASSERT_OK(outbox_->ack((*redelivered)[2].id));
  ASSERT_OK(outbox_->ack((*redelivered)[2].id));  // idempotent
  EXPECT_EQ(outbox_->count_pending().value(), 1U);
  EXPECT_TRUE(outbox_->claim(10, 30s)->empty());
  clock_.advance(5s);
  auto retried = outbox_->claim(10, 30s);
  ASSERT_OK(retried);
  ASSERT_EQ(retried->size(), 1U);
  EXPECT_EQ((*retried)[0].key, "k0");
  EXPECT_EQ((*retried)[0].attempts, 3);
  ASSERT_OK(outbox_->ack((*retried)[0].id));
  EXPECT_EQ(outbox_->count_pending().value(), 0U);
  EXPECT_EQ(outbox_->nack((*retried)[0].id, 0s).error().code, core::ErrorCode::kNotFound);
}

TEST_P(StoreTest, AFailedPutRecordsNoEvent) {
  PutOptions options;
  options.event = EventToRecord{"ObjectCreated:Put", ""};
  options.content_md5 = b64_md5("not the body");
  EXPECT_DETAIL(store_->put("bkt", "k", "body", options), ErrorDetail::kBadDigest);
  options.content_md5.reset();
  put("k", "body", options);
  options.if_none_match_star = true;
  EXPECT_DETAIL(store_->put("bkt", "k", "body", options), ErrorDetail::kPreconditionFailed);
  EXPECT_EQ(outbox_->count_pending().value(), 1U);
}

TEST_P(StoreTest, ADeleteRecordsItsEventOnlyWhenItDeletedSomething) {
  DeleteOptions options;
  options.event = EventToRecord{"ObjectRemoved:Delete", "who"};
  put("k", "body");  // no event of its own
  ASSERT_TRUE(store_->delete_object("bkt", "k", options));
  ASSERT_TRUE(store_->delete_object("bkt", "k", options));  // gone already: nothing recorded
  ASSERT_TRUE(store_->delete_object("bkt", "never", options));
  auto events = outbox_->claim(10, 30s);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ(events->at(0).event_name, "ObjectRemoved:Delete");
  EXPECT_EQ(events->at(0).bucket, "bkt");
  EXPECT_EQ(events->at(0).key, "k");
  EXPECT_EQ(events->at(0).payload, "who");
  EXPECT_FALSE(store_->head("bkt", "k"));
}

// ---- plain helpers ---------------------------------------------------------------------------

TEST(ErrorDetailTest, TravelsBesideTheMessageNotInIt) {
  const auto e = make_error(ErrorDetail::kBadDigest, "mismatch");
  EXPECT_EQ(e.code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "mismatch");
  EXPECT_EQ(e.reason, "BadDigest");
  EXPECT_EQ(e.to_string(), "invalid argument: BadDigest: mismatch");
  EXPECT_EQ(detail_of(e), ErrorDetail::kBadDigest);
  EXPECT_EQ(detail_of(make_error(ErrorDetail::kInvalidRange, "x")), ErrorDetail::kInvalidRange);
  EXPECT_EQ(code_of(ErrorDetail::kNoSuchKey), core::ErrorCode::kNotFound);
  EXPECT_EQ(detail_of(core::Error{core::ErrorCode::kInternal, "disk: full"}), ErrorDetail::kNone);
  // A message that looks like a detail is only a message.
  EXPECT_EQ(detail_of(core::Error{core::ErrorCode::kInvalidArgument, "BadDigest: x"}),
            ErrorDetail::kNone);
  // A different code with the same reason name is not a storage detail.
  EXPECT_EQ(detail_of(core::Error{core::ErrorCode::kInternal, "x", "BadDigest"}),
            ErrorDetail::kNone);
}

// Context added on the way up (as `serve` does to a bucket error) keeps the detail: callers
// branch on it after the message has changed.
TEST(ErrorDetailTest, SurvivesAddedContext) {
  const auto e = make_error(ErrorDetail::kBucketAlreadyOwnedByYou, "you own it")
                     .with_context("bucket uploads");
  EXPECT_EQ(e.message, "bucket uploads: you own it");
  EXPECT_EQ(detail_of(e), ErrorDetail::kBucketAlreadyOwnedByYou);
}

TEST(RangeHeaderTest, ParsesOneRange) {
  auto r = parse_range_header("bytes=0-99");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0U);
  EXPECT_EQ(r->last, 99U);
  r = parse_range_header("bytes=100-");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 100U);
  EXPECT_FALSE(r->last);
  r = parse_range_header("bytes=-500");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->first);
  EXPECT_EQ(r->last, 500U);
  for (const char* ignored :
       {"bytes=5-1", "bytes=0-1,3-4", "items=0-1", "bytes=-", "bytes=a-b", "bytes=1", ""}) {
    EXPECT_FALSE(parse_range_header(ignored)) << ignored;
  }
}

}  // namespace
}  // namespace imgflow::storage
