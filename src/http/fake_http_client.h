#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/http_client.h"

namespace imgflow::http {

// An HttpClient for unit tests: answers with scripted responses in order and records every
// request with its body read whole. With no script left it answers 599 and records the request.
// Safe to call from any thread.
class FakeHttpClient final : public HttpClient {
 public:
  struct Reply {
    int status = 200;
    std::vector<Header> headers;
    std::string body;
    std::optional<core::Error> error;  // set: send() fails with it instead (a transport error)
  };

  struct Recorded {
    Request request;
    std::string body;
    bool had_body = false;
  };

  // Queues the next reply.
  void push(Reply reply);
  void push(int status, std::string body = {}, std::vector<Header> headers = {});
  void push_error(core::Error error);

  core::Result<Response> send(const Request& request, BodySource* body,
                              BodySink* response_body) override;

  std::vector<Recorded> requests() const;
  std::size_t pending() const;

 private:
  mutable std::mutex mu_;
  std::deque<Reply> script_;
  std::vector<Recorded> requests_;
};

}  // namespace imgflow::http
