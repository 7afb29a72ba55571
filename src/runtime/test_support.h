#pragma once

// Helpers for runtime tests.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "events/event_parser.h"
#include "function/handler.h"
#include "support/concurrency.h"

namespace imgflow::runtime::testing {

// Shared with every module's tests (tests/support).
using imgflow::test_support::Gate;
using imgflow::test_support::raise_to;
using imgflow::test_support::wait_until;

// A log file the test can read back.
class LogCapture {
 public:
  LogCapture() : file_(std::tmpfile()) {}
  ~LogCapture() { std::fclose(file_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::FILE* file() const { return file_; }

  std::vector<std::string> lines() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) text.append(buf, n);
    std::fseek(file_, 0, SEEK_END);
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  std::FILE* file_;
};

inline function::InvocationResult processed() {
  function::InvocationResult r;
  function::RecordOutcome outcome;
  outcome.kind = function::OutcomeKind::kProcessed;
  r.records.push_back(outcome);
  r.processed = 1;
  return r;
}

inline function::InvocationResult failed(function::Failure failure, std::string reason) {
  function::InvocationResult r;
  function::RecordOutcome outcome;
  outcome.kind = function::OutcomeKind::kFailed;
  outcome.failure = failure;
  outcome.reason = std::move(reason);
  r.records.push_back(outcome);
  (failure == function::Failure::kTransient ? r.failed_transient : r.failed_permanent) = 1;
  return r;
}

// The key of the first record of an event, "" if it does not parse.
inline std::string key_of(std::string_view event_json) {
  auto records = events::parse_event(event_json);
  return records && !records->empty() ? records->front().key : std::string();
}

// Counts calls per key, thread-safely.
class CallCounter {
 public:
  int next(const std::string& key) {
    std::lock_guard lock(mu_);
    return ++calls_[key];
  }
  int calls(const std::string& key) {
    std::lock_guard lock(mu_);
    return calls_[key];
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> calls_;
};

}  // namespace imgflow::runtime::testing
