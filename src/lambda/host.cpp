#include "lambda/host.h"

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

namespace imgflow::lambda {
namespace {

using nlohmann::ordered_json;
constexpr std::size_t kMaxResponse = 1 << 20;

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The reasons of the records that failed in one way, one per line (as the DLQ will show).
std::string reasons(const function::InvocationResult& result, function::Failure kind) {
  std::string out;
  for (const function::RecordOutcome& r : result.records) {
    if (r.kind != function::OutcomeKind::kFailed || r.failure != kind) continue;
    if (!out.empty()) out += "\n";
    out += r.bucket + "/" + r.key + ": " + r.reason;
  }
  return out;
}

// How an error is posted: storage unavailable, or the function failing itself, may pass on a
// retry; anything else (the event unusable) fails the same way, but Lambda decides that, and the
// on-failure destination keeps the message.
FunctionError failure_of(const core::Error& error) {
  const bool transient =
      error.code == core::ErrorCode::kInternal || error.code == core::ErrorCode::kUnavailable;
  return FunctionError{transient ? "Imgflow.Transient" : "Imgflow.Permanent", error.to_string()};
}

// An invocation whose records failed is an error too, so that Lambda retries it.
std::optional<FunctionError> failure_of(const function::InvocationResult& result) {
  if (result.should_retry()) {
    return FunctionError{"Imgflow.Transient", reasons(result, function::Failure::kTransient)};
  }
  if (result.failed_permanent > 0) {
    return FunctionError{"Imgflow.Permanent", reasons(result, function::Failure::kPermanent)};
  }
  return std::nullopt;
}

}  // namespace

std::string response_body(const function::InvocationResult& result) {
  ordered_json records = ordered_json::array();
  std::size_t size = 0;
  bool truncated = false;
  for (const function::RecordOutcome& r : result.records) {
    ordered_json record{{"bucket", r.bucket},
                        {"key", r.key},
                        {"outcome", std::string(function::to_string(r.kind))}};
    if (!r.reason.empty()) record["reason"] = r.reason;
    ordered_json outputs = ordered_json::array();
    for (const std::string& key : r.outputs) {
      size += key.size() + 4;
      if (size > kMaxResponse) {
        truncated = true;
        break;
      }
      outputs.push_back(key);
    }
    record["outputs"] = std::move(outputs);
    records.push_back(std::move(record));
  }
  ordered_json body{{"processed", result.processed},
                    {"already_done", result.already_done},
                    {"skipped", result.skipped_loop_guard + result.skipped_stale + result.ignored},
                    {"removed", result.removed},
                    {"records", std::move(records)}};
  if (truncated) body["truncated"] = true;
  return body.dump();
}

// What is posted for one invocation: the error when there is one, else the body.
struct Host::Reply {
  std::optional<FunctionError> error;
  std::string body;
};

// One function call on its own thread, so the host can stop waiting at the deadline. The state
// is shared: a call still running when the host gives up keeps it alive.
struct Host::Call {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Reply reply;

  static std::shared_ptr<Call> start(const Invoke& invoke, const Invocation& invocation) {
    auto call = std::make_shared<Call>();
    std::thread([call, invoke, event = invocation.event, id = invocation.request_id] {
      Reply outcome;
      try {
        outcome = invoke(event, id);
      } catch (const std::exception& e) {
        outcome.error = failure_of(core::Error{core::ErrorCode::kInternal,
                                               std::string("unhandled exception: ") + e.what()});
      } catch (...) {
        outcome.error = failure_of(
            core::Error{core::ErrorCode::kInternal, "unhandled exception of unknown type"});
      }
      const std::lock_guard lock(call->mu);
      call->reply = std::move(outcome);
      call->done = true;
      call->cv.notify_all();
    }).detach();  // a call past the deadline is abandoned with the process, never joined
    return call;
  }
};

Host::Host(const RuntimeApi& api, Function function, core::Logger& log,
           const core::MetricsRegistry& registry, std::FILE* metrics_out, HostOptions options)
    : Host(
          api,
          [fn = std::move(function)](std::string_view event, std::string_view id) {
            const core::Result<function::InvocationResult> result = fn(event, id);
            if (!result) return Reply{failure_of(result.error()), ""};
            if (auto error = failure_of(*result)) return Reply{std::move(error), ""};
            return Reply{std::nullopt, response_body(*result)};
          },
          log, registry, metrics_out, std::move(options), 0) {}

Host::Host(const RuntimeApi& api, Responder responder, core::Logger& log,
           const core::MetricsRegistry& registry, std::FILE* metrics_out, HostOptions options)
    : Host(
          api,
          [fn = std::move(responder)](std::string_view event, std::string_view id) {
            core::Result<std::string> body = fn(event, id);
            if (!body) return Reply{failure_of(body.error()), ""};
            return Reply{std::nullopt, std::move(*body)};
          },
          log, registry, metrics_out, std::move(options), 0) {}

Host::Host(const RuntimeApi& api, Invoke invoke, core::Logger& log,
           const core::MetricsRegistry& registry, std::FILE* metrics_out, HostOptions options, int)
    : api_(api),
      invoke_(std::move(invoke)),
      log_(log),
      registry_(registry),
      metrics_out_(metrics_out),
      options_(std::move(options)),
      emf_(options_.metrics) {
  if (!options_.now_ms) options_.now_ms = system_now_ms;
}

Outcome Host::handle(const Invocation& invocation) {
  if (options_.set_trace_id) options_.set_trace_id(invocation.trace_id);
  const std::int64_t budget_ms =
      invocation.deadline_ms - options_.now_ms() - options_.deadline_margin.count();
  Outcome outcome = Outcome::kFailed;
  if (budget_ms <= 0) {
    outcome = answer(invocation,
                     Reply{failure_of(core::Error{
                               core::ErrorCode::kTimeout,
                               "the invocation arrived with no time left before its "
                               "deadline (margin " +
                                   std::to_string(options_.deadline_margin.count()) + " ms)"}),
                           ""});
  } else {
    const std::shared_ptr<Call> call = Call::start(invoke_, invocation);
    std::unique_lock lock(call->mu);
    if (call->cv.wait_for(lock, std::chrono::milliseconds(budget_ms), [&] { return call->done; })) {
      const Reply reply = std::move(call->reply);
      lock.unlock();
      outcome = answer(invocation, reply);
    } else {
      lock.unlock();
      const FunctionError error{
          "Imgflow.DeadlineExceeded",
          "stopped " + std::to_string(options_.deadline_margin.count()) +
              " ms before Lambda's deadline with the work unfinished; raise the function's "
              "timeout or lower the recipe's limits"};
      log_.error("deadline", {{"request_id", invocation.request_id}, {"reason", error.message}});
      if (auto posted = api_.fail(invocation.request_id, error); !posted) {
        log_.error("answer refused",
                   {{"request_id", invocation.request_id}, {"reason", posted.error().to_string()}});
      }
      outcome = Outcome::kDeadlinePassed;
    }
  }
  flush_metrics();
  if (options_.set_trace_id) options_.set_trace_id("");
  return outcome;
}

Outcome Host::answer(const Invocation& invocation, const Reply& reply) {
  std::optional<FunctionError> error = reply.error;
  core::Status posted = error ? api_.fail(invocation.request_id, *error)
                              : api_.respond(invocation.request_id, reply.body);
  if (!posted && posted.error().code == core::ErrorCode::kTooLarge && !error) {
    error = FunctionError{"Imgflow.ResponseTooLarge", posted.error().message};
    posted = api_.fail(invocation.request_id, *error);
  }
  if (!posted) {
    log_.error("answer refused",
               {{"request_id", invocation.request_id}, {"reason", posted.error().to_string()}});
    return Outcome::kLost;
  }
  if (error) {
    log_.warn("invocation failed", {{"request_id", invocation.request_id},
                                    {"error_type", error->type},
                                    {"reason", error->message}});
    return Outcome::kFailed;
  }
  return Outcome::kResponded;
}

void Host::flush_metrics() {
  if (metrics_out_ == nullptr) return;
  for (const std::string& line : emf_.lines_since_last(registry_, options_.now_ms())) {
    std::fwrite(line.data(), 1, line.size(), metrics_out_);
    std::fputc('\n', metrics_out_);
  }
  std::fflush(metrics_out_);
}

int Host::run() {
  while (true) {
    auto invocation = api_.next();
    if (!invocation) {
      log_.error("next invocation", {{"reason", invocation.error().to_string()}});
      return 1;
    }
    if (handle(*invocation) == Outcome::kDeadlinePassed) return 1;
  }
}

}  // namespace imgflow::lambda
