#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "core/emf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "function/handler.h"
#include "lambda/runtime_api.h"

// The Lambda custom runtime's loop around the function: the same function::Handler the embedded
// runtime runs, fed by the Runtime API instead of the outbox.
namespace imgflow::lambda {

// What the host runs for each event: function::Handler::handle in production.
using Function = std::function<core::Result<function::InvocationResult>(
    std::string_view event_json, std::string_view request_id)>;

// What the host runs for each request when it answers requests rather than S3 events (the
// upload-URL endpoint, lambda/presign.h): the response body, posted as it is. An error is posted
// as an invocation error, typed as Function's are.
using Responder = std::function<core::Result<std::string>(std::string_view event_json,
                                                          std::string_view request_id)>;

struct HostOptions {
  // An invocation still running this long before Lambda's deadline is reported as an error
  // while there is time to say why; the process then exits and Lambda starts a fresh one.
  std::chrono::milliseconds deadline_margin{1000};
  core::EmfOptions metrics;  // namespace and dimensions of the EMF lines
  // Unix epoch milliseconds; tests pass their own clock.
  std::function<std::int64_t()> now_ms;
  // Called with each invocation's X-Ray trace id ("" between invocations): the S3 client sends
  // it as X-Amzn-Trace-Id, so Lambda's recursive-loop detection can follow the chain.
  std::function<void(const std::string&)> set_trace_id;
};

// What became of one invocation.
enum class Outcome {
  kResponded,       // the result was posted
  kFailed,          // an error was posted (Lambda retries asynchronous invocations)
  kDeadlinePassed,  // posted as an error with work still running: the process must exit
  kLost,            // the Runtime API refused the answer: logged, and the loop goes on
};

// Runs invocations one at a time. Transient failures (storage unavailable) are posted as
// errors of type Imgflow.Transient, permanent ones (a bad image, an event that does not parse)
// as Imgflow.Permanent: Lambda retries both (twice, for S3's asynchronous invocations) and then
// sends the event to the on-failure destination with the message. Successes answer with a
// summary of each record. After each invocation the metrics that changed are written as EMF
// lines to `metrics_out`. Every library exception thrown by the function is caught here (the
// exception boundary of this host) and posted as an error.
class Host {
 public:
  // Everything passed must outlive the Host.
  Host(const RuntimeApi& api, Function function, core::Logger& log,
       const core::MetricsRegistry& registry, std::FILE* metrics_out, HostOptions options);
  // The same loop around a Responder: deadline, exception boundary and EMF alike.
  Host(const RuntimeApi& api, Responder responder, core::Logger& log,
       const core::MetricsRegistry& registry, std::FILE* metrics_out, HostOptions options);

  Outcome handle(const Invocation& invocation);

  // Fetches and handles invocations until next() fails or a deadline passes with work running;
  // returns the process exit code (non-zero: Lambda starts a fresh environment).
  int run();

 private:
  struct Call;   // host.cpp: one function call on its own thread
  struct Reply;  // host.cpp: a response body or an error, as posted
  using Invoke = std::function<Reply(std::string_view event_json, std::string_view request_id)>;
  Host(const RuntimeApi& api, Invoke invoke, core::Logger& log,
       const core::MetricsRegistry& registry, std::FILE* metrics_out, HostOptions options, int);
  Outcome answer(const Invocation& invocation, const Reply& reply);
  void flush_metrics();

  const RuntimeApi& api_;
  Invoke invoke_;
  core::Logger& log_;
  const core::MetricsRegistry& registry_;
  std::FILE* metrics_out_;
  HostOptions options_;
  core::EmfWriter emf_;
};

// The summary a successful invocation answers with: each record's bucket, key, outcome and the
// keys it wrote or removed. Kept well under Lambda's 6 MiB response limit (outputs are dropped
// past 1 MiB, with "truncated": true).
std::string response_body(const function::InvocationResult& result);

}  // namespace imgflow::lambda
