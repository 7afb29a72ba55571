#include "runtime/invoker.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <system_error>

namespace imgflow::runtime {
namespace {

using Clock = std::chrono::steady_clock;

// What the function's thread hands back to the waiting invoke().
struct CallState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  InvokeStatus status = InvokeStatus::kReturned;
  core::Result<function::InvocationResult> result =
      core::fail(core::ErrorCode::kInternal, "no result");
};

// The exception boundary: nothing the function throws may escape its thread (that would call
// std::terminate and take every other invocation with it).
void run_function(const Function& function, const std::string& event_json,
                  const std::string& request_id, CallState& state) {
  InvokeStatus status = InvokeStatus::kReturned;
  core::Result<function::InvocationResult> result =
      core::fail(core::ErrorCode::kInternal, "no result");
  try {
    result = function(event_json, request_id);
  } catch (const std::exception& e) {
    status = InvokeStatus::kThrew;
    result =
        core::fail(core::ErrorCode::kInternal, std::string("unhandled exception: ") + e.what());
  } catch (...) {
    status = InvokeStatus::kThrew;
    result = core::fail(core::ErrorCode::kInternal, "unhandled exception of unknown type");
  }
  std::lock_guard lock(state.mu);
  state.status = status;
  state.result = std::move(result);
  state.done = true;
  state.cv.notify_all();
}

// Peak resident set size of the whole process in MiB (Linux reports ru_maxrss in KiB).
long process_peak_rss_mb() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return usage.ru_maxrss / 1024;
}

// printf into a std::string (the log lines are short; longer output is cut at 511 bytes).
__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n < 0) return {};
  return std::string(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

}  // namespace

std::string_view to_string(InvokeStatus status) {
  switch (status) {
    case InvokeStatus::kReturned:
      return "returned";
    case InvokeStatus::kTimedOut:
      return "timeout";
    case InvokeStatus::kThrew:
      return "exception";
  }
  return "unknown";
}

Function handler_function(function::Handler& handler) {
  return [&handler](std::string_view event_json, std::string_view request_id) {
    return handler.handle(event_json, request_id);
  };
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  const std::uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 1
  return format("%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32U),
                static_cast<unsigned long long>((hi >> 16U) & 0xFFFFU),
                static_cast<unsigned long long>(hi & 0xFFFFU),
                static_cast<unsigned long long>(lo >> 48U),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
}

Invoker::Invoker(Function function, core::Logger& logger, InvokerOptions options)
    : function_(std::move(function)), logger_(logger), options_(options) {}

Invocation Invoker::invoke(std::string event_json) const {
  Invocation invocation;
  invocation.request_id = new_request_id();
  logger_.info("START", {{"request_id", invocation.request_id}, {"version", "$LATEST"}});

  auto state = std::make_shared<CallState>();
  const auto start = Clock::now();
  // The thread owns copies of everything it reads, so it may outlive this call (timeout).
  std::jthread thread;
  try {
    thread =
        std::jthread([function = function_, state, json = std::move(event_json),
                      id = invocation.request_id] { run_function(function, json, id, *state); });
  } catch (const std::system_error& e) {
    // Out of threads: a transient condition of this process, not of the event.
    std::lock_guard lock(state->mu);
    state->status = InvokeStatus::kThrew;
    state->result = core::fail(core::ErrorCode::kUnavailable,
                               std::string("cannot start the invocation thread: ") + e.what());
    state->done = true;
  }

  std::unique_lock lock(state->mu);
  const bool finished = state->cv.wait_for(lock, options_.timeout, [&] { return state->done; });
  invocation.duration = Clock::now() - start;
  if (finished) {
    invocation.status = state->status;
    invocation.result = std::move(state->result);
    lock.unlock();
    if (thread.joinable()) thread.join();
  } else {
    lock.unlock();
    invocation.status = InvokeStatus::kTimedOut;
    const double seconds = std::chrono::duration<double>(options_.timeout).count();
    invocation.result = core::fail(core::ErrorCode::kUnavailable,
                                   format("Task timed out after %.2f seconds", seconds));
    invocation.straggler = std::move(thread);
    logger_.error("invocation timed out", {{"request_id", invocation.request_id},
                                           {"timeout_ms", options_.timeout.count()}});
  }
  logger_.info("END", {{"request_id", invocation.request_id}});
  log_report(invocation);
  return invocation;
}

void Invoker::log_report(const Invocation& invocation) const {
  const double ms = std::chrono::duration<double, std::milli>(invocation.duration).count();
  // Lambda bills whole milliseconds, rounded up, at least 1.
  const auto billed = std::max<long long>(1, static_cast<long long>(std::ceil(ms)));
  const bool timed_out = invocation.status == InvokeStatus::kTimedOut;
  logger_.info("REPORT", {{"request_id", invocation.request_id},
                          {"duration_ms", ms},
                          {"billed_duration_ms", billed},
                          {"memory_limit_mb", options_.memory_limit_mb},
                          {"process_peak_rss_mb", process_peak_rss_mb()},
                          {"status", timed_out ? "timeout" : ""}});
}

}  // namespace imgflow::runtime
