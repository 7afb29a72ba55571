#include "function/reprocess.h"

#include <gtest/gtest.h>

#include <map>

#include "core/log.h"
#include "image/image.h"
#include "image/test_images.h"
#include "storage/memory_store.h"

namespace imgflow::function {
namespace {

using Status = SourceReport::Status;

recipe::Recipe two_variants() {
  recipe::Recipe r;
  recipe::Variant small;
  small.name = "small";
  small.resize.width = 120;
  small.encode.format = recipe::Format::kJpeg;
  recipe::Variant thumb;
  thumb.name = "thumb";
  thumb.resize = {48, 48, recipe::Fit::kCover, recipe::Gravity::kCentre, false};
  thumb.encode.format = recipe::Format::kWebp;
  r.variants = {small, thumb};
  return r;
}

class ReprocessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(image::init()); }

  void SetUp() override {
    ASSERT_TRUE(store_.create_bucket("uploads"));
    ASSERT_TRUE(store_.create_bucket("processed"));
    config_.recipe = two_variants();
  }

  void upload(const std::string& key, const std::string& bytes) {
    ASSERT_TRUE(store_.put("uploads", key, bytes, {}));
  }

  // Processes every upload as its event would, with the recipe in config_.
  void process_all() {
    Handler handler(config_, store_, store_, logger_, clock_);
    const auto uploads = store_.list("uploads", {}).value();
    for (const storage::ObjectInfo& o : uploads.objects) {
      events::EventRecord r;
      r.event_name = "ObjectCreated:Put";
      r.bucket = "uploads";
      r.key = o.key;
      r.etag = o.etag;
      ASSERT_EQ(handler.handle_record(r).kind, OutcomeKind::kProcessed) << o.key;
    }
  }

  // ETag and last-modified time of every destination object.
  std::map<std::string, std::string> destination() {
    std::map<std::string, std::string> objects;
    const auto listed = store_.list("processed", {}).value();
    for (const storage::ObjectInfo& o : listed.objects) {
      objects[o.key] = o.etag + " " + std::to_string(o.last_modified.time_since_epoch().count());
    }
    return objects;
  }

  struct Run {
    ReprocessProgress progress;
    std::map<std::string, SourceReport> reports;
  };

  Run reprocess(ReprocessOptions options = {}) {
    Handler handler(config_, store_, store_, logger_, clock_);
    Reprocessor reprocessor(handler, store_, store_, options);
    auto sources = reprocessor.list_sources();
    EXPECT_TRUE(sources) << sources.error().to_string();
    Run run;
    std::size_t calls = 0;
    run.progress =
        reprocessor.run(sources.value_or(std::vector<storage::ObjectInfo>{}),
                        [&](const SourceReport& report, const ReprocessProgress& progress) {
                          EXPECT_EQ(progress.done, ++calls);
                          run.reports[report.key] = report;
                        });
    return run;
  }

  std::string photo_ = image::testing::to_jpeg(image::testing::test_card(300, 200));
  core::ManualClock clock_{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  storage::MemoryStore store_{clock_};
  std::FILE* log_file_ = std::tmpfile();
  core::Logger logger_{log_file_, core::LogLevel::kError};
  void TearDown() override { std::fclose(log_file_); }
  HandlerConfig config_;
};

TEST_F(ReprocessTest, ListsSourcesUnderThePrefixWithoutFolderMarkers) {
  upload("a/one.jpg", photo_);
  upload("a/", "");
  upload("b/two.jpg", photo_);
  Handler handler(config_, store_, store_, logger_, clock_);
  auto sources = Reprocessor(handler, store_, store_, {.prefix = "a/"}).list_sources();
  ASSERT_TRUE(sources);
  ASSERT_EQ(sources->size(), 1U);
  EXPECT_EQ(sources->at(0).key, "a/one.jpg");
  upload("a/notes.txt", "not an image");
  sources = Reprocessor(handler, store_, store_, {.prefix = "a/", .suffix = ".jpg"}).list_sources();
  ASSERT_TRUE(sources);
  ASSERT_EQ(sources->size(), 1U);
}

TEST_F(ReprocessTest, InASharedBucketTheOutputsAreNotSources) {
  config_.destination_bucket = "uploads";
  config_.destination_prefix = "out";
  upload("one.jpg", photo_);
  upload("out/one.jpg/small.jpg", photo_);
  Handler handler(config_, store_, store_, logger_, clock_);
  auto sources = Reprocessor(handler, store_, store_, {}).list_sources();
  ASSERT_TRUE(sources);
  ASSERT_EQ(sources->size(), 1U);
  EXPECT_EQ(sources->at(0).key, "one.jpg");
}

TEST_F(ReprocessTest, ADryRunPlansAndWritesNothing) {
  upload("one.jpg", photo_);
  upload("two.jpg", photo_);
  process_all();
  upload("new.jpg", photo_);  // never processed
  const auto before = destination();
  config_.recipe.variants[1].encode.quality = 40;

  const Run run = reprocess({.dry_run = true});
  EXPECT_EQ(destination(), before);
  EXPECT_EQ(run.progress.total, 3U);
  EXPECT_EQ(run.progress.rendered, 3U);
  EXPECT_EQ(run.progress.variants_made, 4U);  // thumb twice, both of new.jpg
  EXPECT_EQ(run.progress.variants_kept, 2U);
  const SourceReport& one = run.reports.at("one.jpg");
  EXPECT_EQ(one.status, Status::kPlanned);
  EXPECT_EQ(one.plan.kind, RenderPlan::Kind::kPartial);
  EXPECT_EQ(one.plan.changed, std::vector<std::string>{"thumb"});
  EXPECT_EQ(run.reports.at("new.jpg").plan.reason, "no manifest");
}

TEST_F(ReprocessTest, RendersWhatChangedThenEverythingIsCurrent) {
  upload("one.jpg", photo_);
  upload("dir with space/é two.jpg", photo_);
  process_all();
  const auto before = destination();
  clock_.advance(std::chrono::minutes(1));
  config_.recipe.variants[1].encode.quality = 40;

  const Run run = reprocess({.jobs = 2});
  EXPECT_EQ(run.progress.rendered, 2U);
  EXPECT_EQ(run.progress.failed, 0U);
  EXPECT_EQ(run.progress.variants_made, 2U);
  EXPECT_EQ(run.progress.variants_kept, 2U);
  EXPECT_FALSE(run.progress.stopped);
  const SourceReport& two = run.reports.at("dir with space/é two.jpg");
  EXPECT_EQ(two.status, Status::kRendered);
  EXPECT_EQ(two.written, std::vector<std::string>{"dir with space/é two.jpg/thumb.webp"});
  const auto after = destination();
  EXPECT_EQ(after.at("one.jpg/small.jpg"), before.at("one.jpg/small.jpg"));  // untouched
  EXPECT_NE(after.at("one.jpg/thumb.webp"), before.at("one.jpg/thumb.webp"));

  const Run again = reprocess();
  EXPECT_EQ(again.progress.current, 2U);
  EXPECT_EQ(again.progress.rendered, 0U);
  EXPECT_EQ(destination(), after);
}

TEST_F(ReprocessTest, AFailedSourceIsReportedAndTheOthersGoOn) {
  upload("bad.jpg", "not an image at all");
  upload("good.jpg", photo_);
  const Run run = reprocess();
  EXPECT_EQ(run.progress.failed, 1U);
  EXPECT_EQ(run.progress.rendered, 1U);
  EXPECT_EQ(run.reports.at("bad.jpg").status, Status::kFailed);
  EXPECT_NE(run.reports.at("bad.jpg").error.find("process"), std::string::npos)
      << run.reports.at("bad.jpg").error;
}

TEST_F(ReprocessTest, AStopRequestEndsTheRunBeforeTheNextSource) {
  upload("one.jpg", photo_);
  upload("two.jpg", photo_);
  const std::atomic<bool> stop{true};
  const Run run = reprocess({.stop = &stop});
  EXPECT_EQ(run.progress.done, 0U);
  EXPECT_TRUE(run.progress.stopped);
  EXPECT_TRUE(destination().empty());
}

TEST_F(ReprocessTest, TheRateLimitSpacesRendersButNotCurrentSources) {
  for (const char* key : {"a.jpg", "b.jpg", "c.jpg"}) upload(key, photo_);
  const auto started = std::chrono::steady_clock::now();
  const Run run = reprocess({.rate = 10});
  EXPECT_EQ(run.progress.rendered, 3U);
  // Three starts at 10 per second: the third waits at least 200 ms after the first.
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(190));
  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(reprocess({.rate = 0.5}).progress.current, 3U);  // 2 s apart if they were limited
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(2));
}

TEST(ReprocessProgressTest, RateAndTimeLeft) {
  ReprocessProgress p;
  p.total = 100;
  EXPECT_EQ(p.eta(), std::chrono::seconds(0));
  p.done = 25;
  p.elapsed = std::chrono::seconds(10);
  EXPECT_DOUBLE_EQ(p.per_second(), 2.5);
  EXPECT_EQ(p.eta(), std::chrono::seconds(30));
}

}  // namespace
}  // namespace imgflow::function
