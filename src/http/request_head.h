#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgflow::http {

// One header line, on a request or a response.
struct Header {
  std::string name;   // as sent; compared case-insensitively
  std::string value;  // as sent, surrounding whitespace included
};

// The head of an HTTP request (request line and headers, no body) as it travels on the wire.
// The server's session fills it in without interpreting anything; sigv4 signs and verifies it;
// the S3 client signs one and sends it through HttpClient.
struct RequestHead {
  std::string method;           // "GET", "PUT", ...
  std::string path = "/";       // raw request path as sent, percent-encoded, without the query
  std::string query;            // raw query string as sent, without the '?'; empty when none
  std::vector<Header> headers;  // in order, repeats allowed
};

// Every value of the header `lower_name` (lower-case), in request order.
std::vector<std::string_view> header_values(const RequestHead& request,
                                            std::string_view lower_name);

// The first value of the header, or nullopt when absent.
std::optional<std::string_view> header_value(const RequestHead& request,
                                             std::string_view lower_name);

// One query parameter, percent-decoded ('+' as space).
struct QueryParam {
  std::string key;
  std::string value;
};

// Splits a raw query string on '&' and the first '='; empty pieces are skipped and a piece
// without '=' is a key with an empty value.
std::vector<QueryParam> parse_query(std::string_view raw_query);

}  // namespace imgflow::http
