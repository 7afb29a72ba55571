#include "lambda/host.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/fake_http_client.h"
#include "support/concurrency.h"

namespace imgflow::lambda {
namespace {

using function::Failure;
using function::InvocationResult;
using function::OutcomeKind;
using function::RecordOutcome;
using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000'000;

Invocation invocation(std::int64_t deadline_ms = kNow + 60'000) {
  return {"req-1", deadline_ms, "arn:aws:lambda:eu-west-1:1:function:f", "Root=1-abc", "{}"};
}

InvocationResult with(OutcomeKind kind, Failure failure = Failure::kNone, std::string reason = "") {
  InvocationResult r;
  r.records.push_back(RecordOutcome{kind, failure, "in", "a b.jpg", std::move(reason),
                                    kind == OutcomeKind::kProcessed
                                        ? std::vector<std::string>{"a b.jpg/large.jpg"}
                                        : std::vector<std::string>{}});
  if (kind == OutcomeKind::kProcessed) r.processed = 1;
  if (failure == Failure::kPermanent) r.failed_permanent = 1;
  if (failure == Failure::kTransient) r.failed_transient = 1;
  return r;
}

class HostTest : public ::testing::Test {
 protected:
  Host make(Function function) {
    HostOptions options;
    options.deadline_margin = std::chrono::milliseconds(100);
    options.metrics.dimensions = {{"FunctionName", "f"}};
    options.now_ms = [] { return kNow; };
    options.set_trace_id = [this](const std::string& id) { traces_.push_back(id); };
    return Host(api_, std::move(function), log_, registry_, metrics_, options);
  }
  json posted(std::size_t i = 0) { return json::parse(client_.requests().at(i).body); }
  std::string posted_url(std::size_t i = 0) { return client_.requests().at(i).request.url; }

  http::FakeHttpClient client_;
  RuntimeApi api_{"h:1", client_};
  std::FILE* log_file_ = std::tmpfile();
  core::Logger log_{log_file_, core::LogLevel::kInfo, core::LogFormat::kLambda};
  core::MetricsRegistry registry_;
  std::FILE* metrics_ = std::tmpfile();
  std::vector<std::string> traces_;
};

TEST_F(HostTest, ASuccessAnswersWithEachRecordAndWritesItsMetrics) {
  client_.push(202);
  core::Counter& records = registry_.counter("imgflow_records_total", "", {{"outcome", "x"}});
  Host host = make([&](std::string_view, std::string_view id) -> core::Result<InvocationResult> {
    EXPECT_EQ(id, "req-1");
    records.add();
    return with(OutcomeKind::kProcessed);
  });
  EXPECT_EQ(host.handle(invocation()), Outcome::kResponded);
  EXPECT_EQ(posted_url(), "http://h:1/2018-06-01/runtime/invocation/req-1/response");
  const json body = posted();
  EXPECT_EQ(body["processed"], 1);
  EXPECT_EQ(body["records"][0]["key"], "a b.jpg");
  EXPECT_EQ(body["records"][0]["outputs"][0], "a b.jpg/large.jpg");
  EXPECT_EQ(traces_, (std::vector<std::string>{"Root=1-abc", ""}));
  std::rewind(metrics_);
  char line[4096] = {};
  ASSERT_NE(std::fgets(line, sizeof line, metrics_), nullptr);
  const json emf = json::parse(line);
  EXPECT_EQ(emf["imgflow_records_total"], 1);
  EXPECT_EQ(emf["FunctionName"], "f");
}

TEST_F(HostTest, TransientAndPermanentFailuresArePostedAsTypedErrors) {
  client_.push(202);
  client_.push(202);
  Host transient = make([](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    return with(OutcomeKind::kFailed, Failure::kTransient, "get source: unavailable");
  });
  EXPECT_EQ(transient.handle(invocation()), Outcome::kFailed);
  EXPECT_EQ(posted(0)["errorType"], "Imgflow.Transient");
  EXPECT_EQ(posted(0)["errorMessage"], "in/a b.jpg: get source: unavailable");
  Host permanent = make([](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    return with(OutcomeKind::kFailed, Failure::kPermanent, "process: corrupt: truncated");
  });
  EXPECT_EQ(permanent.handle(invocation()), Outcome::kFailed);
  EXPECT_EQ(posted(1)["errorType"], "Imgflow.Permanent");
  EXPECT_EQ(posted_url(1), "http://h:1/2018-06-01/runtime/invocation/req-1/error");
}

TEST_F(HostTest, AnExceptionIsCaughtAndPosted) {
  client_.push(202);
  Host host = make([](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(host.handle(invocation()), Outcome::kFailed);
  EXPECT_NE(posted()["errorMessage"].get<std::string>().find("boom"), std::string::npos);
}

TEST_F(HostTest, WorkStillRunningNearTheDeadlineIsReportedBeforeItPasses) {
  client_.push(202);
  auto gate = std::make_shared<test_support::Gate>();
  Host host = make([gate](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    gate->enter();  // still working when the deadline comes
    return with(OutcomeKind::kProcessed);
  });
  // 150 ms to the deadline, 100 ms of margin: 50 ms of work allowed.
  EXPECT_EQ(host.handle(invocation(kNow + 150)), Outcome::kDeadlinePassed);
  EXPECT_EQ(posted()["errorType"], "Imgflow.DeadlineExceeded");
  gate->release();
}

TEST_F(HostTest, AnInvocationWithNoTimeLeftIsRefusedAtOnce) {
  client_.push(202);
  bool called = false;
  Host host = make([&](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    called = true;
    return with(OutcomeKind::kProcessed);
  });
  EXPECT_EQ(host.handle(invocation(kNow + 50)), Outcome::kFailed);
  EXPECT_FALSE(called);
  EXPECT_NE(posted()["errorMessage"].get<std::string>().find("no time left"), std::string::npos);
}

TEST_F(HostTest, AResponseOverTheLimitBecomesAnError) {
  client_.push(413, "too big");
  client_.push(202);
  Host host = make([](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    return with(OutcomeKind::kProcessed);
  });
  EXPECT_EQ(host.handle(invocation()), Outcome::kFailed);
  EXPECT_EQ(posted(1)["errorType"], "Imgflow.ResponseTooLarge");
}

TEST_F(HostTest, RunStopsWhenTheRuntimeApiIsGone) {
  client_.push_error({core::ErrorCode::kUnavailable, "connection refused"});
  Host host = make([](std::string_view, std::string_view) -> core::Result<InvocationResult> {
    return with(OutcomeKind::kProcessed);
  });
  EXPECT_EQ(host.run(), 1);
}

TEST_F(HostTest, AResponderIsPostedAsItAnswersAndItsErrorsAreTyped) {
  client_.push(202);
  client_.push(202);
  client_.push(202);
  HostOptions options;
  options.now_ms = [] { return kNow; };
  Host host(api_,
            Responder([](std::string_view event, std::string_view) -> core::Result<std::string> {
              if (event == "throw") throw std::runtime_error("boom");
              if (event != "{}")
                return core::fail(core::ErrorCode::kInvalidArgument, "not a request");
              return std::string(R"({"statusCode":400,"body":"{}"})");
            }),
            log_, registry_, metrics_, options);
  EXPECT_EQ(host.handle(invocation()), Outcome::kResponded);
  EXPECT_EQ(posted(0)["statusCode"], 400);  // a client's mistake is an answer, not an error
  Invocation other = invocation();
  other.event = "[]";
  EXPECT_EQ(host.handle(other), Outcome::kFailed);
  EXPECT_EQ(posted(1)["errorType"], "Imgflow.Permanent");
  other.event = "throw";
  EXPECT_EQ(host.handle(other), Outcome::kFailed);
  EXPECT_EQ(posted(2)["errorType"], "Imgflow.Transient");
  EXPECT_NE(posted(2)["errorMessage"].get<std::string>().find("boom"), std::string::npos);
}

}  // namespace
}  // namespace imgflow::lambda
