#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "core/log.h"
#include "core/result.h"
#include "function/handler.h"

// Local Lambda semantics around the function: one invocation with Lambda's START / END / REPORT
// log lines and a per-invocation timeout. The Dispatcher (dispatcher.h) runs many of these.
namespace imgflow::runtime {

// What the runtime invokes: the Handler in production, a fake in tests. Must be safe to call
// from several threads at once (Handler::handle is).
using Function = std::function<core::Result<function::InvocationResult>(
    std::string_view event_json, std::string_view request_id)>;

// Adapts a Handler, which must outlive every invocation (and every timed-out one still running).
Function handler_function(function::Handler& handler);

struct InvokerOptions {
  // Lambda's per-invocation limit. A big image takes seconds; a hung decode must not hold a
  // worker's event forever.
  std::chrono::milliseconds timeout{60'000};
  // REPORT's memory_limit_mb: the recipe's limits.max_memory, which the image engine enforces
  // per image from the header before decoding. Invocations share the process, so unlike
  // Lambda's Memory Size it is not a limit on the process.
  int memory_limit_mb = 512;
};

enum class InvokeStatus {
  kReturned,  // the function returned a value or an error: see Invocation::result
  kTimedOut,  // it did not return within the timeout and may still be running
  kThrew,     // it threw: caught here, the runtime's exception boundary
};

std::string_view to_string(InvokeStatus status);

struct Invocation {
  std::string request_id;  // a UUID, as on START/END/REPORT and passed to the function
  InvokeStatus status = InvokeStatus::kReturned;
  // Set when kReturned; otherwise an error saying what happened.
  core::Result<function::InvocationResult> result;
  std::chrono::nanoseconds duration{0};  // until it returned, or until the timeout
  // After a timeout: the thread of the function that is still running. A thread cannot be
  // killed safely (it may hold locks, half-written files, libvips state), so it runs to its
  // end; destroying the Invocation waits for it. Whoever holds the Invocation (a Dispatcher
  // worker) therefore takes no new work until the function has returned: a hung function costs
  // one worker, never an unbounded number of threads.
  std::jthread straggler;
};

// Runs one invocation at a time per call; invoke() may be called from many threads at once.
// Logs Lambda's three lines around each, in the logger's format (JSON by default):
//   {"msg":"START","request_id":"<uuid>","version":"$LATEST"}
//   {"msg":"END","request_id":"<uuid>"}
//   {"msg":"REPORT","request_id":"<uuid>","duration_ms":12.345,"billed_duration_ms":13,
//    "memory_limit_mb":512,"process_peak_rss_mb":87}
// On a timeout REPORT adds "status":"timeout" and an error line is logged first.
// process_peak_rss_mb is the whole process's peak RSS (getrusage): invocations share it.
class Invoker {
 public:
  // `logger` must outlive the Invoker and any straggler.
  Invoker(Function function, core::Logger& logger, InvokerOptions options = {});

  // Runs the function on a new thread with `event_json` and waits up to the timeout. Blocks
  // for at most the timeout (plus thread start); never throws for what the function does.
  Invocation invoke(std::string event_json) const;

  const InvokerOptions& options() const { return options_; }

 private:
  void log_report(const Invocation& invocation) const;

  Function function_;
  core::Logger& logger_;
  InvokerOptions options_;
};

// A random (version 4) UUID, lower-case, as Lambda request ids look. Thread-safe.
std::string new_request_id();

}  // namespace imgflow::runtime
