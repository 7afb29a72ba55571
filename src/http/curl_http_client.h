#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/http_client.h"

namespace imgflow::http {

// HttpClient over libcurl. Keeps up to `max_idle_handles` easy handles (and so their live
// connections) for reuse; each handle has one owner at a time. Safe to call from any thread.
// Sends no "Expect: 100-continue", never follows redirects, never rewrites the path ("/../"
// stays), verifies TLS peers.
class CurlHttpClient final : public HttpClient {
 public:
  struct Options {
    std::size_t max_idle_handles = 8;
    // The CA certificates to verify TLS peers with; "" = libcurl's default, which is the
    // path of the system it was built on (Debian's /etc/ssl/certs/ca-certificates.crt).
    std::string ca_file;
  };

  explicit CurlHttpClient(Options options);
  explicit CurlHttpClient(std::size_t max_idle_handles = 8)
      : CurlHttpClient(Options{.max_idle_handles = max_idle_handles, .ca_file = {}}) {}
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  core::Result<Response> send(const Request& request, BodySource* body,
                              BodySink* response_body) override;

 private:
  struct Handle;  // a CURL easy handle with its one move-only owner
  std::unique_ptr<Handle> acquire();
  void release(std::unique_ptr<Handle> handle);

  std::size_t max_idle_;
  std::string ca_file_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

}  // namespace imgflow::http
