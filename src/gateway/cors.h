#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gateway/handler.h"
#include "http/request_head.h"

namespace imgflow::gateway {

// CORS for browser uploads. `origins` are exact origins ("https://app.example.com") or "*";
// an empty list disables CORS (browsers then refuse cross-origin calls, the safe default).

// Answers an OPTIONS preflight: 200 with the Access-Control-Allow-* headers for an allowed origin
// and method (GET, HEAD, PUT, POST), 400 BadRequest without an Origin header (as S3 answers),
// else 403 AccessForbidden. Pure.
Response cors_preflight(const http::RequestHead& request, const std::vector<std::string>& origins);

// Adds Access-Control-Allow-Origin and Expose-Headers (ETag, x-amz-request-id) to `response`
// when the request carries an allowed Origin. Pure.
void add_cors_headers(const http::RequestHead& request, const std::vector<std::string>& origins,
                      Response& response);

}  // namespace imgflow::gateway
