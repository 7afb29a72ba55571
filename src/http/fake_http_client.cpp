#include "http/fake_http_client.h"

#include <utility>

namespace imgflow::http {

void FakeHttpClient::push(Reply reply) {
  std::lock_guard lock(mu_);
  script_.push_back(std::move(reply));
}

void FakeHttpClient::push(int status, std::string body, std::vector<Header> headers) {
  push(Reply{status, std::move(headers), std::move(body), std::nullopt});
}

void FakeHttpClient::push_error(core::Error error) { push(Reply{0, {}, {}, std::move(error)}); }

core::Result<Response> FakeHttpClient::send(const Request& request, BodySource* body,
                                            BodySink* response_body) {
  Recorded rec{request, {}, body != nullptr};
  if (body != nullptr) {
    char buf[4096];
    for (;;) {
      auto n = body->read(buf, sizeof buf);
      if (!n) return core::fail(n.error());
      if (*n == 0) break;
      rec.body.append(buf, *n);
    }
  }
  Reply reply{599, {}, "no scripted reply", std::nullopt};
  {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(rec));
    if (!script_.empty()) {
      reply = std::move(script_.front());
      script_.pop_front();
    }
  }
  if (reply.error) return core::fail(std::move(*reply.error));
  if (response_body != nullptr && !reply.body.empty() && request.method != "HEAD") {
    if (auto st = response_body->write(reply.body); !st) return core::fail(st.error());
  }
  return Response{reply.status, std::move(reply.headers)};
}

std::vector<FakeHttpClient::Recorded> FakeHttpClient::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t FakeHttpClient::pending() const {
  std::lock_guard lock(mu_);
  return script_.size();
}

}  // namespace imgflow::http
