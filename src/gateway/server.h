#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/log.h"
#include "core/result.h"
#include "gateway/admission.h"
#include "gateway/handler.h"
#include "gateway/metrics.h"
#include "gateway/tls.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9000;  // 0: any free port; see Server::port()
  // One thread per connection (see server.cpp): the whole server's connections, the reserve
  // kept for probes and signed requests, one address's share and its request rate. Refusals
  // are 503 SlowDown.
  AdmissionLimits limits;
  std::size_t header_limit = std::size_t{16} * 1024;  // request line + headers; S3 allows 8 KiB
  // A request line and headers must arrive whole within this, from the accept (or a keep-alive
  // request's first byte), never extended by a byte: until its header is in, nobody knows
  // whether a connection is a probe, so it cannot hold its slot for long.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive wait for the next request
  std::chrono::milliseconds io_timeout{60'000};  // longest silence while reading a body or writing
  // A body must average this many bytes a second after an io_timeout's grace, so a trickle
  // cannot hold a connection for ever; 0: no minimum.
  std::uint64_t min_body_rate = 1024;
  // A closing connection with request bytes unread reads and drops them this long before the
  // close, which would otherwise reset the connection and could destroy the response.
  std::chrono::milliseconds close_linger{2'000};
  std::chrono::milliseconds drain_timeout{30'000};  // shutdown: in-flight requests get this long
  // A limit's log episode ends after this long without a hit (EpisodeLog).
  std::chrono::milliseconds limit_log_quiet{10'000};
  // Set: every connection speaks TLS (HTTPS only), with the identity's context at its accept.
  // Must outlive the server.
  const TlsIdentity* tls = nullptr;
};

// What the server calls for each request: the protocol layer (usually gateway::handle).
using RequestHandler = std::function<Response(const HttpRequest&, storage::ByteSource& body)>;

// The HTTP/1.1 server around the protocol layer: keep-alive, streamed bodies (a request body
// reaches the handler as a ByteSource reading the socket; a response object is streamed from its
// ObjectReader), timeouts, connection and request limits (Admission), x-amz-request-id on every
// response, a JSON-lines access log, metrics and graceful shutdown. Beast and Asio stay behind
// this header.
class Server {
 public:
  // Binds and listens. Errors: kUnavailable (address in use), kInvalidArgument (bad host).
  static core::Result<std::unique_ptr<Server>> listen(const ServerOptions& options,
                                                      RequestHandler handler, core::Logger& log,
                                                      Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the real one when options.port was 0).
  std::uint16_t port() const;

  // Accepts and serves until stop(); then lets in-flight requests finish (up to drain_timeout,
  // after which their connections are cut) and returns once every connection has ended.
  void run();

  // Stops accepting and closes idle keep-alive connections. Safe from any thread (not from a
  // signal handler: use sigwait in a thread). Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgflow::gateway
