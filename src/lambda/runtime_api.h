#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "http/http_client.h"

// The AWS Lambda Runtime API, version 2018-06-01: what a custom runtime asks Lambda for (the
// next event) and tells it (a response, an error, a failed start).
namespace imgflow::lambda {

// One event from /runtime/invocation/next.
struct Invocation {
  std::string request_id;        // Lambda-Runtime-Aws-Request-Id
  std::int64_t deadline_ms = 0;  // Lambda-Runtime-Deadline-Ms: Unix epoch milliseconds
  std::string function_arn;      // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;          // Lambda-Runtime-Trace-Id; "" when absent
  std::string event;             // the event, as the invoker sent it
};

// An error as the Runtime API takes it ({"errorMessage", "errorType", "stackTrace": []}, with
// the type also in the Lambda-Runtime-Function-Error-Type header).
struct FunctionError {
  std::string type;  // e.g. "Imgflow.Transient"
  std::string message;
};

// The JSON body of an error report.
std::string error_body(const FunctionError& error);

// The Runtime API client. Calls are made from one thread at a time, as a runtime's loop makes
// them. `client` must outlive it.
class RuntimeApi {
 public:
  // `address` is AWS_LAMBDA_RUNTIME_API ("host:port").
  RuntimeApi(std::string address, http::HttpClient& client);

  // Waits, without a client timeout, for the next event. kCorrupt when the answer lacks the
  // request id or deadline; kUnavailable when the API cannot be reached.
  core::Result<Invocation> next() const;

  // Answers an invocation. Errors (as Lambda answers): kFailedPrecondition for a second answer
  // to one id (403) or an id that is no longer current (400), kTooLarge for a response over
  // 6 MiB (413), kUnavailable when the API cannot be reached.
  core::Status respond(std::string_view request_id, std::string_view json) const;
  core::Status fail(std::string_view request_id, const FunctionError& error) const;

  // Reports that the runtime could not start; Lambda then ends the environment.
  core::Status init_error(const FunctionError& error) const;

 private:
  core::Status post(const std::string& path, std::string_view body,
                    std::string_view error_type) const;

  std::string base_;  // "http://host:port/2018-06-01"
  http::HttpClient& client_;
};

}  // namespace imgflow::lambda
