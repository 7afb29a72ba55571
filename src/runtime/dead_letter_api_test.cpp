#include "runtime/dead_letter_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "storage/memory_store.h"

namespace imgflow::runtime {
namespace {

using nlohmann::json;

// A MemoryStore with one upload whose event was dead-lettered.
class DeadLetterApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.create_bucket("uploads"));
    storage::PutOptions put;
    put.event = storage::EventToRecord{"ObjectCreated:Put", R"({"requestId":"R1"})"};
    ASSERT_TRUE(store_.put("uploads", "bad photo.jpg", "not an image", put));
    auto claimed = store_.claim(1, std::chrono::seconds(30));
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 1U);
    storage::DeadLetter letter;
    letter.id = claimed->front().id;
    letter.event = claimed->front();
    letter.error = "bad photo.jpg: process: not a supported image";
    letter.failure = "permanent";
    letter.attempts = 1;
    letter.first_seen = letter.event.created;
    letter.last_failed = clock_.now();
    ASSERT_TRUE(store_.add_dead_letter(letter, std::nullopt));
    id_ = letter.id;
  }

  core::Result<std::string> call(std::string_view method, const std::string& path) {
    return api_.handle(method, path);
  }

  // The answer of a call that must succeed, parsed.
  json ok(std::string_view method, const std::string& path) {
    auto answer = call(method, path);
    if (!answer) {
      ADD_FAILURE() << method << " " << path << ": " << answer.error().to_string();
      return json();
    }
    return json::parse(*answer);
  }

  // The code of a call that must fail.
  std::optional<core::ErrorCode> error_code(std::string_view method, const std::string& path) {
    auto answer = call(method, path);
    if (answer) return std::nullopt;
    EXPECT_FALSE(answer.error().message.empty()) << path;
    return answer.error().code;
  }

  core::ManualClock clock_{core::Clock::TimePoint(std::chrono::seconds(1'780'000'000))};
  storage::MemoryStore store_{clock_};
  int redrives_ = 0;
  DeadLetterApi api_{store_, [this](std::int64_t id) {
                       ++redrives_;
                       return store_.redrive(id);
                     }};
  std::int64_t id_ = 0;
};

TEST_F(DeadLetterApiTest, ListsEveryLetterWithItsEventAndReason) {
  const json body = ok("GET", "dlq");
  ASSERT_EQ(body["dead_letters"].size(), 1U);
  const json& letter = body["dead_letters"][0];
  EXPECT_EQ(letter["id"], id_);
  EXPECT_EQ(letter["failure"], "permanent");
  EXPECT_EQ(letter["attempts"], 1);
  EXPECT_EQ(letter["error"], "bad photo.jpg: process: not a supported image");
  EXPECT_EQ(letter["event"]["key"], "bad photo.jpg");
  EXPECT_EQ(letter["event"]["bucket"], "uploads");
  EXPECT_EQ(letter["event"]["name"], "ObjectCreated:Put");
  EXPECT_EQ(letter["event"]["size"], 12);
  EXPECT_EQ(letter["event"]["payload"], R"({"requestId":"R1"})");
  EXPECT_EQ(letter["last_failed"], "2026-05-28T20:26:40.000Z");
}

TEST_F(DeadLetterApiTest, ShowsOneLetter) {
  EXPECT_EQ(ok("GET", "dlq/" + std::to_string(id_))["id"], id_);
}

TEST_F(DeadLetterApiTest, RedriveMovesTheEventBackIntoTheOutbox) {
  const json body = ok("POST", "dlq/" + std::to_string(id_) + "/redrive");
  EXPECT_EQ(body["id"], id_);
  EXPECT_GT(body["event_id"].get<std::int64_t>(), id_);
  EXPECT_EQ(redrives_, 1);
  EXPECT_EQ(*store_.count_dead_letters(), 0U);
  auto claimed = store_.claim(1, std::chrono::seconds(30));
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1U);
  EXPECT_EQ(claimed->front().key, "bad photo.jpg");
  // Twice: the letter is gone now.
  EXPECT_EQ(error_code("POST", "dlq/" + std::to_string(id_) + "/redrive"),
            core::ErrorCode::kNotFound);
}

TEST_F(DeadLetterApiTest, DeleteForgetsTheLetterAndSaysSoOnce) {
  const std::string path = "dlq/" + std::to_string(id_);
  EXPECT_EQ(ok("DELETE", path)["deleted"], true);
  EXPECT_EQ(*store_.count_dead_letters(), 0U);
  EXPECT_EQ(error_code("DELETE", path), core::ErrorCode::kNotFound);
  EXPECT_EQ(ok("GET", "dlq")["dead_letters"].size(), 0U);
}

TEST_F(DeadLetterApiTest, RefusesBadPathsIdsAndMethodsWithAReason) {
  using core::ErrorCode;
  struct Case {
    const char* method;
    const char* path;
    ErrorCode code;
  };
  for (const Case& c :
       {Case{"GET", "dlq/abc", ErrorCode::kInvalidArgument},
        Case{"GET", "dlq/-1", ErrorCode::kInvalidArgument},
        Case{"GET", "dlq/0", ErrorCode::kInvalidArgument},
        Case{"GET", "dlq/99999999999999999999", ErrorCode::kInvalidArgument},
        Case{"GET", "dlq/12345", ErrorCode::kNotFound},
        Case{"POST", "dlq", ErrorCode::kUnsupported}, Case{"PUT", "dlq/1", ErrorCode::kUnsupported},
        Case{"GET", "dlq/1/redrive", ErrorCode::kUnsupported},
        Case{"POST", "dlq/1/explode", ErrorCode::kNotFound},
        Case{"GET", "queues", ErrorCode::kNotFound}}) {
    EXPECT_EQ(error_code(c.method, c.path), c.code) << c.method << " " << c.path;
  }
}

TEST_F(DeadLetterApiTest, ListsTheQuarantineWithWhatTheScannerFound) {
  ASSERT_TRUE(store_.create_bucket("quarantine"));
  storage::PutOptions held;
  held.user_metadata = {{"imgflow-scan", "infected"},
                        {"imgflow-signature", "Eicar-Test-Signature.UNOFFICIAL"}};
  ASSERT_TRUE(store_.put("quarantine", "photos/a@b.jpg@0123abcd", "X5O!P%@AP", held));
  const DeadLetterApi api(store_, {}, [this] { return list_quarantine(store_, "quarantine"); });

  auto answer = api.handle("GET", "quarantine");
  ASSERT_TRUE(answer) << answer.error().to_string();
  const json body = json::parse(*answer);
  EXPECT_EQ(body["bucket"], "quarantine");
  EXPECT_EQ(body["truncated"], false);
  ASSERT_EQ(body["quarantined"].size(), 1U);
  const json& upload = body["quarantined"][0];
  EXPECT_EQ(upload["key"], "photos/a@b.jpg@0123abcd");
  EXPECT_EQ(upload["source_key"], "photos/a@b.jpg");  // only the last '@' starts the ETag
  EXPECT_EQ(upload["signature"], "Eicar-Test-Signature.UNOFFICIAL");
  EXPECT_EQ(upload["size"], 9);
  EXPECT_EQ(upload["quarantined_at"], "2026-05-28T20:26:40.000Z");
  EXPECT_EQ(api.handle("DELETE", "quarantine").error().code, core::ErrorCode::kUnsupported);
}

TEST_F(DeadLetterApiTest, AQuarantineNotYetCreatedIsEmptyAndNoneAtAllIsNotFound) {
  auto empty = list_quarantine(store_, "quarantine");
  ASSERT_TRUE(empty) << empty.error().to_string();
  EXPECT_TRUE(empty->uploads.empty());
  // api_ has no quarantine: the recipe scans nothing.
  auto none = api_.handle("GET", "quarantine");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(none.error().message.find("scan:"), std::string::npos);
}

TEST_F(DeadLetterApiTest, ALongQuarantineIsCutAtTheMaximumAndSaysSo) {
  ASSERT_TRUE(store_.create_bucket("quarantine"));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_.put("quarantine", "k" + std::to_string(i) + "@e", "x", {}));
  }
  auto first = list_quarantine(store_, "quarantine", 3);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->uploads.size(), 3U);
  EXPECT_TRUE(first->truncated);
  EXPECT_EQ(first->uploads[0].signature, "");  // no verdict in its metadata: shown as such
  auto all = list_quarantine(store_, "quarantine", 5);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->uploads.size(), 5U);
  EXPECT_FALSE(all->truncated);
}

}  // namespace
}  // namespace imgflow::runtime
