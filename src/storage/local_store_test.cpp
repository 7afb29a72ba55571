// LocalStore specifics: the on-disk layout, persistence, recovery and the data-dir lock.

#include "storage/local_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <future>
#include <thread>

#include "core/digest.h"
#include "storage/test_support.h"
#include "support/concurrency.h"

namespace imgflow::storage {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;
using testing::make_bytes;
using testing::TempDir;

std::unique_ptr<LocalStore> open_store(const stdfs::path& dir) {
  auto store = LocalStore::open({dir});
  EXPECT_TRUE(store) << store.error().to_string();
  return store ? std::move(*store) : nullptr;
}

std::vector<stdfs::path> regular_files(const stdfs::path& dir) {
  std::vector<stdfs::path> out;
  for (const auto& entry : stdfs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) out.push_back(entry.path());
  }
  return out;
}

std::size_t object_files(const stdfs::path& dir, std::string_view bucket) {
  return regular_files(dir / "buckets" / std::string(bucket) / "objects").size();
}

TEST(LocalStoreTest, KeysNeverBecomePathsOutsideTheBucket) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  ASSERT_OK(store->create_bucket("bkt"));
  const std::vector<std::string> keys = {
      "../../../escape",     "/abs/path",       "..",  "../..",
      "a/../../../../tmp/x", "%2e%2e/%2e%2e/y", "con", "sp ace+plus",
      std::string(1024, '/')};
  for (const auto& key : keys) ASSERT_OK(store->put("bkt", key, "payload of " + key));

  const stdfs::path bucket_dir = dir.path() / "buckets" / "bkt";
  for (const auto& file : regular_files(dir.path())) {
    const auto name = file.filename().string();
    const bool top_level =
        file.parent_path() == dir.path() && (name == "LOCK" || name.starts_with("imgflow.db"));
    const auto relative = file.lexically_relative(bucket_dir);
    const bool in_bucket = !relative.empty() && *relative.begin() != "..";
    EXPECT_TRUE(top_level || in_bucket) << file;
    EXPECT_EQ(name.find("escape"), std::string::npos) << file;
  }
  // Nothing was created next to the data dir either.
  for (const auto& entry : stdfs::directory_iterator(dir.path())) {
    const auto name = entry.path().filename().string();
    EXPECT_TRUE(name == "buckets" || name == "LOCK" || name.starts_with("imgflow.db")) << name;
  }
  EXPECT_EQ(object_files(dir.path(), "bkt"), keys.size());
}

TEST(LocalStoreTest, EverythingSurvivesAReopen) {
  TempDir dir;
  std::string sequencer;
  {
    auto store = open_store(dir.path());
    ASSERT_OK(store->create_bucket("bkt"));
    PutOptions options;
    options.user_metadata = {{"k", "v:with:colons"}, {"empty", ""}};
    options.event = EventToRecord{"ObjectCreated:Put", "p"};
    auto info = store->put("bkt", "key", "persisted", options);
    ASSERT_OK(info);
    sequencer = info->sequencer;
  }
  auto store = open_store(dir.path());
  EXPECT_EQ(store->get_string("bkt", "key").value(), "persisted");
  auto head = store->head("bkt", "key");
  ASSERT_OK(head);
  EXPECT_EQ(head->user_metadata.at("k"), "v:with:colons");
  EXPECT_EQ(head->user_metadata.at("empty"), "");
  EXPECT_EQ(store->count_pending().value(), 1U);
  EXPECT_GT(store->put("bkt", "key2", "x")->sequencer, sequencer);  // the counter persisted
  EXPECT_EQ(store->recovery_report().temp_files_removed, 0U);
  EXPECT_EQ(store->recovery_report().orphan_files_removed, 0U);
}

TEST(LocalStoreTest, ADeletedBucketLeavesNoDirectoryAndStaysDeletedAfterAReopen) {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    ASSERT_OK(store->create_bucket("gone"));
    ASSERT_OK(store->put("gone", "k", "x"));
    ASSERT_OK(store->delete_object("gone", "k"));
    ASSERT_OK(store->delete_bucket("gone"));
    EXPECT_FALSE(stdfs::exists(dir.path() / "buckets" / "gone"));
  }
  auto store = open_store(dir.path());
  EXPECT_DETAIL(store->head_bucket("gone"), ErrorDetail::kNoSuchBucket);
  EXPECT_TRUE(store->list_buckets()->empty());
}

// Completions are remembered across a reopen, and only the last remembered_completions.
TEST(LocalStoreTest, RemembersTheLastCompletionsAcrossAReopen) {
  TempDir dir;
  const auto complete = [](LocalStore& store, const std::string& key) {
    auto id = store.create_multipart_upload("bkt", key, {});
    EXPECT_TRUE(id);
    StringSource body("x");
    EXPECT_TRUE(store.upload_part("bkt", key, *id, 1, body, {}));
    EXPECT_TRUE(
        store.complete_multipart_upload("bkt", key, *id, {{1, core::to_hex(core::md5("x"))}}, {}));
    return *id;
  };
  std::vector<std::string> ids;
  {
    auto store = LocalStore::open({.data_dir = dir.path(), .remembered_completions = 3});
    ASSERT_OK(store);
    ASSERT_OK((*store)->create_bucket("bkt"));
    for (int i = 0; i < 4; ++i) ids.push_back(complete(**store, "k" + std::to_string(i)));
  }
  auto store = LocalStore::open({.data_dir = dir.path(), .remembered_completions = 3});
  ASSERT_OK(store);
  const std::vector<CompletedPart> parts = {{1, core::to_hex(core::md5("x"))}};
  EXPECT_DETAIL((*store)->complete_multipart_upload("bkt", "k0", ids[0], parts, {}),
                ErrorDetail::kNoSuchUpload);
  for (int i = 1; i < 4; ++i) {
    auto again =
        (*store)->complete_multipart_upload("bkt", "k" + std::to_string(i), ids[i], parts, {});
    ASSERT_OK(again);
    EXPECT_EQ(again->etag, core::to_hex(core::md5(std::string(
                               reinterpret_cast<const char*>(core::md5("x").data()), 16))) +
                               "-1");
  }
}

TEST(LocalStoreTest, ExpiredUploadsLeaveNoPartFiles) {
  TempDir dir;
  core::ManualClock clock{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  MultipartOptions brief;
  brief.expires = clock.now() + 1min;
  {
    auto store = LocalStore::open({dir.path(), &clock});
    ASSERT_OK(store);
    ASSERT_OK((*store)->create_bucket("bkt"));
    for (const char* key : {"swept-by-create", "swept-at-open"}) {
      auto id = (*store)->create_multipart_upload("bkt", key, brief);
      ASSERT_OK(id);
      StringSource part("part");
      ASSERT_OK((*store)->upload_part("bkt", key, *id, 1, part, {}));
    }
    EXPECT_EQ(object_files(dir.path(), "bkt"), 2U);
    clock.advance(1min);
    ASSERT_OK((*store)->create_multipart_upload("bkt", "lasting", {}));
    EXPECT_EQ(object_files(dir.path(), "bkt"), 0U);
    brief.expires = clock.now() + 1min;
    auto id = (*store)->create_multipart_upload("bkt", "swept-at-open", brief);
    ASSERT_OK(id);
    StringSource part("part");
    ASSERT_OK((*store)->upload_part("bkt", "swept-at-open", *id, 1, part, {}));
  }
  clock.advance(1min);
  auto store = LocalStore::open({dir.path(), &clock});
  ASSERT_OK(store);
  EXPECT_EQ(object_files(dir.path(), "bkt"), 0U);
  auto listed = (*store)->list_multipart_uploads("bkt", {});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->uploads.size(), 1U);
  EXPECT_EQ(listed->uploads[0].key, "lasting");
}

// A data dir from before initiator/expires_ms and completed_uploads: its upload in progress
// survives the migration at open and completes (and a retry succeeds).
TEST(LocalStoreTest, ADataDirFromAnEarlierReleaseIsMigratedAtOpen) {
  TempDir dir;
  std::string id;
  {
    auto store = open_store(dir.path());
    ASSERT_OK(store->create_bucket("bkt"));
    auto created = store->create_multipart_upload("bkt", "old.jpg", {});
    ASSERT_OK(created);
    id = *created;
    StringSource part("from before");
    ASSERT_OK(store->upload_part("bkt", "old.jpg", id, 1, part, {}));
  }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "imgflow.db").c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
    for (const char* sql :
         {"ALTER TABLE uploads DROP COLUMN initiator", "ALTER TABLE uploads DROP COLUMN expires_ms",
          "DROP TABLE completed_uploads"}) {
      ASSERT_EQ(sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    }
  }
  auto store = open_store(dir.path());
  ASSERT_NE(store, nullptr);
  auto listed = store->list_multipart_uploads("bkt", {});
  ASSERT_OK(listed);
  ASSERT_EQ(listed->uploads.size(), 1U);
  EXPECT_EQ(listed->uploads[0].initiator, "");
  const std::vector<CompletedPart> parts = {{1, core::to_hex(core::md5("from before"))}};
  auto done = store->complete_multipart_upload("bkt", "old.jpg", id, parts, {});
  ASSERT_OK(done);
  auto retry = store->complete_multipart_upload("bkt", "old.jpg", id, parts, {});
  ASSERT_OK(retry);
  EXPECT_EQ(retry->etag, done->etag);
  EXPECT_EQ(store->get_string("bkt", "old.jpg").value_or(""), "from before");
  MultipartOptions capped;
  capped.initiator = "anonymous 192.0.2.7";
  capped.max_uploads_per_initiator = 1;
  ASSERT_OK(store->create_multipart_upload("bkt", "new.jpg", capped));
  EXPECT_DETAIL(store->create_multipart_upload("bkt", "new.jpg", capped), ErrorDetail::kSlowDown);
}

TEST(LocalStoreTest, RecoveryRemovesTempFilesAndUnreferencedObjectFiles) {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    ASSERT_OK(store->create_bucket("bkt"));
    ASSERT_OK(store->put("bkt", "kept", "kept bytes"));
  }
  const stdfs::path bucket_dir = dir.path() / "buckets" / "bkt";
  std::ofstream(bucket_dir / "tmp" / "abc.tmp") << "half written";
  stdfs::create_directories(bucket_dir / "objects" / "ff" / "ee");
  std::ofstream(bucket_dir / "objects" / "ff" / "ee" / "ffee0000000000000000000000000000")
      << "renamed, never committed";

  auto store = open_store(dir.path());
  EXPECT_EQ(store->recovery_report().temp_files_removed, 1U);
  EXPECT_EQ(store->recovery_report().orphan_files_removed, 1U);
  EXPECT_TRUE(stdfs::is_empty(bucket_dir / "tmp"));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 1U);
  EXPECT_EQ(store->get_string("bkt", "kept").value(), "kept bytes");
}

TEST(LocalStoreTest, LeasesOfAnEarlierProcessAreReleasedAtOpenButRetryDelaysKept) {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    ASSERT_OK(store->create_bucket("bkt"));
    PutOptions options;
    options.event = EventToRecord{"ObjectCreated:Put", ""};
    ASSERT_OK(store->put("bkt", "leased", "a", options));
    ASSERT_OK(store->put("bkt", "delayed", "b", options));
    auto claimed = store->claim(2, 1h);  // then the process "dies" holding the lease
    ASSERT_OK(claimed);
    ASSERT_EQ(claimed->size(), 2U);
    ASSERT_OK(store->nack(claimed->at(1).id, 1h));  // a retry scheduled for later
  }
  auto store = open_store(dir.path());
  EXPECT_EQ(store->recovery_report().leases_released, 1U);
  auto again = store->claim(10, 1h);
  ASSERT_OK(again);
  ASSERT_EQ(again->size(), 1U);
  EXPECT_EQ(again->front().key, "leased");
  EXPECT_EQ(again->front().attempts, 2);  // the lost delivery still counts
}

TEST(LocalStoreTest, OnlyOneProcessMayOpenTheDataDir) {
  TempDir dir;
  auto store = open_store(dir.path());
  // flock() locks are per open file description, so a second open in this process conflicts
  // just as another process would.
  auto second = LocalStore::open({dir.path()});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::kUnavailable);
}

TEST(LocalStoreTest, SupersededAndDeletedFilesAreRemoved) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_OK(store->create_bucket("bkt"));
  ASSERT_OK(store->put("bkt", "k", "v1"));
  ASSERT_OK(store->put("bkt", "k", "v2"));
  ASSERT_OK(store->copy("bkt", "k", "bkt", "k2", {}));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 2U);
  ASSERT_OK(store->delete_object("bkt", "k"));
  ASSERT_OK(store->delete_object("bkt", "k2"));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 0U);
  PutOptions failing;
  failing.content_md5 = core::base64_encode(core::md5("other"));
  EXPECT_FALSE(store->put("bkt", "k", "v3", failing));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 0U);
  EXPECT_TRUE(stdfs::is_empty(dir.path() / "buckets" / "bkt" / "tmp"));
}

TEST(LocalStoreTest, MultipartLeavesNoPartFilesBehind) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_OK(store->create_bucket("bkt"));
  auto id = store->create_multipart_upload("bkt", "mp", {});
  ASSERT_OK(id);
  const std::string p1 = make_bytes(kMinPartSize, 3);
  StringSource s1(p1);
  auto i1 = store->upload_part("bkt", "mp", *id, 1, s1, {});
  ASSERT_OK(i1);
  StringSource s2("tail");
  auto i2 = store->upload_part("bkt", "mp", *id, 2, s2, {});
  ASSERT_OK(i2);
  StringSource s3("dropped");
  ASSERT_OK(store->upload_part("bkt", "mp", *id, 3, s3, {}));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 3U);
  ASSERT_OK(store->complete_multipart_upload("bkt", "mp", *id, {{1, i1->etag}, {2, i2->etag}}, {}));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 1U);

  auto aborted = store->create_multipart_upload("bkt", "mp2", {});
  ASSERT_OK(aborted);
  StringSource s4("x");
  ASSERT_OK(store->upload_part("bkt", "mp2", *aborted, 1, s4, {}));
  ASSERT_OK(store->abort_multipart_upload("bkt", "mp2", *aborted));
  EXPECT_EQ(object_files(dir.path(), "bkt"), 1U);
}

TEST(LocalStoreTest, ConcurrentOverwritesLeaveExactlyOneFile) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_OK(store->create_bucket("bkt"));
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string body = make_bytes(50'000, t + 1);
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(store->put("bkt", "hot", body));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(object_files(dir.path(), "bkt"), 1U);
  const auto body = store->get_string("bkt", "hot");
  ASSERT_OK(body);
  EXPECT_EQ(store->head("bkt", "hot")->etag, core::to_hex(core::md5(*body)));
}

// Reads go through connections of their own: while a write is held inside its transaction
// (as a slow fsync of the commit would hold it), every kind of read completes, and sees the
// store as it was before that write.
TEST(LocalStoreTest, ReadsDoNotWaitForACommit) {
  TempDir dir;
  test_support::Gate gate;
  std::atomic<bool> hold{false};
  LocalStoreOptions options{dir.path()};
  options.before_commit_for_testing = [&] {
    if (hold.load()) gate.enter();
  };
  auto opened = LocalStore::open(options);
  ASSERT_OK(opened);
  LocalStore& store = **opened;
  ASSERT_OK(store.create_bucket("bkt"));
  PutOptions with_event;
  with_event.event = EventToRecord{"ObjectCreated:Put", ""};
  ASSERT_OK(store.put("bkt", "a", "old", with_event));
  auto claimed = store.claim(1, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  const OutboxEvent& event = claimed->front();
  ASSERT_OK(store.add_dead_letter(
      DeadLetter{event.id, event, "x", "permanent", 1, event.created, event.created},
      std::nullopt));
  ASSERT_OK(store.put("bkt", "b", "pending", with_event));
  auto upload = store.create_multipart_upload("bkt", "mp", {});
  ASSERT_OK(upload);

  hold = true;
  auto writer = std::async(std::launch::async, [&] { return store.put("bkt", "a", "new"); });
  ASSERT_TRUE(gate.wait_entered());
  std::atomic<bool> reads_done{false};
  std::thread reader([&] {
    EXPECT_EQ(store.head("bkt", "a")->size, 3U);  // the version before the held commit
    EXPECT_EQ(*store.get_string("bkt", "a"), "old");
    EXPECT_EQ(store.list("bkt", {})->objects.size(), 2U);
    EXPECT_TRUE(store.head_bucket("bkt"));
    EXPECT_EQ(store.list_buckets()->size(), 1U);
    EXPECT_EQ(*store.count_pending(), 1U);
    EXPECT_TRUE(store.get_dead_letter(event.id));
    EXPECT_EQ(store.list_dead_letters()->size(), 1U);
    EXPECT_EQ(*store.count_dead_letters(), 1U);
    EXPECT_TRUE(store.list_parts("bkt", "mp", *upload));
    EXPECT_EQ(store.list_multipart_uploads("bkt", {})->uploads.size(), 1U);
    reads_done = true;
  });
  const bool read_during_commit = test_support::wait_until([&] { return reads_done.load(); });
  gate.release();
  reader.join();
  EXPECT_TRUE(read_during_commit) << "reads waited for a commit";
  ASSERT_OK(writer.get());
  // A write that returned is seen by the next read (read your writes).
  EXPECT_EQ(*store.get_string("bkt", "a"), "new");
}

// A reader of a key that is being rewritten (its old files unlinked as it goes) always gets
// one whole version: the body its metadata describes.
TEST(LocalStoreTest, ReadersOfAKeyBeingRewrittenGetWholeVersions) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_OK(store->create_bucket("bkt"));
  ASSERT_OK(store->put("bkt", "hot", make_bytes(20'000, 1000)));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (unsigned i = 0; i < 100; ++i) EXPECT_TRUE(store->put("bkt", "hot", make_bytes(20'000, i)));
    done = true;
  });
  int reads = 0;
  while (!done.load() || reads == 0) {
    auto reader = store->open("bkt", "hot", {});
    ASSERT_OK(reader);
    std::string body;
    char buf[8192];
    while (true) {
      auto got = (*reader)->read(buf, sizeof buf);
      ASSERT_OK(got);
      if (*got == 0) break;
      body.append(buf, *got);
    }
    EXPECT_EQ(core::to_hex(core::md5(body)), (*reader)->info().etag);
    ++reads;
  }
  writer.join();
}

}  // namespace
}  // namespace imgflow::storage
