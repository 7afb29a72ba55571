#include "function/handler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/digest.h"
#include "events/event_json.h"
#include "events/form_url.h"
#include "function/manifest.h"
#include "image/image.h"
#include "image/test_images.h"
#include "storage/faulty_store.h"
#include "storage/memory_store.h"
#include "support/clamd_daemon.h"

namespace imgflow::function {
namespace {

using image::testing::decode;
using image::testing::test_card;
using image::testing::to_jpeg;
using image::testing::to_png;
using storage::FaultPlan;

// Two small variants keep every test fast: one JPEG bounded by width, one WebP square crop.
recipe::Recipe small_recipe() {
  recipe::Recipe r;
  recipe::Variant small;
  small.name = "small";
  small.resize.width = 160;
  small.encode.format = recipe::Format::kJpeg;
  recipe::Variant thumb;
  thumb.name = "thumb";
  thumb.resize = {64, 64, recipe::Fit::kCover, recipe::Gravity::kCentre, false};
  thumb.encode.format = recipe::Format::kWebp;
  r.variants = {small, thumb};
  return r;
}

std::string read_testdata(const std::string& name) {
  std::ifstream in(std::string(IMGFLOW_SOURCE_DIR) + "/src/events/testdata/" + name,
                   std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class HandlerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(image::init()); }

  void SetUp() override {
    ASSERT_TRUE(source_mem_.create_bucket("uploads"));
    ASSERT_TRUE(dest_mem_.create_bucket("processed"));
    config_.recipe = small_recipe();
    config_.generator = "imgflow test";
  }

  void TearDown() override { std::fclose(log_file_); }

  Handler& handler() {
    if (!handler_) {
      handler_ = std::make_unique<Handler>(config_, source_, dest_, logger_, clock_, &metrics_);
    }
    return *handler_;
  }

  storage::ObjectInfo upload(const std::string& key, const std::string& bytes,
                             storage::PutOptions options = {}) {
    options.content_type = "image/jpeg";
    auto info = source_mem_.put("uploads", key, bytes, options);
    EXPECT_TRUE(info) << info.error().to_string();
    return *info;
  }

  static events::EventRecord created(const storage::ObjectInfo& info,
                                     const std::string& bucket = "uploads") {
    events::EventRecord r;
    r.event_name = "ObjectCreated:Put";
    r.bucket = bucket;
    r.key = info.key;
    r.size = info.size;
    r.etag = info.etag;
    r.sequencer = info.sequencer;
    return r;
  }

  static std::string aws_event(const events::EventRecord& record) {
    return events::to_aws_json({record});
  }

  InvocationResult handle(const std::string& json) {
    auto result = handler().handle(json, "req-1");
    EXPECT_TRUE(result) << result.error().to_string();
    return result ? *result : InvocationResult{};
  }

  std::vector<storage::ObjectInfo> destination_objects() {
    auto listed = dest_mem_.list("processed", {});
    EXPECT_TRUE(listed);
    return listed->objects;
  }

  Manifest manifest_at(const std::string& key) {
    auto json = dest_mem_.get_string("processed", key);
    EXPECT_TRUE(json) << key << ": " << json.error().to_string();
    if (!json) return {};
    auto manifest = parse_manifest(*json);
    EXPECT_TRUE(manifest);
    return *manifest;
  }

  std::string log_text() {
    std::fflush(log_file_);
    std::rewind(log_file_);
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, log_file_)) > 0;) text.append(buf, n);
    return text;
  }

  core::ManualClock clock_{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  storage::MemoryStore source_mem_{clock_};
  storage::MemoryStore dest_mem_{clock_};
  storage::FaultyStore source_{source_mem_};
  storage::FaultyStore dest_{dest_mem_};
  std::FILE* log_file_ = std::tmpfile();
  core::Logger logger_{log_file_, core::LogLevel::kDebug};
  HandlerConfig config_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<Handler> handler_;
  const std::string photo_ = to_jpeg(test_card(640, 480));
};

TEST_F(HandlerTest, FreshUploadWritesEveryVariantAndAManifestThatMatchesThem) {
  const auto source = upload("photos/cat.jpg", photo_);
  const InvocationResult result = handle(aws_event(created(source)));

  ASSERT_EQ(result.records.size(), 1U);
  EXPECT_EQ(result.records[0].kind, OutcomeKind::kProcessed) << result.records[0].reason;
  EXPECT_EQ(result.processed, 1);
  EXPECT_FALSE(result.should_retry());

  const Manifest m = manifest_at("photos/cat.jpg/manifest.json");
  EXPECT_EQ(m.source.key, "photos/cat.jpg");
  EXPECT_EQ(m.source.etag, source.etag);
  EXPECT_EQ(m.source.bytes, photo_.size());
  EXPECT_EQ(m.source.sha256, core::to_hex(core::sha256(photo_)));
  EXPECT_EQ(m.source.width, 640);
  EXPECT_EQ(m.recipe_hash, config_.recipe.hash());
  EXPECT_EQ(m.generator, "imgflow test");
  EXPECT_FALSE(m.placeholder.empty());
  ASSERT_EQ(m.variants.size(), 2U);

  const std::pair<int, int> expected_sizes[] = {{160, 120}, {64, 64}};
  for (std::size_t i = 0; i < m.variants.size(); ++i) {
    const ManifestVariant& v = m.variants[i];
    auto stored = dest_mem_.head("processed", v.key);
    ASSERT_TRUE(stored) << v.key;
    EXPECT_EQ(stored->etag, v.etag) << v.key;
    EXPECT_EQ(stored->content_type, v.content_type);
    EXPECT_EQ(stored->cache_control, "public, no-cache");  // keys a re-upload rewrites
    EXPECT_EQ(stored->user_metadata.at("imgflow-variant"), v.name);
    EXPECT_EQ(stored->user_metadata.at("imgflow-source-etag"), source.etag);
    EXPECT_EQ(stored->user_metadata.at("imgflow-recipe-hash"), v.recipe_hash);
    auto bytes = dest_mem_.get_string("processed", v.key);
    ASSERT_TRUE(bytes);
    const vips::VImage decoded = decode(*bytes);
    EXPECT_EQ(decoded.width(), expected_sizes[i].first) << v.name;
    EXPECT_EQ(decoded.height(), expected_sizes[i].second) << v.name;
    EXPECT_EQ(v.width, decoded.width());
    EXPECT_EQ(v.height, decoded.height());
  }
  EXPECT_EQ(m.variants[0].key, "photos/cat.jpg/small.jpg");
  EXPECT_EQ(m.variants[1].key, "photos/cat.jpg/thumb.webp");
  EXPECT_EQ(dest_mem_.head("processed", "photos/cat.jpg/manifest.json")->content_type,
            "application/json");

  const std::string log = log_text();
  for (const char* outcome : {"received", "checked", "fetched", "resized", "stored"}) {
    EXPECT_NE(log.find(std::string("\"outcome\":\"") + outcome + "\""), std::string::npos)
        << outcome;
  }
  EXPECT_NE(log.find("\"request_id\":\"req-1\""), std::string::npos);
}

TEST_F(HandlerTest, MinioEventWithEncodedSlashesWorks) {
  const auto source = upload("photos/summer trip/IMG 0001.jpg", photo_);
  std::string key = events::form_url_encode(source.key);
  for (std::size_t at; (at = key.find('/')) != std::string::npos;) key.replace(at, 1, "%2F");
  const std::string json =
      R"({"EventName":"s3:ObjectCreated:Put","Key":"uploads/photos/summer trip/IMG 0001.jpg",)"
      R"("Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"",)"
      R"("eventTime":"2024-05-04T10:11:12.345Z","eventName":"s3:ObjectCreated:Put",)"
      R"("s3":{"s3SchemaVersion":"1.0","bucket":{"name":"uploads","arn":"arn:aws:s3:::uploads"},)"
      R"("object":{"key":")" +
      key + R"(","size":)" + std::to_string(source.size) + R"(,"eTag":")" + source.etag +
      R"(","sequencer":")" + source.sequencer + R"("}}}]})";
  const InvocationResult result = handle(json);
  ASSERT_EQ(result.processed, 1) << (result.records.empty() ? "" : result.records[0].reason);
  EXPECT_EQ(manifest_at("photos/summer trip/IMG 0001.jpg/manifest.json").source.key, source.key);
}

TEST_F(HandlerTest, TestEventDoesNothing) {
  const InvocationResult result = handle(read_testdata("aws_test_event.json"));
  EXPECT_TRUE(result.records.empty());
  EXPECT_EQ(source_.calls(), 0U);
  EXPECT_EQ(dest_.calls(), 0U);
}

TEST_F(HandlerTest, GarbageEventIsAnError) { EXPECT_FALSE(handler().handle("not json", "req-1")); }

TEST_F(HandlerTest, RedeliveryIsANoOp) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  const auto before = destination_objects();
  clock_.advance(std::chrono::minutes(5));

  const InvocationResult again = handle(event);
  EXPECT_EQ(again.already_done, 1);
  const auto after = destination_objects();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].sequencer, before[i].sequencer) << after[i].key << " was rewritten";
  }
}

TEST_F(HandlerTest, NotificationsOnlyWhenTheHostDeliversThem) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  const InvocationResult plain = handle(event);
  ASSERT_EQ(plain.processed, 1);
  EXPECT_FALSE(plain.records[0].notification.has_value());
}

TEST_F(HandlerTest, ProcessedAndAlreadyDoneCarryTheSameNotification) {
  config_.notify = {recipe::NotifyEvent::kProcessed};
  const auto source = upload("a b/cat.jpg", photo_);
  const std::string event = aws_event(created(source));
  const InvocationResult first = handle(event);
  ASSERT_EQ(first.processed, 1);
  ASSERT_TRUE(first.records[0].notification.has_value());
  const Notification& n = *first.records[0].notification;
  EXPECT_EQ(n.type, recipe::NotifyEvent::kProcessed);
  const Manifest m = manifest_at("a b/cat.jpg/manifest.json");
  const auto body = nlohmann::json::parse(n.body);
  EXPECT_EQ(body["source"]["key"], "a b/cat.jpg");
  EXPECT_EQ(body["source"]["etag"], m.source.etag);
  EXPECT_EQ(body["manifest"]["key"], "a b/cat.jpg/manifest.json");
  ASSERT_EQ(body["variants"].size(), m.variants.size());
  EXPECT_EQ(body["variants"][0]["key"], m.variants[0].key);
  EXPECT_EQ(body["placeholder"], m.placeholder);

  // A redelivery (after a crash before the host recorded it) must not lose it: same id.
  const InvocationResult again = handle(event);
  ASSERT_EQ(again.already_done, 1);
  ASSERT_TRUE(again.records[0].notification.has_value());
  EXPECT_EQ(again.records[0].notification->id, n.id);
}

TEST_F(HandlerTest, MeasuresEachStageTheBytesAndTheOutcomes) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  ASSERT_EQ(handle(event).already_done, 1);
  const std::string text = metrics_.render();
  for (const char* stage : {"check", "fetch", "render", "store", "total"}) {
    const std::string count =
        std::string("imgflow_stage_duration_seconds_count{stage=\"") + stage + "\"} 1\n";
    EXPECT_NE(text.find(count), std::string::npos) << stage << "\n" << text;
  }
  EXPECT_NE(text.find("imgflow_records_total{outcome=\"processed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("imgflow_records_total{outcome=\"already_done\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("imgflow_source_bytes_total " + std::to_string(photo_.size()) + "\n"),
            std::string::npos)
      << text;
  std::uint64_t written = 0;
  for (const auto& object : destination_objects()) written += object.size;
  EXPECT_NE(text.find("imgflow_output_bytes_total " + std::to_string(written) + "\n"),
            std::string::npos)
      << text;
}

TEST_F(HandlerTest, ChangedRecipeReprocesses) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  config_.recipe.variants[0].encode.quality = 60;
  handler_.reset();
  EXPECT_EQ(handle(event).processed, 1);
  EXPECT_EQ(manifest_at("cat.jpg/manifest.json").recipe_hash, config_.recipe.hash());
}

// ---- A recipe change re-renders what it affects, and only that. ------------------------------

TEST_F(HandlerTest, AChangedVariantIsTheOnlyOneWrittenAgain) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  const Manifest before = manifest_at("cat.jpg/manifest.json");
  const auto small_before = dest_mem_.head("processed", "cat.jpg/small.jpg").value();
  clock_.advance(std::chrono::minutes(5));
  config_.recipe.variants[1].encode.quality = 50;  // thumb
  handler_.reset();

  const InvocationResult result = handle(event);
  ASSERT_EQ(result.processed, 1) << result.records.at(0).reason;
  EXPECT_EQ(result.records[0].outputs, std::vector<std::string>{"cat.jpg/thumb.webp"});
  EXPECT_EQ(result.records[0].kept, std::vector<std::string>{"cat.jpg/small.jpg"});
  const auto small_after = dest_mem_.head("processed", "cat.jpg/small.jpg").value();
  EXPECT_EQ(small_after.etag, small_before.etag);
  EXPECT_EQ(small_after.last_modified, small_before.last_modified);  // not written at all
  EXPECT_GT(dest_mem_.head("processed", "cat.jpg/thumb.webp")->last_modified,
            small_before.last_modified);

  const Manifest after = manifest_at("cat.jpg/manifest.json");
  EXPECT_EQ(after.recipe_hash, config_.recipe.hash());
  ASSERT_EQ(after.variants.size(), 2U);
  const ManifestVariant& kept = after.variants[0];
  EXPECT_EQ(kept.key, before.variants[0].key);
  EXPECT_EQ(kept.etag, before.variants[0].etag);
  EXPECT_EQ(kept.sha256, before.variants[0].sha256);
  EXPECT_EQ(kept.recipe_hash, before.variants[0].recipe_hash);
  EXPECT_EQ(kept.bytes, before.variants[0].bytes);
  EXPECT_EQ(after.variants[1].recipe_hash, config_.recipe.variant_hash(config_.recipe.variants[1]));
  EXPECT_NE(after.variants[1].sha256, before.variants[1].sha256);

  // The same bytes as a whole run of the new recipe makes.
  ASSERT_EQ(handle(aws_event(created(upload("dog.jpg", photo_)))).processed, 1);
  EXPECT_EQ(manifest_at("dog.jpg/manifest.json").variants[1].sha256, after.variants[1].sha256);
  // And once more changes nothing.
  EXPECT_EQ(handle(event).already_done, 1);
}

TEST_F(HandlerTest, AddedVariantsAreMadeAndDroppedOnesDeletedAfterTheManifest) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  recipe::Variant medium;
  medium.name = "medium";
  medium.resize.width = 320;
  medium.encode.format = recipe::Format::kAvif;
  config_.recipe.variants = {config_.recipe.variants[1], medium};  // small dropped
  handler_.reset();

  const InvocationResult result = handle(event);
  ASSERT_EQ(result.processed, 1) << result.records.at(0).reason;
  EXPECT_EQ(result.records[0].outputs, std::vector<std::string>{"cat.jpg/medium.avif"});
  EXPECT_EQ(result.records[0].kept, std::vector<std::string>{"cat.jpg/thumb.webp"});
  EXPECT_FALSE(dest_mem_.head("processed", "cat.jpg/small.jpg"));
  const Manifest after = manifest_at("cat.jpg/manifest.json");
  ASSERT_EQ(after.variants.size(), 2U);
  EXPECT_EQ(after.variants[0].name, "thumb");
  EXPECT_EQ(after.variants[1].name, "medium");
  EXPECT_EQ(after.variants[1].width, 320);
}

TEST_F(HandlerTest, AKeptVariantWhoseObjectIsGoneIsMadeAgain) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  ASSERT_TRUE(dest_mem_.delete_object("processed", "cat.jpg/small.jpg"));
  config_.recipe.variants[1].encode.quality = 50;
  handler_.reset();

  const InvocationResult result = handle(event);
  ASSERT_EQ(result.processed, 1) << result.records.at(0).reason;
  EXPECT_EQ(result.records[0].outputs.size(), 2U);
  EXPECT_TRUE(result.records[0].kept.empty());
  EXPECT_TRUE(dest_mem_.head("processed", "cat.jpg/small.jpg"));
}

TEST_F(HandlerTest, ANewKeyTemplateMovesEveryOutput) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  config_.recipe.output.key_template = "{dir}/{file}/{variant}-{hash}.{ext}";
  handler_.reset();

  const InvocationResult result = handle(event);
  ASSERT_EQ(result.processed, 1) << result.records.at(0).reason;
  EXPECT_EQ(result.records[0].outputs.size(), 2U);
  EXPECT_FALSE(dest_mem_.head("processed", "cat.jpg/small.jpg"));
  EXPECT_FALSE(dest_mem_.head("processed", "cat.jpg/thumb.webp"));
  for (const ManifestVariant& v : manifest_at("cat.jpg/manifest.json").variants) {
    EXPECT_TRUE(dest_mem_.head("processed", v.key)) << v.key;
  }
}

TEST_F(HandlerTest, StaleEventIsSkipped) {
  const auto first = upload("cat.jpg", photo_);
  upload("cat.jpg", to_jpeg(test_card(320, 240)));  // overwritten before the event is handled
  const InvocationResult result = handle(aws_event(created(first)));
  EXPECT_EQ(result.skipped_stale, 1);
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerTest, EventsOutOfOrderLeaveTheNewestVersionsOutputs) {
  const auto older = upload("cat.jpg", photo_);
  const auto newer = upload("cat.jpg", to_jpeg(test_card(320, 240)));
  ASSERT_EQ(handle(aws_event(created(newer))).processed, 1);
  const InvocationResult late = handle(aws_event(created(older)));  // delivered after
  EXPECT_EQ(late.skipped_stale, 1);
  const Manifest manifest = manifest_at("cat.jpg/manifest.json");
  EXPECT_EQ(manifest.source.etag, newer.etag);
  EXPECT_EQ(manifest.source.bytes, newer.size);
  EXPECT_EQ(manifest.source.width, 320);
  // And the newer event delivered twice more changes nothing.
  EXPECT_EQ(handle(aws_event(created(newer))).already_done, 1);
}

TEST_F(HandlerTest, SourceGoneWhileRenderingWritesNothing) {
  const auto source = upload("cat.jpg", photo_);
  // Calls to the source: head, open, then the head after rendering, which finds it gone.
  source_.set_plan({.fail_nth_call = 3, .code = core::ErrorCode::kNotFound});
  const InvocationResult result = handle(aws_event(created(source)));
  EXPECT_EQ(result.skipped_stale, 1);
  EXPECT_EQ(source_.injected_failures(), 1U);
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerTest, EventForADeletedSourceIsStale) {
  const auto first = upload("cat.jpg", photo_);
  ASSERT_TRUE(source_mem_.delete_object("uploads", "cat.jpg"));
  EXPECT_EQ(handle(aws_event(created(first))).skipped_stale, 1);
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerTest, LoopGuardSkipsTheDestinationBucket) {
  auto own = dest_mem_.put("processed", "cat/small.jpg", photo_);
  ASSERT_TRUE(own);
  const InvocationResult result = handle(aws_event(created(*own, "processed")));
  EXPECT_EQ(result.skipped_loop_guard, 1);
  EXPECT_EQ(destination_objects().size(), 1U);
}

TEST_F(HandlerTest, LoopGuardSkipsObjectsStampedByImgflow) {
  storage::PutOptions options;
  options.user_metadata = {{"imgflow-variant", "small"}};
  const auto copied = upload("cat.jpg", photo_, options);
  EXPECT_EQ(handle(aws_event(created(copied))).skipped_loop_guard, 1);
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerTest, LoopGuardSkipsTheDestinationPrefixInASharedBucket) {
  config_.destination_bucket = "uploads";
  config_.destination_prefix = "out";
  handler_ = std::make_unique<Handler>(config_, source_, source_, logger_, clock_);

  const auto source = upload("cat.jpg", photo_);
  ASSERT_EQ(handle(aws_event(created(source))).processed, 1);
  auto manifest = source_mem_.get_string("uploads", "out/cat.jpg/manifest.json");
  ASSERT_TRUE(manifest);

  const auto output = source_mem_.head("uploads", "out/cat.jpg/small.jpg");
  ASSERT_TRUE(output);
  EXPECT_EQ(handle(aws_event(created(*output))).skipped_loop_guard, 1);
}

// On AWS the bucket notification picks the buckets: with no source bucket configured, any
// bucket but the destination is a source.
TEST_F(HandlerTest, WithoutASourceBucketAnyBucketButTheDestinationIsASource) {
  config_.source_bucket = "";
  handler_.reset();
  ASSERT_TRUE(source_mem_.create_bucket("camera-roll"));
  auto elsewhere = source_mem_.put("camera-roll", "cat.jpg", photo_);
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(handle(aws_event(created(*elsewhere, "camera-roll"))).processed, 1);
  auto own = dest_mem_.head("processed", "cat.jpg/manifest.json");
  ASSERT_TRUE(own);
  EXPECT_EQ(handle(aws_event(created(*own, "processed"))).skipped_loop_guard, 1);
}

TEST_F(HandlerTest, CorruptImageIsAPermanentFailureWithNoOutputs) {
  const auto bad = upload("bad.jpg", std::string("\xFF\xD8\xFF\xE0") + std::string(200, 'x'));
  const InvocationResult result = handle(aws_event(created(bad)));
  ASSERT_EQ(result.records.size(), 1U);
  EXPECT_EQ(result.records[0].kind, OutcomeKind::kFailed);
  EXPECT_EQ(result.records[0].failure, Failure::kPermanent);
  EXPECT_FALSE(result.records[0].reason.empty());
  EXPECT_EQ(result.failed_permanent, 1);
  EXPECT_FALSE(result.should_retry());
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerTest, OversizedSourceIsRefusedBeforeReading) {
  config_.recipe.limits.max_input_bytes = 1000;
  const auto big = upload("big.jpg", photo_);
  const InvocationResult result = handle(aws_event(created(big)));
  ASSERT_EQ(result.failed_permanent, 1);
  EXPECT_NE(result.records[0].reason.find("too large"), std::string::npos)
      << result.records[0].reason;
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerTest, UnavailableDestinationIsTransientAndLeavesNoManifest) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  // Call 1 reads the manifest, 2 stores the first variant, 3 the second: it fails.
  dest_.set_plan(FaultPlan{.fail_nth_call = 3, .code = core::ErrorCode::kUnavailable});
  const InvocationResult result = handle(event);
  ASSERT_EQ(result.records.size(), 1U);
  EXPECT_EQ(result.records[0].failure, Failure::kTransient);
  EXPECT_TRUE(result.should_retry());
  EXPECT_FALSE(dest_mem_.head("processed", "cat.jpg/manifest.json"));

  dest_.set_plan({});
  EXPECT_EQ(handle(event).processed, 1);  // the retry the host makes completes the set
  EXPECT_TRUE(dest_mem_.head("processed", "cat.jpg/manifest.json"));
}

TEST_F(HandlerTest, ObjectRemovedDeletesVariantsAndManifest) {
  const auto source = upload("photos/cat.jpg", photo_);
  ASSERT_EQ(handle(aws_event(created(source))).processed, 1);
  ASSERT_EQ(destination_objects().size(), 3U);

  ASSERT_TRUE(source_mem_.delete_object("uploads", "photos/cat.jpg"));
  events::EventRecord removed = created(source);
  removed.event_name = "ObjectRemoved:Delete";
  const InvocationResult result = handle(aws_event(removed));
  EXPECT_EQ(result.removed, 1);
  EXPECT_EQ(result.records[0].outputs.size(), 3U);
  EXPECT_TRUE(destination_objects().empty());

  EXPECT_EQ(handle(aws_event(removed)).removed, 1);  // nothing left: still fine
}

TEST_F(HandlerTest, LateRemoveAfterReuploadKeepsOutputs) {
  const auto source = upload("cat.jpg", photo_);
  ASSERT_EQ(handle(aws_event(created(source))).processed, 1);
  events::EventRecord removed = created(source);
  removed.event_name = "ObjectRemoved:Delete";  // the source still exists: uploaded again
  EXPECT_EQ(handle(aws_event(removed)).skipped_stale, 1);
  EXPECT_EQ(destination_objects().size(), 3U);
}

TEST_F(HandlerTest, KeysWithSpacesAndUnicodeWorkEndToEnd) {
  const std::string key = "fotos/caf\u00e9 au lait/\u00fcber \u65e5\u672c+1.jpg";
  const auto source = upload(key, photo_);
  const std::string event = aws_event(created(source));
  ASSERT_EQ(event.find("caf\u00e9"), std::string::npos) << "the key travels encoded";

  ASSERT_EQ(handle(event).processed, 1);
  const std::string base = "fotos/caf\u00e9 au lait/\u00fcber \u65e5\u672c+1.jpg/";
  const Manifest m = manifest_at(base + "manifest.json");
  EXPECT_EQ(m.source.key, key);
  auto small = dest_mem_.head("processed", base + "small.jpg");
  ASSERT_TRUE(small);
  const std::string stamped = small->user_metadata.at("imgflow-source-key");
  EXPECT_EQ(stamped, events::form_url_encode(key));
  EXPECT_EQ(*events::form_url_decode(stamped), key);
}

TEST_F(HandlerTest, CephEventWithStringSizeWorks) {
  const auto source = upload("caf\u00e9/cr\u00e8me br\u00fbl\u00e9e.webp", photo_);
  std::string json = read_testdata("ceph_put.json");
  const auto swap = [&](const std::string& from, const std::string& to) {
    json.replace(json.find(from), from.size(), to);
  };
  swap("37b51d194a7513e45b56f6524f2d51f2", source.etag);
  swap("\"2048\"", "\"" + std::to_string(source.size) + "\"");
  EXPECT_EQ(handle(json).processed, 1);
  EXPECT_EQ(manifest_at("caf\u00e9/cr\u00e8me br\u00fbl\u00e9e.webp/manifest.json").source.key,
            source.key);
}

TEST_F(HandlerTest, EveryLogLineIsJsonWithTheStepFields) {
  ASSERT_EQ(handle(aws_event(created(upload("cat.jpg", photo_)))).processed, 1);
  std::istringstream lines(log_text());
  int resized = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    for (const char* field :
         {"level", "request_id", "bucket", "key", "variant", "bytes", "ms", "outcome"}) {
      EXPECT_TRUE(j.contains(field)) << field << " missing in " << line;
    }
    if (j["outcome"] == "resized") {
      ++resized;
      EXPECT_GT(j["bytes"].get<int>(), 0);
      EXPECT_NE(j["variant"], "");
    }
  }
  EXPECT_EQ(resized, 2);
}

TEST_F(HandlerTest, UnavailableSourceIsTransient) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  source_.set_plan(FaultPlan{.fail_nth_call = 1, .code = core::ErrorCode::kTimeout});
  const InvocationResult result = handle(event);
  EXPECT_EQ(result.failed_transient, 1);
  EXPECT_TRUE(result.should_retry());
  EXPECT_TRUE(destination_objects().empty());
}

// A phone uploads IMG_0001.HEIC and IMG_0001.JPG; a user uploads photo.jpg, then photo.png.
TEST_F(HandlerTest, SourcesThatDifferOnlyInExtensionKeepTheirOwnOutputs) {
  const auto jpg = upload("cat.jpg", photo_);
  const auto png = upload("cat.png", to_png(test_card(320, 240)));
  ASSERT_EQ(handle(aws_event(created(jpg))).processed, 1);
  ASSERT_EQ(handle(aws_event(created(png))).processed, 1);
  EXPECT_EQ(manifest_at("cat.jpg/manifest.json").source.etag, jpg.etag);
  EXPECT_EQ(manifest_at("cat.png/manifest.json").source.etag, png.etag);
  EXPECT_EQ(manifest_at("cat.png/manifest.json").source.width, 320);
  EXPECT_EQ(destination_objects().size(), 6U);  // two variants and a manifest each
}

// Before outputs were kept under the whole source key, "cat.jpg" wrote cat/manifest.json; a
// later upload named "cat" lands in that folder and replaces the old set instead of failing.
TEST_F(HandlerTest, AManifestLeftByTheOldLayoutForAnotherSourceIsReplaced) {
  const auto legacy = upload("cat.jpg", photo_);
  ASSERT_EQ(handle(aws_event(created(legacy))).processed, 1);
  auto moved = dest_mem_.get_string("processed", "cat.jpg/manifest.json");
  ASSERT_TRUE(moved);
  ASSERT_TRUE(dest_mem_.put("processed", "cat/manifest.json", *moved, {}));

  const InvocationResult result = handle(aws_event(created(upload("cat", photo_))));
  ASSERT_EQ(result.processed, 1) << result.records.at(0).reason;
  EXPECT_EQ(manifest_at("cat/manifest.json").source.key, "cat");
  EXPECT_NE(log_text().find("older key layout made for cat.jpg"), std::string::npos);
}

// {hash} makes every key name its bytes: a re-upload gets new keys, caches may keep old ones
// for ever, and the previous set is removed once the new manifest is in place.
TEST_F(HandlerTest, HashedKeysAreImmutableAndTheOldSetIsRemovedAfterAReupload) {
  config_.recipe.output.key_template = "{dir}/{file}/{variant}-{hash}.{ext}";
  handler_.reset();
  ASSERT_EQ(handle(aws_event(created(upload("cat.jpg", photo_)))).processed, 1);
  const Manifest first = manifest_at("cat.jpg/manifest.json");
  const ManifestVariant& small = first.variants.at(0);
  EXPECT_EQ(small.key, "cat.jpg/small-" + small.sha256.substr(0, 16) + ".jpg");
  EXPECT_EQ(dest_mem_.head("processed", small.key)->cache_control,
            "public, max-age=31536000, immutable");
  EXPECT_EQ(dest_mem_.head("processed", "cat.jpg/manifest.json")->cache_control, "no-cache");

  ASSERT_EQ(handle(aws_event(created(upload("cat.jpg", to_jpeg(test_card(320, 240)))))).processed,
            1);
  const Manifest second = manifest_at("cat.jpg/manifest.json");
  EXPECT_NE(second.variants.at(0).key, small.key);
  EXPECT_FALSE(dest_mem_.head("processed", small.key));
  EXPECT_EQ(destination_objects().size(), 3U);
}

TEST_F(HandlerTest, VariantsTheNewRecipeNoLongerMakesArePruned) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  config_.recipe.variants[1].name = "square";
  handler_.reset();
  ASSERT_EQ(handle(event).processed, 1);
  EXPECT_FALSE(dest_mem_.head("processed", "cat.jpg/thumb.webp"));
  EXPECT_TRUE(dest_mem_.head("processed", "cat.jpg/square.webp"));
  EXPECT_EQ(destination_objects().size(), 3U);
}

TEST_F(HandlerTest, RemoveCanBeTurnedOff) {
  config_.delete_variants_on_remove = false;
  const auto source = upload("cat.jpg", photo_);
  ASSERT_EQ(handle(aws_event(created(source))).processed, 1);
  ASSERT_TRUE(source_mem_.delete_object("uploads", "cat.jpg"));
  events::EventRecord removed = created(source);
  removed.event_name = "ObjectRemoved:Delete";
  EXPECT_EQ(handle(aws_event(removed)).ignored, 1);
  EXPECT_EQ(destination_objects().size(), 3U);
}

TEST_F(HandlerTest, OneHandlerServesSeveralThreadsAtOnce) {
  std::vector<std::string> events;
  events.reserve(6);
  for (int i = 0; i < 6; ++i) {
    events.push_back(aws_event(created(upload("batch/" + std::to_string(i) + ".jpg", photo_))));
  }
  Handler& shared = handler();
  std::vector<int> done(3, 0);
  std::vector<std::thread> workers;
  workers.reserve(3);
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      // Every worker handles every event: duplicates race, as redeliveries do.
      for (const std::string& event : events) {
        auto result = shared.handle(event, "req-" + std::to_string(w));
        if (result && !result->should_retry() && result->failed_permanent == 0) ++done[w];
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(done, std::vector<int>(3, 6));
  for (int i = 0; i < 6; ++i) {
    const Manifest m = manifest_at("batch/" + std::to_string(i) + ".jpg/manifest.json");
    ASSERT_EQ(m.variants.size(), 2U);
    EXPECT_EQ(dest_mem_.head("processed", m.variants[0].key)->etag, m.variants[0].etag);
  }
}

// ---- Malware scanning (recipe scan:), against a real clamd. ---------------------------------

std::unique_ptr<test_support::ClamdDaemon> scan_daemon;
std::string scan_daemon_error;

class HandlerScanTest : public HandlerTest {
 protected:
  static void SetUpTestSuite() {
    HandlerTest::SetUpTestSuite();
    scan_daemon = test_support::ClamdDaemon::start(scan_daemon_error);
  }
  static void TearDownTestSuite() { scan_daemon.reset(); }

  void SetUp() override {
    HandlerTest::SetUp();
    ASSERT_NE(scan_daemon, nullptr) << scan_daemon_error;
    ASSERT_TRUE(source_mem_.create_bucket("quarantine"));
    recipe::Scan& s = config_.recipe.scan;
    s.enabled = true;
    s.clamd = scan::parse_clamd_address(scan_daemon->unix_address()).value();
    s.max_bytes = config_.recipe.limits.max_input_bytes;
    s.timeout_ms = 10'000;
  }

  std::string infected_photo() const {
    return test_support::with_jpeg_comment(photo_, test_support::kClamdMarker);
  }
  std::string signature() const {
    return std::string(test_support::kClamdMarkerSignature) + ".UNOFFICIAL";
  }
  // The ETag as the quarantine key carries it: without S3's quotes.
  static std::string unquoted_etag(const storage::ObjectInfo& source) {
    std::string etag = source.etag;
    std::erase(etag, '"');
    return etag;
  }
};

TEST_F(HandlerScanTest, ACleanUploadIsProcessedAndTheManifestSaysWhoScannedIt) {
  const auto source =
      upload("cat.jpg", test_support::with_jpeg_comment(photo_, "a harmless comment"));
  const InvocationResult result = handle(aws_event(created(source)));
  ASSERT_EQ(result.processed, 1) << result.records.at(0).reason;
  const Manifest m = manifest_at("cat.jpg/manifest.json");
  ASSERT_TRUE(m.scan.has_value());
  EXPECT_EQ(m.scan->scanned_by, "clamd " + scan_daemon->unix_address());
  EXPECT_TRUE(m.scan->engine.starts_with("ClamAV ")) << m.scan->engine;
  EXPECT_EQ(m.scan->database, "");  // the test's local signatures have no database version
  EXPECT_NE(metrics_.render().find("imgflow_scans_total{verdict=\"clean\"} 1\n"),
            std::string::npos);
}

TEST_F(HandlerScanTest, AnInfectedUploadIsQuarantinedDeletedAndNeverPublished) {
  const std::string bytes = infected_photo();
  const auto source = upload("photos/cat.jpg", bytes);
  const InvocationResult result = handle(aws_event(created(source)));
  ASSERT_EQ(result.records.size(), 1U);
  EXPECT_EQ(result.records[0].kind, OutcomeKind::kInfected) << result.records[0].reason;
  EXPECT_EQ(result.infected, 1);
  EXPECT_FALSE(result.should_retry());
  EXPECT_NE(result.records[0].reason.find(signature()), std::string::npos);

  EXPECT_TRUE(destination_objects().empty());
  EXPECT_EQ(source_mem_.head("uploads", "photos/cat.jpg").error().code, core::ErrorCode::kNotFound);
  const std::string held_key = "photos/cat.jpg@" + unquoted_etag(source);
  auto held = source_mem_.head("quarantine", held_key);
  ASSERT_TRUE(held) << held.error().to_string();
  EXPECT_EQ(held->user_metadata.at("imgflow-scan"), "infected");
  EXPECT_EQ(held->user_metadata.at("imgflow-signature"), signature());
  EXPECT_EQ(held->user_metadata.at("imgflow-source-etag"), source.etag);
  EXPECT_EQ(source_mem_.get_string("quarantine", held_key).value(), bytes);
  EXPECT_NE(result.records[0].reason.find("quarantined as quarantine/" + held_key),
            std::string::npos)
      << result.records[0].reason;

  const std::string metrics = metrics_.render();
  EXPECT_NE(metrics.find("imgflow_scans_total{verdict=\"infected\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("imgflow_records_total{outcome=\"infected\"} 1\n"), std::string::npos);
  EXPECT_NE(log_text().find("\"outcome\":\"infected\""), std::string::npos);
  // Redelivered: the source is gone, nothing else happens.
  EXPECT_EQ(handle(aws_event(created(source))).skipped_stale, 1);
}

TEST_F(HandlerScanTest, AnInfectedUploadCarriesAQuarantinedNotification) {
  config_.notify = {recipe::NotifyEvent::kQuarantined};
  const auto source = upload("photos/cat.jpg", infected_photo());
  const InvocationResult result = handle(aws_event(created(source)));
  ASSERT_EQ(result.infected, 1);
  ASSERT_TRUE(result.records[0].notification.has_value());
  const auto body = nlohmann::json::parse(result.records[0].notification->body);
  EXPECT_EQ(body["type"], "quarantined");
  EXPECT_EQ(body["signature"], signature());
  EXPECT_EQ(body["quarantine"]["key"], "photos/cat.jpg@" + unquoted_etag(source));
}

TEST_F(HandlerScanTest, ASecondInfectedUploadUnderTheSameKeyKeepsTheFirstOnesEvidence) {
  const auto first = upload("cat.jpg", infected_photo());
  ASSERT_EQ(handle(aws_event(created(first))).infected, 1);
  const auto second = upload("cat.jpg", test_support::eicar());
  ASSERT_NE(first.etag, second.etag);
  ASSERT_EQ(handle(aws_event(created(second))).infected, 1);
  EXPECT_EQ(source_mem_.get_string("quarantine", "cat.jpg@" + unquoted_etag(first)).value(),
            infected_photo());
  EXPECT_EQ(source_mem_.get_string("quarantine", "cat.jpg@" + unquoted_etag(second)).value(),
            test_support::eicar());
}

TEST_F(HandlerScanTest, OnInfectedDeleteOnlyDeletes) {
  config_.recipe.scan.on_infected = recipe::OnInfected::kDelete;
  const auto source = upload("cat.jpg", test_support::eicar());
  const InvocationResult result = handle(aws_event(created(source)));
  EXPECT_EQ(result.infected, 1) << result.records.at(0).reason;
  EXPECT_FALSE(source_mem_.head("uploads", "cat.jpg"));
  EXPECT_FALSE(source_mem_.head("quarantine", "cat.jpg"));
  EXPECT_TRUE(destination_objects().empty());
}

TEST_F(HandlerScanTest, ARecipeChangeKeepsTheScanOfTheSameBytes) {
  const std::string event = aws_event(created(upload("cat.jpg", photo_)));
  ASSERT_EQ(handle(event).processed, 1);
  const ManifestScan scanned = manifest_at("cat.jpg/manifest.json").scan.value();
  // The scanner is gone now: bytes it passed are not sent to it again.
  config_.recipe.scan.clamd = scan::parse_clamd_address("unix:/nonexistent/clamd.ctl").value();
  config_.recipe.variants[1].encode.quality = 50;
  handler_.reset();
  ASSERT_EQ(handle(event).processed, 1);
  const Manifest after = manifest_at("cat.jpg/manifest.json");
  ASSERT_TRUE(after.scan.has_value());
  EXPECT_EQ(after.scan->scanned_by, scanned.scanned_by);
  EXPECT_EQ(after.scan->engine, scanned.engine);
}

TEST_F(HandlerScanTest, AScannerThatCannotAnswerIsATransientFailureNeverAPass) {
  config_.recipe.scan.clamd = scan::parse_clamd_address("unix:/nonexistent/clamd.ctl").value();
  const auto source = upload("cat.jpg", photo_);
  const InvocationResult result = handle(aws_event(created(source)));
  ASSERT_EQ(result.records.size(), 1U);
  EXPECT_EQ(result.records[0].kind, OutcomeKind::kFailed);
  EXPECT_EQ(result.records[0].failure, Failure::kTransient) << result.records[0].reason;
  EXPECT_TRUE(result.should_retry());
  EXPECT_NE(result.records[0].reason.find("scan: unavailable"), std::string::npos)
      << result.records[0].reason;
  EXPECT_TRUE(destination_objects().empty());
  EXPECT_TRUE(source_mem_.head("uploads", "cat.jpg"));  // kept for the retry
  EXPECT_NE(metrics_.render().find("imgflow_scans_total{verdict=\"error\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace imgflow::function
