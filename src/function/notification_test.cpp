#include "function/notification.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace imgflow::function {
namespace {

using recipe::NotifyEvent;

const core::Clock::TimePoint kTime{std::chrono::seconds(1'796'000'000)};

TEST(Notification, ProcessedCarriesTheVariantsAndPlaceholder) {
  Manifest manifest;
  manifest.placeholder = "data:image/webp;base64,AAAA";
  manifest.dominant_color = "#102030";
  ManifestVariant large;
  large.name = "large";
  large.key = "a b.jpg/large.webp";
  large.format = "webp";
  large.content_type = "image/webp";
  large.width = 1600;
  large.height = 1200;
  large.bytes = 4321;
  manifest.variants.push_back(large);
  const Notification n = processed_notification({"uploads", "a b.jpg", "abc", 99}, "processed",
                                                "a b.jpg/manifest.json", manifest, kTime);
  EXPECT_EQ(n.type, NotifyEvent::kProcessed);
  const auto j = nlohmann::json::parse(n.body);
  EXPECT_EQ(j["type"], "processed");
  EXPECT_EQ(j["id"], n.id);
  EXPECT_EQ(n.id.size(), 32U);
  EXPECT_EQ(j["time"], "2026-11-30T00:53:20.000Z");
  EXPECT_EQ(j["source"]["key"], "a b.jpg");
  EXPECT_EQ(j["source"]["etag"], "abc");
  EXPECT_EQ(j["source"]["size"], 99);
  EXPECT_EQ(j["manifest"]["key"], "a b.jpg/manifest.json");
  ASSERT_EQ(j["variants"].size(), 1U);
  EXPECT_EQ(j["variants"][0]["content_type"], "image/webp");
  EXPECT_EQ(j["variants"][0]["width"], 1600);
  EXPECT_EQ(j["variants"][0]["bytes"], 4321);
  EXPECT_EQ(j["placeholder"], manifest.placeholder);
  EXPECT_EQ(j["dominant_color"], "#102030");
}

TEST(Notification, IdIsStablePerSourceVersionAndType) {
  const SourceRef v1{"uploads", "a.jpg", "e1", 1};
  const SourceRef v2{"uploads", "a.jpg", "e2", 1};
  const Manifest m;
  const auto later = kTime + std::chrono::hours(1);
  EXPECT_EQ(processed_notification(v1, "p", "k", m, kTime).id,
            processed_notification(v1, "p", "k", m, later).id);
  EXPECT_NE(processed_notification(v1, "p", "k", m, kTime).id,
            processed_notification(v2, "p", "k", m, kTime).id);
  EXPECT_NE(processed_notification(v1, "p", "k", m, kTime).id,
            failed_notification(v1, "permanent", "x", 1, kTime).id);
}

TEST(Notification, FailedAndQuarantinedSayWhy) {
  const SourceRef source{"uploads", "bad.jpg", "e", 5};
  const auto failed = nlohmann::json::parse(
      failed_notification(source, "permanent", "decode: not an image", 1, kTime).body);
  EXPECT_EQ(failed["type"], "failed");
  EXPECT_EQ(failed["reason"], "permanent");
  EXPECT_EQ(failed["error"], "decode: not an image");
  EXPECT_FALSE(failed.contains("manifest"));

  const auto kept = nlohmann::json::parse(
      quarantined_notification(source, "Eicar-Test-Signature", "quarantine", "bad.jpg@e", kTime)
          .body);
  EXPECT_EQ(kept["type"], "quarantined");
  EXPECT_EQ(kept["signature"], "Eicar-Test-Signature");
  EXPECT_EQ(kept["quarantine"]["key"], "bad.jpg@e");
  const auto deleted = nlohmann::json::parse(
      quarantined_notification(source, "Eicar-Test-Signature", "", "", kTime).body);
  EXPECT_FALSE(deleted.contains("quarantine"));
}

TEST(Notification, EventNamesRoundTrip) {
  for (auto type : {NotifyEvent::kProcessed, NotifyEvent::kFailed, NotifyEvent::kQuarantined}) {
    EXPECT_EQ(notification_type(notification_event_name(type)), type);
  }
  EXPECT_EQ(notification_event_name(NotifyEvent::kFailed), "Notification:failed");
  EXPECT_FALSE(notification_type("ObjectCreated:Put"));
  EXPECT_FALSE(notification_type("Notification:deleted"));
}

TEST(Notification, InvalidUtf8InAKeyDoesNotThrow) {
  const std::string key = "bad\xff.jpg";
  const auto j = nlohmann::json::parse(
      failed_notification({"uploads", key, "e", 1}, "permanent", "x", 1, kTime).body);
  EXPECT_EQ(j["source"]["key"], "bad\xEF\xBF\xBD.jpg");
}

}  // namespace
}  // namespace imgflow::function
