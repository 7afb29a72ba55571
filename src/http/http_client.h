#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "http/request_head.h"

namespace imgflow::http {

// One HTTP/1.1 request. The URL is sent as given: path and query must already be
// percent-encoded (no normalisation of "..", so S3 keys survive).
struct Request {
  std::string method = "GET";
  std::string url;              // "http://host:port/path?query"
  std::vector<Header> headers;  // sent in order; Host, when present, replaces the URL's
  // Content-Length of the body. nullopt with a body: chunked transfer encoding.
  std::optional<std::uint64_t> body_length;
  std::chrono::milliseconds connect_timeout{10'000};  // TCP + TLS handshake
  // The whole exchange, body included; 0 = none (a long poll such as Lambda's /next).
  std::chrono::milliseconds timeout{300'000};
};

struct Response {
  int status = 0;
  std::vector<Header> headers;  // of the final response, in order

  // The first value of a header (name compared case-insensitively), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

// A pull source of request body bytes. read() fills up to `n` bytes and returns how many; 0 is
// end of stream. An error aborts the request and is returned by send().
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual core::Result<std::size_t> read(char* buf, std::size_t n) = 0;
  // Starts over from the first byte, for a retry. False when the source cannot.
  virtual bool rewind() { return false; }
};

// A push target for response body bytes. An error aborts the transfer and is returned by send().
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual core::Status write(std::string_view chunk) = 0;
};

// A source over bytes the caller keeps alive; rewindable.
class StringBodySource final : public BodySource {
 public:
  explicit StringBodySource(std::string_view data) : data_(data) {}
  core::Result<std::size_t> read(char* buf, std::size_t n) override;
  bool rewind() override {
    pos_ = 0;
    return true;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

// Appends the body to a string the caller owns.
class StringBodySink final : public BodySink {
 public:
  explicit StringBodySink(std::string& out) : out_(out) {}
  core::Status write(std::string_view chunk) override {
    out_.append(chunk);
    return {};
  }

 private:
  std::string& out_;
};

// Sends one request and streams the bodies both ways. `body` may be null (no request body);
// `response_body` may be null (the body is discarded). Any HTTP status is a success: the caller
// reads Response::status. Errors: kUnavailable when the server cannot be reached or the
// connection breaks, kTimeout when a deadline passes, kInvalidArgument for a malformed URL, or
// whatever `body` / `response_body` returned. Implementations are safe to call from any thread.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual core::Result<Response> send(const Request& request, BodySource* body,
                                      BodySink* response_body) = 0;
};

}  // namespace imgflow::http
