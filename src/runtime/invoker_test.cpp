#include "runtime/invoker.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

#include "runtime/test_support.h"

namespace imgflow::runtime {
namespace {

using namespace std::chrono_literals;
using testing::LogCapture;
using testing::processed;

const std::regex kUuid(R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");

nlohmann::json parsed(const std::string& line) { return nlohmann::json::parse(line); }

TEST(InvokerTest, LogsStartEndAndReportWithTheRequestIdItPassesOn) {
  LogCapture log;
  core::Logger logger(log.file());
  std::string seen_id;
  std::string seen_json;
  Invoker invoker(
      [&](std::string_view json, std::string_view id) -> core::Result<function::InvocationResult> {
        seen_json = json;
        seen_id = id;
        return processed();
      },
      logger, {1s, 512});

  Invocation invocation = invoker.invoke("{\"Records\":[]}");
  EXPECT_EQ(invocation.status, InvokeStatus::kReturned);
  ASSERT_TRUE(invocation.result);
  EXPECT_EQ(invocation.result->processed, 1);
  EXPECT_EQ(seen_json, "{\"Records\":[]}");
  EXPECT_EQ(seen_id, invocation.request_id);

  // Every line is one JSON object, so jq reads the whole log.
  const auto lines = log.lines();
  ASSERT_EQ(lines.size(), 3U);
  const nlohmann::json start = parsed(lines[0]);
  EXPECT_EQ(start["msg"], "START");
  EXPECT_EQ(start["request_id"], invocation.request_id);
  EXPECT_EQ(start["version"], "$LATEST");
  const nlohmann::json end = parsed(lines[1]);
  EXPECT_EQ(end["msg"], "END");
  EXPECT_EQ(end["request_id"], invocation.request_id);
  const nlohmann::json report = parsed(lines[2]);
  EXPECT_EQ(report["msg"], "REPORT");
  EXPECT_EQ(report["request_id"], invocation.request_id);
  EXPECT_GE(report["duration_ms"].get<double>(), 0.0);
  EXPECT_GE(report["billed_duration_ms"].get<int>(), 1);
  EXPECT_EQ(report["memory_limit_mb"], 512);
  EXPECT_GT(report["process_peak_rss_mb"].get<int>(), 0);
  EXPECT_EQ(report["status"], "");
}

TEST(InvokerTest, RequestIdsAreUniqueUuids) {
  const std::string a = new_request_id();
  const std::string b = new_request_id();
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::regex_match(a, kUuid)) << a;
}

TEST(InvokerTest, AnExceptionIsCaughtAndReported) {
  LogCapture log;
  core::Logger logger(log.file());
  Invoker invoker(
      [](std::string_view, std::string_view) -> core::Result<function::InvocationResult> {
        throw std::runtime_error("boom");
      },
      logger, {1s, 512});
  Invocation invocation = invoker.invoke("{}");
  EXPECT_EQ(invocation.status, InvokeStatus::kThrew);
  ASSERT_FALSE(invocation.result);
  EXPECT_NE(invocation.result.error().message.find("boom"), std::string::npos);
  EXPECT_EQ(log.lines().size(), 3U);
}

TEST(InvokerTest, ATimeoutReturnsAtTheDeadlineAndTheStragglerIsJoinedLater) {
  LogCapture log;
  core::Logger logger(log.file());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  bool returned = false;
  Invoker invoker(
      [&](std::string_view, std::string_view) -> core::Result<function::InvocationResult> {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return release; });
        returned = true;
        return processed();
      },
      logger, {50ms, 512});

  {
    Invocation invocation = invoker.invoke("{}");
    EXPECT_EQ(invocation.status, InvokeStatus::kTimedOut);
    EXPECT_GE(invocation.duration, 50ms);
    ASSERT_FALSE(invocation.result);
    EXPECT_EQ(invocation.result.error().message, "Task timed out after 0.05 seconds");
    EXPECT_TRUE(invocation.straggler.joinable());
    const auto lines = log.lines();
    ASSERT_FALSE(lines.empty());
    const nlohmann::json report = parsed(lines.back());
    EXPECT_EQ(report["msg"], "REPORT");
    EXPECT_EQ(report["status"], "timeout");
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
  }  // the Invocation waits for the function here
  std::lock_guard lock(mu);
  EXPECT_TRUE(returned);
}

}  // namespace
}  // namespace imgflow::runtime
