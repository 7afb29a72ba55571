#include "runtime/event_feed.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace imgflow::runtime {
namespace {

using namespace std::chrono_literals;

// Reads until `text` has arrived (or the stream ends); what was read.
std::string read_until(storage::ByteSource& stream, std::string_view text) {
  std::string out;
  char buf[64];
  while (out.find(text) == std::string::npos) {
    auto n = stream.read(buf, sizeof buf);
    if (!n || *n == 0) break;
    out.append(buf, *n);
  }
  return out;
}

TEST(EventFeed, SubscribersGetEventsPublishedAfterTheyJoined) {
  EventFeed feed;
  feed.publish("processed", "early", "{}");  // before anyone listens: not replayed
  auto a = feed.subscribe();
  auto b = feed.subscribe();
  ASSERT_TRUE(a && b);
  feed.publish("processed", "id1", R"({"type":"processed"})");
  feed.publish("failed", "id2", R"({"type":"failed"})");
  const std::string got = read_until(*a, "id: id2");
  EXPECT_TRUE(got.starts_with("retry: 5000\n")) << got;
  EXPECT_NE(got.find("event: processed\nid: id1\ndata: {\"type\":\"processed\"}\n\n"),
            std::string::npos)
      << got;
  EXPECT_EQ(got.find("early"), std::string::npos);
  EXPECT_NE(read_until(*b, "id: id2").find("event: failed"), std::string::npos);
}

TEST(EventFeed, IdleStreamsGetHeartbeatsAndCloseEndsThem) {
  EventFeed feed(4, 20ms);
  auto s = feed.subscribe();
  ASSERT_TRUE(s);
  EXPECT_NE(read_until(*s, ": keep-alive").find(": keep-alive\n\n"), std::string::npos);
  auto ended = std::async(std::launch::async, [&] { return read_until(*s, "never"); });
  std::this_thread::sleep_for(50ms);
  feed.close();
  ASSERT_EQ(ended.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(feed.subscribe());  // closed: no new streams
}

TEST(EventFeed, SubscribersAreLimitedAndFreedWhenTheyGo) {
  EventFeed feed(2);
  auto a = feed.subscribe();
  auto b = feed.subscribe();
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(feed.subscribe());
  a.reset();
  EXPECT_TRUE(feed.subscribe());
}

TEST(EventFeed, ASlowSubscriberLosesTheOldestAndIsTold) {
  EventFeed feed;
  auto s = feed.subscribe();
  ASSERT_TRUE(s);
  for (std::size_t i = 0; i < EventFeed::kBacklog + 5; ++i) {
    feed.publish("processed", "id" + std::to_string(i), "{}");
  }
  const std::string last = "id: id" + std::to_string(EventFeed::kBacklog + 4) + "\n";
  const std::string got = read_until(*s, last);
  EXPECT_NE(got.find("event: dropped\ndata: {\"dropped\":5}"), std::string::npos)
      << got.substr(0, 200);
  EXPECT_EQ(got.find("id: id4\n"), std::string::npos);
  EXPECT_NE(got.find("id: id5\n"), std::string::npos);
}

}  // namespace
}  // namespace imgflow::runtime
