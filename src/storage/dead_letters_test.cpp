#include "storage/dead_letters.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <memory>

#include "storage/local_store.h"
#include "storage/memory_store.h"
#include "storage/test_support.h"

namespace imgflow::storage {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// Runs every case against MemoryStore and LocalStore: both must behave the same.
class DeadLettersTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "local") {
      dir_ = std::make_unique<TempDir>();
      reopen();
    } else {
      auto memory = std::make_unique<MemoryStore>(clock_);
      outbox_ = memory.get();
      dead_ = memory.get();
      store_ = std::move(memory);
    }
    ASSERT_OK(store_->create_bucket("bkt"));
  }

  void reopen() {
    store_.reset();
    auto opened = LocalStore::open({dir_->path(), &clock_});
    ASSERT_TRUE(opened) << opened.error().to_string();
    outbox_ = opened->get();
    dead_ = opened->get();
    store_ = std::move(*opened);
  }

  // Writes an object with an event and claims that event.
  OutboxEvent put_and_claim(std::string_view key) {
    PutOptions options;
    options.event = EventToRecord{"ObjectCreated:Put", "payload-" + std::string(key)};
    EXPECT_TRUE(store_->put("bkt", key, "body", options));
    auto claimed = outbox_->claim(1, 1min);
    EXPECT_TRUE(claimed && claimed->size() == 1);
    return claimed && !claimed->empty() ? claimed->front() : OutboxEvent{};
  }

  DeadLetter letter_for(const OutboxEvent& event) {
    return DeadLetter{event.id, event,         "cannot decode", "permanent",
                      1,        event.created, clock_.now()};
  }

  core::ManualClock clock_{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ObjectStore> store_;
  Outbox* outbox_ = nullptr;
  DeadLetters* dead_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Stores, DeadLettersTest, ::testing::Values("memory", "local"),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(DeadLettersTest, AddMovesTheEventOutOfTheOutbox) {
  const OutboxEvent event = put_and_claim("a.jpg");
  clock_.advance(5s);
  ASSERT_OK(dead_->add_dead_letter(letter_for(event), std::nullopt));

  EXPECT_EQ(*outbox_->count_pending(), 0U);
  EXPECT_EQ(*dead_->count_dead_letters(), 1U);
  auto got = dead_->get_dead_letter(event.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->id, event.id);
  EXPECT_EQ(got->event.key, "a.jpg");
  EXPECT_EQ(got->event.bucket, "bkt");
  EXPECT_EQ(got->event.event_name, "ObjectCreated:Put");
  EXPECT_EQ(got->event.payload, "payload-a.jpg");
  EXPECT_EQ(got->event.etag, event.etag);
  EXPECT_EQ(got->event.sequencer, event.sequencer);
  EXPECT_EQ(got->event.size, 4U);
  EXPECT_EQ(got->event.attempts, 1);
  EXPECT_EQ(got->error, "cannot decode");
  EXPECT_EQ(got->failure, "permanent");
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(got->first_seen, event.created);
  EXPECT_EQ(got->last_failed, clock_.now());
}

TEST_P(DeadLettersTest, ListGetAndRemove) {
  const OutboxEvent a = put_and_claim("a.jpg");
  const OutboxEvent b = put_and_claim("b.jpg");
  ASSERT_OK(dead_->add_dead_letter(letter_for(b), std::nullopt));
  ASSERT_OK(dead_->add_dead_letter(letter_for(a), std::nullopt));

  auto listed = dead_->list_dead_letters();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2U);
  EXPECT_EQ((*listed)[0].id, a.id);  // oldest id first
  EXPECT_EQ((*listed)[1].id, b.id);

  ASSERT_OK(dead_->remove_dead_letter(a.id));
  ASSERT_OK(dead_->remove_dead_letter(a.id));  // idempotent
  auto missing = dead_->get_dead_letter(a.id);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(*dead_->count_dead_letters(), 1U);
}

TEST_P(DeadLettersTest, AddingTheSameIdAgainReplacesIt) {
  const OutboxEvent a = put_and_claim("a.jpg");
  DeadLetter letter = letter_for(a);
  ASSERT_OK(dead_->add_dead_letter(letter, std::nullopt));
  letter.error = "timed out";
  letter.attempts = 3;
  ASSERT_OK(dead_->add_dead_letter(letter, std::nullopt));
  EXPECT_EQ(*dead_->count_dead_letters(), 1U);
  EXPECT_EQ(dead_->get_dead_letter(a.id)->error, "timed out");
  EXPECT_EQ(dead_->get_dead_letter(a.id)->attempts, 3);
}

TEST_P(DeadLettersTest, RedriveRequeuesAsAFreshEventAndRemovesTheLetter) {
  const OutboxEvent a = put_and_claim("a.jpg");
  ASSERT_OK(dead_->add_dead_letter(letter_for(a), std::nullopt));
  clock_.advance(1h);

  auto new_id = dead_->redrive(a.id);
  ASSERT_OK(new_id);
  EXPECT_GT(*new_id, a.id);
  EXPECT_EQ(*dead_->count_dead_letters(), 0U);
  EXPECT_EQ(*outbox_->count_pending(), 1U);

  auto claimed = outbox_->claim(10, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  const OutboxEvent& again = claimed->front();
  EXPECT_EQ(again.id, *new_id);
  EXPECT_EQ(again.key, "a.jpg");
  EXPECT_EQ(again.etag, a.etag);
  EXPECT_EQ(again.payload, a.payload);
  EXPECT_EQ(again.attempts, 1);
  EXPECT_EQ(again.created, clock_.now());

  auto missing = dead_->redrive(a.id);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
}

// Durability is LocalStore's alone: this suite runs on it only.
class DurableDeadLettersTest : public DeadLettersTest {};
INSTANTIATE_TEST_SUITE_P(Local, DurableDeadLettersTest, ::testing::Values("local"));

TEST_P(DurableDeadLettersTest, DeadLettersSurviveAReopen) {
  const OutboxEvent a = put_and_claim("a.jpg");
  ASSERT_OK(dead_->add_dead_letter(letter_for(a), std::nullopt));
  reopen();
  auto got = dead_->get_dead_letter(a.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->event.key, "a.jpg");
  EXPECT_EQ(*outbox_->count_pending(), 0U);
}

// A data dir written before dead letters existed has no dead_letters table: open adds it.
TEST(DeadLettersLocalTest, AnOlderDataDirGainsTheTableAtOpen) {
  TempDir dir;
  core::ManualClock clock{core::Clock::TimePoint(std::chrono::seconds(1'700'000'000))};
  {
    auto store = LocalStore::open({dir.path(), &clock});
    ASSERT_OK(store);
    ASSERT_OK((*store)->create_bucket("bkt"));
  }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "imgflow.db").c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
    ASSERT_EQ(sqlite3_exec(db.get(), "DROP TABLE dead_letters", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  auto store = LocalStore::open({dir.path(), &clock});
  ASSERT_OK(store);
  EXPECT_TRUE((*store)->head_bucket("bkt"));
  PutOptions options;
  options.event = EventToRecord{"ObjectCreated:Put", ""};
  ASSERT_OK((*store)->put("bkt", "a.jpg", "body", options));
  auto claimed = (*store)->claim(1, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  const OutboxEvent& e = claimed->front();
  ASSERT_OK((*store)->add_dead_letter(
      DeadLetter{e.id, e, "x", "permanent", 1, e.created, clock.now()}, std::nullopt));
  EXPECT_EQ(*(*store)->count_dead_letters(), 1U);
}

TEST_P(DeadLettersTest, NoticeEntersTheOutboxWithTheDeadLetter) {
  const OutboxEvent event = put_and_claim("a.jpg");
  ASSERT_OK(
      dead_->add_dead_letter(letter_for(event), EventToRecord{"Notification:failed", "{}", true}));
  auto claimed = outbox_->claim(10, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  const OutboxEvent& notice = claimed->front();
  EXPECT_EQ(notice.event_name, "Notification:failed");
  EXPECT_EQ(notice.bucket, "bkt");
  EXPECT_EQ(notice.key, "a.jpg");
  EXPECT_EQ(notice.etag, event.etag);
  EXPECT_EQ(notice.payload, "{}");
  EXPECT_TRUE(notice.in_order);
  EXPECT_GT(notice.id, event.id);
}

TEST_P(DeadLettersTest, AckRecordsANoticeAboutTheSameObjectOnce) {
  const OutboxEvent event = put_and_claim("a.jpg");
  ASSERT_OK(outbox_->ack(event.id, EventToRecord{"Notification:processed", "done", true}));
  ASSERT_OK(outbox_->ack(event.id, EventToRecord{"Notification:processed", "again", true}));
  auto claimed = outbox_->claim(10, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);  // the second ack found nothing to remove
  const OutboxEvent& notice = claimed->front();
  EXPECT_EQ(notice.event_name, "Notification:processed");
  EXPECT_EQ(notice.key, "a.jpg");
  EXPECT_EQ(notice.etag, event.etag);
  EXPECT_EQ(notice.size, event.size);
  EXPECT_EQ(notice.payload, "done");
  EXPECT_TRUE(notice.in_order);
}

TEST_P(DeadLettersTest, InOrderEventWaitsForEarlierEventsAboutItsObject) {
  const OutboxEvent upload1 = put_and_claim("a.jpg");
  ASSERT_OK(outbox_->ack(upload1.id, EventToRecord{"Notification:processed", "first", true}));
  auto first = outbox_->claim(10, 1min);
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 1U);
  ASSERT_OK(outbox_->nack(first->front().id, 10s));  // its receiver is down: retried later

  const OutboxEvent upload2 = put_and_claim("a.jpg");  // not in order: runs at once
  ASSERT_OK(outbox_->ack(upload2.id, EventToRecord{"Notification:processed", "second", true}));
  const OutboxEvent other = put_and_claim("b.jpg");  // another object: not held back
  EXPECT_EQ(other.key, "b.jpg");
  ASSERT_OK(outbox_->ack(other.id));
  auto claimed = outbox_->claim(10, 1min);
  ASSERT_OK(claimed);
  EXPECT_TRUE(claimed->empty());  // "second" waits behind "first"

  clock_.advance(11s);
  claimed = outbox_->claim(10, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  EXPECT_EQ(claimed->front().payload, "first");
  ASSERT_OK(outbox_->ack(claimed->front().id));

  claimed = outbox_->claim(10, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  EXPECT_EQ(claimed->front().payload, "second");
  EXPECT_EQ(claimed->front().etag, upload2.etag);
}

TEST_P(DeadLettersTest, RedriveKeepsInOrder) {
  PutOptions options;
  options.event = EventToRecord{"Notification:processed", "p", true};
  ASSERT_OK(store_->put("bkt", "a.jpg", "{}", options));
  auto claimed = outbox_->claim(1, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  ASSERT_OK(dead_->add_dead_letter(letter_for(claimed->front()), std::nullopt));
  if (dir_) reopen();
  auto letter = dead_->get_dead_letter(claimed->front().id);
  ASSERT_OK(letter);
  EXPECT_TRUE(letter->event.in_order);
  ASSERT_OK(dead_->redrive(letter->id));
  claimed = outbox_->claim(1, 1min);
  ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  EXPECT_TRUE(claimed->front().in_order);
}

}  // namespace
}  // namespace imgflow::storage
