#pragma once

// Test helpers for code that runs on other threads, shared by every module's tests: wait on
// what another thread makes true, hold a call until the test lets it go, keep a maximum that
// concurrent callers cannot lose. Test-only: tests link nothing from here (header-only).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace imgflow::test_support {

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

}  // namespace imgflow::test_support
