#include "lambda/runtime_api.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace imgflow::lambda {
namespace {

using core::ErrorCode;

std::string required_header(const http::Response& response, std::string_view name,
                            std::string& missing) {
  auto value = response.header(name);
  if (!value || value->empty()) {
    missing += missing.empty() ? std::string(name) : ", " + std::string(name);
    return "";
  }
  return std::string(*value);
}

// What a refused answer means, in the words of the Runtime API's contract.
core::Error refusal(int status, std::string_view path, const std::string& body) {
  switch (status) {
    case 400:
      return {ErrorCode::kFailedPrecondition,
              std::string(path) + ": the invocation is no longer current (400): " + body};
    case 403:
      return {ErrorCode::kFailedPrecondition,
              std::string(path) + ": the invocation was already answered (403): " + body};
    case 413:
      return {ErrorCode::kTooLarge,
              std::string(path) + ": the payload is over Lambda's 6 MiB limit (413)"};
    case 500:
      return {ErrorCode::kUnavailable,
              std::string(path) + ": the Runtime API failed (500); the runtime must exit"};
    default:
      return {ErrorCode::kInternal,
              std::string(path) + ": unexpected HTTP " + std::to_string(status) + ": " + body};
  }
}

}  // namespace

std::string error_body(const FunctionError& error) {
  return nlohmann::ordered_json{{"errorMessage", error.message},
                                {"errorType", error.type},
                                {"stackTrace", nlohmann::ordered_json::array()}}
      .dump();
}

RuntimeApi::RuntimeApi(std::string address, http::HttpClient& client)
    : base_("http://" + std::move(address) + "/2018-06-01"), client_(client) {}

core::Result<Invocation> RuntimeApi::next() const {
  http::Request request;
  request.url = base_ + "/runtime/invocation/next";
  request.timeout = std::chrono::milliseconds(0);  // a long poll: Lambda answers when it has work
  std::string body;
  http::StringBodySink sink(body);
  auto response = client_.send(request, nullptr, &sink);
  if (!response) return core::fail(response.error());
  if (response->status != 200) return core::fail(refusal(response->status, "next", body));
  Invocation invocation;
  std::string missing;
  invocation.request_id = required_header(*response, "Lambda-Runtime-Aws-Request-Id", missing);
  const std::string deadline = required_header(*response, "Lambda-Runtime-Deadline-Ms", missing);
  if (!missing.empty()) {
    return core::fail(ErrorCode::kCorrupt, "next: the answer lacks " + missing);
  }
  const auto [end, ec] =
      std::from_chars(deadline.data(), deadline.data() + deadline.size(), invocation.deadline_ms);
  if (ec != std::errc() || end != deadline.data() + deadline.size()) {
    return core::fail(ErrorCode::kCorrupt,
                      "next: Lambda-Runtime-Deadline-Ms is not a number: " + deadline);
  }
  invocation.function_arn =
      std::string(response->header("Lambda-Runtime-Invoked-Function-Arn").value_or(""));
  invocation.trace_id = std::string(response->header("Lambda-Runtime-Trace-Id").value_or(""));
  invocation.event = std::move(body);
  return invocation;
}

core::Status RuntimeApi::respond(std::string_view request_id, std::string_view json) const {
  return post("/runtime/invocation/" + std::string(request_id) + "/response", json, "");
}

core::Status RuntimeApi::fail(std::string_view request_id, const FunctionError& error) const {
  return post("/runtime/invocation/" + std::string(request_id) + "/error", error_body(error),
              error.type);
}

core::Status RuntimeApi::init_error(const FunctionError& error) const {
  return post("/runtime/init/error", error_body(error), error.type);
}

core::Status RuntimeApi::post(const std::string& path, std::string_view body,
                              std::string_view error_type) const {
  http::Request request;
  request.method = "POST";
  request.url = base_ + path;
  request.headers.push_back({"Content-Type", "application/json"});
  if (!error_type.empty()) {
    request.headers.push_back({"Lambda-Runtime-Function-Error-Type", std::string(error_type)});
  }
  request.body_length = body.size();
  request.timeout = std::chrono::seconds(30);
  http::StringBodySource source(body);
  std::string answer;
  http::StringBodySink sink(answer);
  auto response = client_.send(request, &source, &sink);
  if (!response) return core::fail(response.error());
  if (response->status != 202) return core::fail(refusal(response->status, path, answer));
  return {};
}

}  // namespace imgflow::lambda
