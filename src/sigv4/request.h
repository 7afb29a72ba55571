#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgflow::sigv4 {

struct Header {
  std::string name;   // as sent; compared case-insensitively
  std::string value;  // as sent, surrounding whitespace included
};

// An HTTP request as it travels on the wire: the edge (the gateway's HTTP session, the S3 client)
// fills it in without interpreting anything, and this module does all the SigV4 parsing.
struct Request {
  std::string method;           // "GET", "PUT", ...
  std::string path = "/";       // raw request path as sent, percent-encoded, without the query
  std::string query;            // raw query string as sent, without the '?'; empty when none
  std::vector<Header> headers;  // in order, repeats allowed
};

// Every value of the header `lower_name` (lower-case), in request order.
std::vector<std::string_view> header_values(const Request& request, std::string_view lower_name);

// The first value of the header, or nullopt when absent.
std::optional<std::string_view> header_value(const Request& request, std::string_view lower_name);

// One query parameter, percent-decoded ('+' as space).
struct QueryParam {
  std::string key;
  std::string value;
};

// Splits a raw query string on '&' and the first '='; empty pieces are skipped and a piece
// without '=' is a key with an empty value.
std::vector<QueryParam> parse_query(std::string_view raw_query);

}  // namespace imgflow::sigv4
