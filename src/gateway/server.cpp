#include "gateway/server.h"

#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "gateway/http_date.h"
#include "gateway/s3_error.h"

// Concurrency model: one thread per connection, at most max_connections of them, with blocking
// Beast reads and writes. The store's API is synchronous and pull-based (ByteSource) and a
// LocalStore write blocks on fsync, so a request needs a thread of its own while it runs anyway;
// a thread per connection keeps the body streaming straight from the socket into the store with
// no hand-off between an async reader and a blocking writer. Timeouts, which blocking sockets
// lack, come from a watchdog thread that shuts a connection's socket down when its deadline
// passes; the blocked read or write then fails and the connection ends. The bound keeps memory and
// threads predictable; embedded mode serves one machine, not thousands of idle clients.

namespace imgflow::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint64_t kMaxBodyBytes = 6ULL << 30;  // above any object; the store enforces S3's
constexpr std::size_t kMaxDrainBytes = 1 << 20;      // unread body we discard to keep a connection
constexpr std::size_t kStreamChunk = std::size_t{64} << 10;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// One live connection as the watchdog sees it.
struct Connection {
  int fd = -1;
  std::atomic<std::int64_t> deadline_ms{0};
  std::atomic<bool> idle{true};  // waiting for the next request: shutdown may close it at once
  bool cut = false;              // guarded by Impl::mu_

  void expire_in(std::chrono::milliseconds timeout) { deadline_ms = now_ms() + timeout.count(); }
};

using Parser = http::request_parser<http::buffer_body>;

// The request body, read from the socket as the handler pulls it. Sends "100 Continue" on the
// first read, so a client that asked for it sends no body unless the request was accepted.
// A body framed by Content-Length (every S3 upload but a chunked-encoded one) is read straight
// into the caller's buffer, never past its end: through the parser, each byte would be copied
// once more, from Beast's buffer, in reads of at most 64 KiB. Chunked bodies go through Beast.
class SocketBody final : public storage::ByteSource {
 public:
  SocketBody(tcp::socket& socket, beast::flat_buffer& buffer, Parser& parser, Connection& conn,
             std::chrono::seconds timeout)
      : socket_(socket), buffer_(buffer), parser_(parser), conn_(conn), timeout_(timeout) {
    const auto expect = parser.get()[http::field::expect];
    expects_continue_ = beast::iequals(expect, "100-continue");
    if (!parser.is_done() && !parser.chunked() && parser.content_length()) {
      direct_remaining_ = *parser.content_length();
    }
  }

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    if (done()) return std::size_t{0};
    if (expects_continue_ && !continue_sent_) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::error_code ec;
      conn_.expire_in(timeout_);
      asio::write(socket_, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) return core::fail(core::ErrorCode::kUnavailable, "client went away: " + ec.message());
      continue_sent_ = true;
    }
    auto got = direct_remaining_ ? read_direct(buf, n) : read_parsed(buf, n);
    if (got) bytes_ += *got;
    return got;
  }

  // Whether the connection can carry another request once the rest of the body is discarded:
  // all of it read, or a known remainder small enough to drain that the client is sending.
  bool drainable() const {
    if (done()) return true;
    if (expects_continue_ && !continue_sent_) return false;  // the client holds the body back
    return direct_remaining_ && *direct_remaining_ <= kMaxDrainBytes;
  }

  // Reads and drops the rest of a drainable() body; whether it all arrived.
  bool discard_rest() {
    if (!drainable()) return false;
    std::string scratch(kStreamChunk, '\0');
    while (!done()) {
      if (!read(scratch.data(), scratch.size())) return false;
    }
    return true;
  }

  bool done() const { return direct_remaining_ ? *direct_remaining_ == 0 : parser_.is_done(); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  // Bytes that arrived with the header come first, then the socket, up to the body's end.
  core::Result<std::size_t> read_direct(char* buf, std::size_t n) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(n, *direct_remaining_));
    std::size_t got = 0;
    if (buffer_.size() > 0) {
      got = asio::buffer_copy(asio::buffer(buf, want), buffer_.data());
      buffer_.consume(got);
    } else {
      beast::error_code ec;
      conn_.expire_in(timeout_);
      got = socket_.read_some(asio::buffer(buf, want), ec);
      if (ec) return ended_early(ec);
    }
    *direct_remaining_ -= got;
    return got;
  }

  core::Result<std::size_t> read_parsed(char* buf, std::size_t n) {
    for (;;) {
      parser_.get().body().data = buf;
      parser_.get().body().size = n;
      beast::error_code ec;
      conn_.expire_in(timeout_);
      http::read_some(socket_, buffer_, parser_, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return ended_early(ec);
      const std::size_t got = n - parser_.get().body().size;
      if (got > 0 || parser_.is_done()) return got;
    }
  }

  // The body ended early or timed out: the store discards what it got.
  static core::Result<std::size_t> ended_early(const beast::error_code& ec) {
    return core::fail(storage::make_error(storage::ErrorDetail::kIncompleteBody,
                                          "the request body ended early: " + ec.message()));
  }

  tcp::socket& socket_;
  beast::flat_buffer& buffer_;
  Parser& parser_;
  Connection& conn_;
  std::chrono::seconds timeout_;
  std::optional<std::uint64_t> direct_remaining_;  // set for a Content-Length body
  bool expects_continue_ = false;
  bool continue_sent_ = false;
  std::uint64_t bytes_ = 0;
};

HttpRequest to_http_request(const http::request<http::buffer_body>& msg, std::string remote_ip,
                            std::string request_id) {
  HttpRequest r;
  r.wire.method = std::string(msg.method_string());
  std::string_view target(msg.target().data(), msg.target().size());
  if (target.starts_with("http://") || target.starts_with("https://")) {
    // Absolute form (proxies): the path starts after the authority.
    const std::size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? "/" : target.substr(slash);
  }
  const std::size_t q = target.find('?');
  r.wire.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.wire.query = std::string(target.substr(q + 1));
  for (const auto& field : msg) {
    r.wire.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  r.host = std::string(msg[http::field::host]);
  r.remote_ip = std::move(remote_ip);
  r.request_id = std::move(request_id);
  return r;
}

Response internal_error(const HttpRequest& request) {
  Response r;
  const S3Error e;
  r.status = e.status;
  r.error_code = e.code;
  r.set("Content-Type", "application/xml");
  r.body = error_xml(e, request.wire.path, request.request_id);
  return r;
}

}  // namespace

struct Server::Impl {
  Impl(const ServerOptions& o, RequestHandler h, core::Logger& l, Metrics& m)
      : options(o), handler(std::move(h)), log(l), metrics(m), acceptor(io) {}

  ServerOptions options;
  RequestHandler handler;
  core::Logger& log;
  Metrics& metrics;
  asio::io_context io;  // only owns the sockets: every operation is synchronous
  tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::string id_prefix;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<bool> stopping{false};
  std::atomic<bool> force_cut{false};

  std::mutex mu;
  std::condition_variable cv;
  std::set<Connection*> connections;  // guarded by mu
  std::size_t active = 0;             // guarded by mu: connection threads still running

  std::string request_id() {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%s%08llX", id_prefix.c_str(),
                  static_cast<unsigned long long>(next_id++ & 0xFFFFFFFFULL));
    return buf;
  }

  void accept_loop();
  void watchdog_loop(const std::atomic<bool>& done);
  void serve_connection(tcp::socket socket);
  void serve_requests(tcp::socket& socket, Connection& conn);
  bool write_response(tcp::socket& socket, Connection& conn, const HttpRequest& request,
                      Response& response, bool keep_alive, std::uint64_t& bytes_out);
  void reject(tcp::socket& socket, int status, std::string_view code, std::string_view message);
  void refuse_and_close(tcp::socket& socket, Connection& conn, int status, std::string_view code,
                        std::string_view message);
  void linger_and_close(tcp::socket& socket, Connection& conn);
  void access_log(const HttpRequest& request, const Response& response, std::uint64_t in,
                  std::uint64_t out, SteadyClock::time_point start);
};

void Server::Impl::accept_loop() {
  while (!stopping) {
    pollfd p{acceptor.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // wake up regularly to notice stop()
    tcp::socket socket(io);
    beast::error_code ec;
    acceptor.accept(socket, ec);
    if (ec) continue;
    // A response goes out as a header write and then body writes; with Nagle on, the second
    // small write waits for the client's delayed ACK of the first: 40 ms on every small GET.
    socket.set_option(tcp::no_delay(true), ec);
    bool admitted = false;
    {
      std::lock_guard lock(mu);
      if (active < options.max_connections) {
        ++active;
        admitted = true;
      }
    }
    if (!admitted) {
      metrics.connection_refused();
      reject(socket, 503, "SlowDown", "Too many connections; retry later.");
      continue;
    }
    std::thread([this, s = std::move(socket)]() mutable {
      serve_connection(std::move(s));
    }).detach();
  }
  beast::error_code ignored;
  acceptor.close(ignored);
}

void Server::Impl::watchdog_loop(const std::atomic<bool>& done) {
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::int64_t now = now_ms();
    std::lock_guard lock(mu);
    for (Connection* conn : connections) {
      if (conn->cut) continue;
      if (force_cut || now > conn->deadline_ms || (stopping && conn->idle)) {
        // Unblocks the blocked read or write; the fd stays open until its thread closes it.
        ::shutdown(conn->fd, SHUT_RDWR);
        conn->cut = true;
      }
    }
  }
}

void Server::Impl::serve_connection(tcp::socket socket) {
  Connection conn;
  conn.fd = socket.native_handle();
  conn.expire_in(options.header_timeout);
  {
    std::lock_guard lock(mu);
    connections.insert(&conn);
  }
  metrics.connection_opened();
  // The one boundary for Beast/Asio exceptions on this connection.
  try {
    serve_requests(socket, conn);
  } catch (const std::exception& e) {
    log.warn("connection failed", {{"error", e.what()}});
  }
  {
    // Deregister before closing, so the watchdog never touches a reused descriptor.
    std::lock_guard lock(mu);
    connections.erase(&conn);
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  metrics.connection_closed();
  std::lock_guard lock(mu);
  --active;
  cv.notify_all();
}

void Server::Impl::serve_requests(tcp::socket& socket, Connection& conn) {
  beast::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  const std::string remote_ip = ec ? "" : peer.address().to_string();
  beast::flat_buffer buffer;
  // Beast sizes each socket read by the buffer's free capacity: from an empty buffer it reads
  // 512 bytes at a time, two syscalls per 512 bytes of an upload.
  buffer.reserve(kStreamChunk);
  bool first = true;
  for (;;) {
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
    parser.body_limit(kMaxBodyBytes);
    conn.idle = true;
    conn.expire_in(first ? options.header_timeout : options.idle_timeout);
    first = false;
    if (stopping) return;
    http::read_header(socket, buffer, parser, ec);
    conn.idle = false;
    if (ec == http::error::header_limit) {
      return refuse_and_close(socket, conn, 400, "RequestHeaderSectionTooLarge",
                              "Your request header section exceeds the maximum allowed size.");
    }
    if (ec == http::error::body_limit) {
      return refuse_and_close(socket, conn, 400, "EntityTooLarge",
                              "Your proposed upload exceeds the maximum allowed size.");
    }
    if (ec) {
      if (ec != http::error::end_of_stream && buffer.size() > 0) {
        refuse_and_close(socket, conn, 400, "BadRequest", "The request could not be parsed.");
      }
      return;
    }
    const auto start = SteadyClock::now();
    // RFC 9112 3.2: a server must refuse an HTTP/1.1 request with no Host or with several.
    if (parser.get().version() == 11 && parser.get().count(http::field::host) != 1) {
      return refuse_and_close(socket, conn, 400, "InvalidRequest",
                              "An HTTP/1.1 request must have exactly one Host header.");
    }
    const HttpRequest request = to_http_request(parser.get(), remote_ip, request_id());
    SocketBody body(socket, buffer, parser, conn, options.io_timeout);
    Response response;
    try {
      response = handler(request, body);
    } catch (const std::exception& e) {
      log.error("handler failed", {{"request_id", request.request_id}, {"error", e.what()}});
      response = internal_error(request);
    }
    // A refusal the handler made without reading the body (e.g. EntityTooLarge from the
    // Content-Length) is answered now; a large or unknown remainder is not waited for.
    const bool keep_alive = body.drainable() && parser.get().keep_alive() && !stopping;
    std::uint64_t bytes_out = 0;
    const bool written = write_response(socket, conn, request, response, keep_alive, bytes_out);
    metrics.record_request(response.status, body.bytes(), bytes_out);
    access_log(request, response, body.bytes(), bytes_out, start);
    if (!written) return;
    if (!keep_alive) return linger_and_close(socket, conn);
    if (!body.discard_rest()) return;
  }
}

bool Server::Impl::write_response(tcp::socket& socket, Connection& conn, const HttpRequest& request,
                                  Response& response, bool keep_alive, std::uint64_t& bytes_out) {
  http::response<http::empty_body> head;
  head.version(11);
  head.result(static_cast<unsigned>(response.status));
  for (const auto& [name, value] : response.headers) head.insert(name, value);
  head.set("x-amz-request-id", request.request_id);
  head.set("x-amz-id-2", request.request_id);
  head.set(http::field::server, "imgflow");
  head.set(http::field::date, format_http_date(std::chrono::system_clock::now()));
  head.keep_alive(keep_alive);
  const std::uint64_t length =
      response.content_length
          ? *response.content_length
          : (response.object ? response.object->length() : response.body.size());
  const bool bodiless = response.status == 204 || response.status == 304;
  if (!bodiless) head.content_length(length);

  beast::error_code ec;
  conn.expire_in(options.io_timeout);
  http::response_serializer<http::empty_body> serializer(head);
  http::write_header(socket, serializer, ec);
  if (ec) return false;
  if (bodiless || request.wire.method == "HEAD") return true;
  if (!response.object) {
    asio::write(socket, asio::buffer(response.body), ec);
    bytes_out = ec ? 0 : response.body.size();
    return !ec;
  }
  std::string chunk(kStreamChunk, '\0');
  for (;;) {
    auto got = response.object->read(chunk.data(), chunk.size());
    if (!got) {
      // Headers are out; the only honest signal left is to cut the connection.
      log.error("object read failed",
                {{"request_id", request.request_id}, {"error", got.error().to_string()}});
      return false;
    }
    if (*got == 0) return bytes_out == length;
    conn.expire_in(options.io_timeout);
    asio::write(socket, asio::buffer(chunk.data(), *got), ec);
    if (ec) return false;
    bytes_out += *got;
  }
}

void Server::Impl::reject(tcp::socket& socket, int status, std::string_view code,
                          std::string_view message) {
  const std::string id = request_id();
  const std::string body =
      error_xml(S3Error{status, std::string(code), std::string(message)}, "", id);
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  const std::string text = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                           "\r\nContent-Type: application/xml\r\nx-amz-request-id: " + id +
                           "\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nConnection: close\r\n\r\n" + body;
  beast::error_code ignored;
  asio::write(socket, asio::buffer(text), ignored);
  metrics.record_request(status, 0, body.size());
}

void Server::Impl::refuse_and_close(tcp::socket& socket, Connection& conn, int status,
                                    std::string_view code, std::string_view message) {
  conn.expire_in(options.io_timeout);
  reject(socket, status, code, message);
  linger_and_close(socket, conn);
}

// Ends the response with a FIN, then reads and drops what the client still sends (a body it
// was already sending, a pipelined request) until it closes or close_linger passes: closing a
// socket with unread input sends a reset, which can destroy the response before it is read.
void Server::Impl::linger_and_close(tcp::socket& socket, Connection& conn) {
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  conn.idle = true;  // nothing more to answer: shutdown may cut it at once
  conn.expire_in(options.close_linger);
  std::array<char, 16384> scratch{};
  while (!ec) socket.read_some(asio::buffer(scratch), ec);
}

void Server::Impl::access_log(const HttpRequest& request, const Response& response,
                              std::uint64_t in, std::uint64_t out, SteadyClock::time_point start) {
  const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
  log.info("request", {{"request_id", request.request_id},
                       {"remote_ip", request.remote_ip},
                       {"method", request.wire.method},
                       {"path", request.wire.path},
                       {"operation", response.operation},
                       {"principal", response.principal.empty() ? "anonymous" : response.principal},
                       {"status", response.status},
                       {"error", response.error_code},
                       {"bytes_in", in},
                       {"bytes_out", out},
                       {"duration_ms", ms}});
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

core::Result<std::unique_ptr<Server>> Server::listen(const ServerOptions& options,
                                                     RequestHandler handler, core::Logger& log,
                                                     Metrics& metrics) {
  auto impl = std::make_unique<Impl>(options, std::move(handler), log, metrics);
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) {
    return core::fail(core::ErrorCode::kInvalidArgument, "bad listen host '" + options.host + "'");
  }
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) impl->acceptor.non_blocking(true, ec);  // poll() decides; accept never blocks
  if (ec) {
    return core::fail(core::ErrorCode::kUnavailable, "cannot listen on " + options.host + ":" +
                                                         std::to_string(options.port) + ": " +
                                                         ec.message());
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  std::uint32_t prefix = 0;
  if (getrandom(&prefix, sizeof prefix, 0) != sizeof prefix) prefix = 0;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", prefix);
  impl->id_prefix = buf;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::uint16_t Server::port() const { return impl_->port; }

void Server::run() {
  std::atomic<bool> watchdog_done{false};
  std::thread watchdog([&] { impl_->watchdog_loop(watchdog_done); });
  impl_->accept_loop();
  {
    std::unique_lock lock(impl_->mu);
    if (!impl_->cv.wait_for(lock, impl_->options.drain_timeout,
                            [&] { return impl_->active == 0; })) {
      impl_->force_cut = true;
      impl_->cv.wait(lock, [&] { return impl_->active == 0; });
    }
  }
  watchdog_done = true;
  watchdog.join();
}

void Server::stop() { impl_->stopping = true; }

}  // namespace imgflow::gateway
