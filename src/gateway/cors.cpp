#include "gateway/cors.h"

#include <algorithm>

#include "gateway/s3_error.h"
#include "http/request_head.h"

namespace imgflow::gateway {
namespace {

std::optional<std::string> allowed_origin(const http::RequestHead& request,
                                          const std::vector<std::string>& origins) {
  const auto origin = http::header_value(request, "origin");
  if (!origin || origin->empty()) return std::nullopt;
  for (const auto& allowed : origins) {
    if (allowed == "*" || allowed == *origin) return std::string(*origin);
  }
  return std::nullopt;
}

bool allowed_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "POST";
}

Response error_response(const http::RequestHead& request, const S3Error& e) {
  Response r;
  r.operation = "CorsPreflight";
  r.status = e.status;
  r.error_code = e.code;
  r.set("Content-Type", "application/xml");
  r.body = error_xml(e, request.path, "");
  return r;
}

}  // namespace

Response cors_preflight(const http::RequestHead& request, const std::vector<std::string>& origins) {
  // Without an Origin there is nothing to evaluate: S3 answers 400 before looking at any rule.
  if (const auto origin = http::header_value(request, "origin"); !origin || origin->empty()) {
    return error_response(request, s3_error("BadRequest",
                                            "Insufficient information. Origin request header "
                                            "needed."));
  }
  const auto origin = allowed_origin(request, origins);
  const auto method = http::header_value(request, "access-control-request-method");
  if (!origin || !method || !allowed_method(*method)) {
    return error_response(request, S3Error{403, "AccessForbidden",
                                           "CORSResponse: This CORS request is not allowed."});
  }
  Response r;
  r.operation = "CorsPreflight";
  r.set("Access-Control-Allow-Origin", *origin);
  r.set("Access-Control-Allow-Methods", "GET, HEAD, PUT, POST");
  if (auto headers = http::header_value(request, "access-control-request-headers")) {
    r.set("Access-Control-Allow-Headers", std::string(*headers));
  }
  r.set("Access-Control-Max-Age", "3000");
  r.set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method");
  return r;
}

void add_cors_headers(const http::RequestHead& request, const std::vector<std::string>& origins,
                      Response& response) {
  const auto origin = allowed_origin(request, origins);
  if (!origin) return;
  response.set("Access-Control-Allow-Origin", *origin);
  response.set("Access-Control-Expose-Headers", "ETag, x-amz-request-id, x-amz-version-id");
  response.set("Vary", "Origin");
}

}  // namespace imgflow::gateway
