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

namespace imgflow::runtime::testing {

// Polls `done` until it holds or `timeout` passes; returns its last value. For conditions
// another thread makes true (the dispatcher has no completion callback to wait on).
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Holds the functions that enter it until the test releases them: for tests about what
// happens while an invocation is running. Thread-safe.
class Gate {
 public:
  // Called inside the function: records the entry, then blocks until release().
  void enter() {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
  }
  // Waits until `n` calls have entered; false after `timeout`.
  bool wait_entered(int n = 1, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return entered_ >= n; });
  }
  void release() {
    {
      const std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool released_ = false;
};

// Raises `peak` to `value` if it is higher: a max that concurrent callers cannot lose (a load,
// std::max and a store can overwrite a higher value another thread stored meanwhile).
inline void raise_to(std::atomic<int>& peak, int value) {
  int seen = peak.load();
  while (value > seen && !peak.compare_exchange_weak(seen, value)) {
  }
}

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
