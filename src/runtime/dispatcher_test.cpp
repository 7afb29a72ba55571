#include "runtime/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "runtime/test_support.h"
#include "storage/local_store.h"
#include "storage/memory_store.h"
#include "storage/test_support.h"

namespace imgflow::runtime {
namespace {

using namespace std::chrono_literals;
using function::Failure;
using testing::CallCounter;
using testing::failed;
using testing::Gate;
using testing::key_of;
using testing::LogCapture;
using testing::processed;
using testing::raise_to;
using testing::wait_until;
using Output = core::Result<function::InvocationResult>;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.create_bucket("uploads"));
    // Small values keep the suite fast; the semantics are those of the defaults.
    options_.workers = 2;
    options_.queue_capacity = 4;
    options_.invoker.timeout = 2s;
    options_.retry_backoff = 5ms;
    options_.poll_interval = 5ms;
  }

  void TearDown() override {
    if (dispatcher_) dispatcher_->stop();
  }

  storage::ObjectInfo upload(const std::string& key) {
    storage::PutOptions options;
    options.event = storage::EventToRecord{"ObjectCreated:Put", ""};
    auto info = store_.put("uploads", key, "bytes of " + key, options);
    EXPECT_TRUE(info) << info.error().to_string();
    return info ? *info : storage::ObjectInfo{};
  }

  Dispatcher& start(Function function) {
    dispatcher_ = std::make_unique<Dispatcher>(store_, store_, std::move(function), logger_,
                                               *clock_, options_);
    dispatcher_->start();
    return *dispatcher_;
  }

  std::uint64_t pending() { return *store_.count_pending(); }
  std::uint64_t dead() { return *store_.count_dead_letters(); }

  // Waits until the outbox is empty: every event was acked or dead-lettered.
  bool drained() {
    return wait_until([&] { return pending() == 0; });
  }

  const core::Clock* clock_ = &core::SystemClock::instance();
  storage::MemoryStore store_;
  LogCapture log_;
  core::Logger logger_{log_.file()};
  DispatcherOptions options_;
  std::unique_ptr<Dispatcher> dispatcher_;
  CallCounter calls_;
};

TEST_F(DispatcherTest, SuccessAcksAndBuildsTheAwsEvent) {
  const auto info = upload("photos/a b.jpg");
  std::mutex mu;
  std::vector<events::EventRecord> seen;
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    auto records = events::parse_event(json);
    EXPECT_TRUE(records);
    std::lock_guard lock(mu);
    if (records) seen.insert(seen.end(), records->begin(), records->end());
    return processed();
  });
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(d.stats().succeeded.value(), 1U);
  EXPECT_EQ(d.stats().invocations.value(), 1U);
  EXPECT_EQ(dead(), 0U);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].event_name, "ObjectCreated:Put");
  EXPECT_EQ(seen[0].bucket, "uploads");
  EXPECT_EQ(seen[0].key, "photos/a b.jpg");
  EXPECT_EQ(seen[0].size, info.size);
  EXPECT_EQ(seen[0].etag, info.etag);
  EXPECT_EQ(seen[0].sequencer, info.sequencer);
  EXPECT_EQ(seen[0].aws_region, "us-east-1");
  EXPECT_EQ(seen[0].event_time, events::format_event_time(info.last_modified));
}

TEST_F(DispatcherTest, TransientFailureIsRetriedThenSucceeds) {
  upload("a.jpg");
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    if (calls_.next(key_of(json)) < 3) return failed(Failure::kTransient, "store unavailable");
    return processed();
  });
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(calls_.calls("a.jpg"), 3);
  EXPECT_EQ(d.stats().errors_transient.value(), 2U);
  EXPECT_EQ(d.stats().retries.value(), 2U);
  EXPECT_EQ(d.stats().succeeded.value(), 1U);
  EXPECT_EQ(dead(), 0U);
}

TEST_F(DispatcherTest, PermanentFailureGoesToTheDlqAfterOneAttemptWithItsReason) {
  upload("bad.jpg");
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    calls_.next(key_of(json));
    auto r = failed(Failure::kPermanent, "not an image");
    r.records[0].key = "bad.jpg";
    return r;
  });
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(calls_.calls("bad.jpg"), 1);
  auto letters = store_.list_dead_letters();
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 1U);
  const auto& letter = letters->front();
  EXPECT_EQ(letter.event.key, "bad.jpg");
  EXPECT_EQ(letter.failure, "permanent");
  EXPECT_EQ(letter.attempts, 1);
  EXPECT_NE(letter.error.find("not an image"), std::string::npos) << letter.error;
  EXPECT_EQ(d.stats().dead_lettered.value(), 1U);
  EXPECT_EQ(d.stats().dlq_size.value(), 1);
  EXPECT_EQ(d.stats().retries.value(), 0U);
}

TEST_F(DispatcherTest, AnEventTheHandlerCannotParseIsPermanent) {
  upload("a.jpg");
  auto& d = start([](std::string_view, std::string_view) -> Output {
    return core::fail(core::ErrorCode::kCorrupt, "not JSON");
  });
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(dead(), 1U);
  EXPECT_EQ(d.stats().invocations.value(), 1U);
}

TEST_F(DispatcherTest, AlwaysTransientGoesToTheDlqAfterThreeAttempts) {
  upload("a.jpg");
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    calls_.next(key_of(json));
    return failed(Failure::kTransient, "store unavailable");
  });
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(calls_.calls("a.jpg"), 3);
  auto letters = store_.list_dead_letters();
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 1U);
  EXPECT_EQ(letters->front().failure, "transient");
  EXPECT_EQ(letters->front().attempts, 3);
  EXPECT_NE(letters->front().error.find("store unavailable"), std::string::npos);
  EXPECT_EQ(d.stats().retries.value(), 2U);
}

TEST_F(DispatcherTest, ATimeoutCountsAsAFailedAttempt) {
  // Long enough that the quick second attempt never times out on a loaded machine.
  options_.invoker.timeout = 200ms;
  upload("slow.jpg");
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    if (calls_.next(key_of(json)) == 1) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });  // hangs until the test lets it go
    }
    return processed();
  });
  ASSERT_TRUE(wait_until([&] { return d.stats().errors_timeout.value() == 1U; }));
  // The hung function still occupies its worker: it has not returned.
  EXPECT_EQ(d.stats().in_flight.value(), 1);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(calls_.calls("slow.jpg"), 2);
  EXPECT_EQ(d.stats().retries.value(), 1U);
  EXPECT_EQ(d.stats().succeeded.value(), 1U);
  EXPECT_EQ(dead(), 0U);
}

TEST_F(DispatcherTest, AnEventOlderThanTheMaximumAgeIsDeadLetteredUninvoked) {
  core::ManualClock clock{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  storage::MemoryStore store(clock);
  ASSERT_TRUE(store.create_bucket("uploads"));
  storage::PutOptions put;
  put.event = storage::EventToRecord{"ObjectCreated:Put", ""};
  ASSERT_TRUE(store.put("uploads", "old.jpg", "x", put));
  ASSERT_TRUE(store.put("uploads", "new.jpg", "x", put));
  // Only old.jpg is past the age when the dispatcher sees them.
  options_.max_event_age = 6h;
  clock.advance(6h + 1s);
  ASSERT_TRUE(store.put("uploads", "new.jpg", "y", put));
  std::atomic<int> invoked{0};
  Dispatcher d(
      store, store,
      [&](std::string_view, std::string_view) -> Output {
        ++invoked;
        return processed();
      },
      logger_, clock, options_);
  d.start();
  ASSERT_TRUE(wait_until([&] { return *store.count_pending() == 0; }));
  d.stop();
  EXPECT_EQ(invoked, 1);
  auto letters = store.list_dead_letters();
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 2U);  // old.jpg and the first new.jpg event
  for (const auto& letter : *letters) {
    EXPECT_EQ(letter.failure, "max-age");
    EXPECT_EQ(letter.attempts, 0);
  }
  EXPECT_EQ(d.stats().expired.value(), 2U);
}

TEST_F(DispatcherTest, APoisonEventDoesNotHoldUpGoodOnes) {
  upload("poison-throws.jpg");
  upload("poison-permanent.jpg");
  for (int i = 0; i < 50; ++i) upload("good-" + std::to_string(i) + ".jpg");
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    const std::string key = key_of(json);
    calls_.next(key);
    if (key == "poison-throws.jpg") throw std::runtime_error("decoder crashed");
    if (key == "poison-permanent.jpg") return failed(Failure::kPermanent, "corrupt");
    return processed();
  });
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(d.stats().succeeded.value(), 50U);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(calls_.calls("good-" + std::to_string(i) + ".jpg"), 1);
  EXPECT_EQ(calls_.calls("poison-throws.jpg"), 3);
  EXPECT_EQ(d.stats().errors_exception.value(), 3U);
  auto letters = store_.list_dead_letters();
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 2U);
  std::set<std::string> failures;
  for (const auto& l : *letters) failures.insert(l.event.key + "=" + l.failure);
  EXPECT_EQ(failures, (std::set<std::string>{"poison-permanent.jpg=permanent",
                                             "poison-throws.jpg=exception"}));
}

TEST_F(DispatcherTest, EventsForOneObjectRunOneAtATimeInUploadOrder) {
  std::vector<std::string> sequencers;
  for (int i = 0; i < 4; ++i) sequencers.push_back(upload("same.jpg").sequencer);
  upload("other.jpg");
  std::mutex mu;
  std::vector<std::string> seen;  // sequencers of same.jpg, in the order their calls began
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  start([&](std::string_view json, std::string_view) -> Output {
    auto records = events::parse_event(json);
    EXPECT_TRUE(records);
    if (!records || records->front().key != "same.jpg") return processed();
    raise_to(most, ++running);
    {
      std::lock_guard lock(mu);
      seen.push_back(records->front().sequencer);
    }
    std::this_thread::sleep_for(20ms);
    --running;
    return processed();
  });
  ASSERT_TRUE(drained());
  EXPECT_EQ(most.load(), 1);
  EXPECT_EQ(seen, sequencers);
}

TEST_F(DispatcherTest, ABurstIsProcessedWithBoundedMemory) {
  constexpr int kEvents = 10'000;
  for (int i = 0; i < kEvents; ++i) upload("k" + std::to_string(i));
  std::FILE* null_log = std::fopen("/dev/null", "w");
  ASSERT_NE(null_log, nullptr);
  core::Logger quiet(null_log);
  std::atomic<int> running{0};
  std::atomic<int> peak_running{0};
  std::atomic<int> done{0};
  Dispatcher d(
      store_, store_,
      [&](std::string_view, std::string_view) -> Output {
        raise_to(peak_running, ++running);
        --running;
        ++done;
        return processed();
      },
      quiet, *clock_, options_);
  d.start();
  ASSERT_TRUE(wait_until([&] { return pending() == 0; }, 60s)) << done << " done";
  d.stop();
  std::fclose(null_log);
  EXPECT_EQ(d.stats().succeeded.value(), static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(done, kEvents);
  EXPECT_LE(d.stats().peak_outstanding.value(), static_cast<std::int64_t>(d.capacity()));
  EXPECT_GT(d.stats().peak_outstanding.value(), 0);
  EXPECT_LE(peak_running, static_cast<int>(d.workers()));
}

TEST_F(DispatcherTest, RedriveMovesADeadLetterBackAndItIsProcessed) {
  upload("a.jpg");
  std::atomic<bool> fixed{false};
  auto& d = start([&](std::string_view json, std::string_view) -> Output {
    calls_.next(key_of(json));
    if (!fixed) return failed(Failure::kPermanent, "recipe rejects it");
    return processed();
  });
  ASSERT_TRUE(wait_until([&] { return dead() == 1U; }));
  auto letters = store_.list_dead_letters();
  ASSERT_TRUE(letters && letters->size() == 1U);
  fixed = true;  // e.g. the operator fixed the recipe
  auto new_id = d.redrive(letters->front().id);
  ASSERT_TRUE(new_id) << new_id.error().to_string();
  ASSERT_TRUE(wait_until([&] { return d.stats().succeeded.value() == 1U; }));
  ASSERT_TRUE(drained());
  d.stop();
  EXPECT_EQ(dead(), 0U);
  EXPECT_EQ(calls_.calls("a.jpg"), 2);
  EXPECT_EQ(d.stats().redriven.value(), 1U);
  EXPECT_EQ(d.stats().dlq_size.value(), 0);
  EXPECT_FALSE(d.redrive(letters->front().id));  // already redriven
}

TEST(DefaultWorkerCount, TwoPerCoreWhileTheMemoryHoldsThem) {
  constexpr std::uint64_t kGiB = 1ULL << 30U;
  EXPECT_EQ(default_worker_count({.cores = 2, .memory_bytes = 24 * kGiB}, 512ULL << 20U), 4U);
  EXPECT_EQ(default_worker_count({.cores = 4, .memory_bytes = 4 * kGiB}, 512ULL << 20U), 6U);
  EXPECT_EQ(default_worker_count({.cores = 8, .memory_bytes = 1 * kGiB}, 512ULL << 20U), 1U);
  EXPECT_EQ(default_worker_count({.cores = 8, .memory_bytes = 256ULL << 20U}, 512ULL << 20U), 1U);
}

TEST_F(DispatcherTest, EveryInvocationLogsStartEndAndReport) {
  for (int i = 0; i < 5; ++i) upload("k" + std::to_string(i));
  auto& d = start([&](std::string_view, std::string_view) -> Output { return processed(); });
  ASSERT_TRUE(drained());
  d.stop();
  std::multiset<std::string> starts;
  std::multiset<std::string> ends;
  std::multiset<std::string> reports;
  for (const auto& line : log_.lines()) {
    const auto j = nlohmann::json::parse(line);  // every line is JSON
    const std::string msg = j["msg"];
    if (msg == "START") starts.insert(j["request_id"].get<std::string>());
    if (msg == "END") ends.insert(j["request_id"].get<std::string>());
    if (msg == "REPORT" && j["memory_limit_mb"] == 512) {
      reports.insert(j["request_id"].get<std::string>());
    }
  }
  EXPECT_EQ(starts.size(), 5U);
  EXPECT_EQ(std::set<std::string>(starts.begin(), starts.end()).size(), 5U);  // unique ids
  EXPECT_EQ(starts, ends);
  EXPECT_EQ(starts, reports);
}

TEST_F(DispatcherTest, StopLetsInFlightInvocationsFinish) {
  upload("a.jpg");
  Gate gate;
  auto& d = start([&](std::string_view, std::string_view) -> Output {
    gate.enter();
    return processed();
  });
  ASSERT_TRUE(gate.wait_entered());
  auto stopped = std::async(std::launch::async, [&] { d.stop(); });
  // stop() must wait for the running invocation.
  EXPECT_EQ(stopped.wait_for(50ms), std::future_status::timeout);
  gate.release();
  stopped.get();
  EXPECT_EQ(d.stats().succeeded.value(), 1U);
  EXPECT_EQ(pending(), 0U);  // acked before stop returned
  EXPECT_EQ(d.stats().in_flight.value(), 0);
}

TEST_F(DispatcherTest, StopReturnsClaimedButUnstartedEventsToTheOutbox) {
  options_.workers = 1;
  options_.queue_capacity = 4;
  for (int i = 0; i < 5; ++i) upload("k" + std::to_string(i));
  Gate gate;
  auto& d = start([&](std::string_view, std::string_view) -> Output {
    gate.enter();
    return processed();
  });
  ASSERT_TRUE(gate.wait_entered());
  ASSERT_TRUE(wait_until([&] { return d.stats().queued.value() == 4; }));
  auto stopped = std::async(std::launch::async, [&] { d.stop(); });
  // stop() gives the queued events back before it waits for the running one. Only then is that
  // one released: were stop() to run the queued events instead, they would never leave the
  // queue while the only worker is held, and this wait would fail.
  ASSERT_TRUE(wait_until([&] { return d.stats().queued.value() == 0; }));
  gate.release();
  stopped.get();
  EXPECT_EQ(d.stats().succeeded.value(), 1U);  // the running one, and no other
  EXPECT_EQ(pending(), 4U);
  auto claimable = store_.claim(10, 1min);
  ASSERT_TRUE(claimable);
  EXPECT_EQ(claimable->size(), 4U);  // right away, not when their lease runs out
}

TEST_F(DispatcherTest, WorksOverLocalStore) {
  storage::testing::TempDir dir;
  auto opened = storage::LocalStore::open({dir.path()});
  ASSERT_TRUE(opened) << opened.error().to_string();
  storage::LocalStore& store = **opened;
  ASSERT_TRUE(store.create_bucket("uploads"));
  storage::PutOptions put;
  put.event = storage::EventToRecord{"ObjectCreated:Put", ""};
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store.put("uploads", "k" + std::to_string(i), "x", put));
  ASSERT_TRUE(store.put("uploads", "bad", "x", put));
  Dispatcher d(
      store, store,
      [](std::string_view json, std::string_view) -> Output {
        if (key_of(json) == "bad") return failed(Failure::kPermanent, "corrupt");
        return processed();
      },
      logger_, *clock_, options_);
  d.start();
  ASSERT_TRUE(wait_until([&] { return *store.count_pending() == 0; }));
  d.stop();
  EXPECT_EQ(d.stats().succeeded.value(), 20U);
  auto letters = store.list_dead_letters();
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 1U);
  EXPECT_EQ(letters->front().event.key, "bad");
  EXPECT_EQ(d.stats().dlq_size.value(), 1);
  EXPECT_EQ(d.stats().queue_depth.value(), 0);
}

}  // namespace
}  // namespace imgflow::runtime
