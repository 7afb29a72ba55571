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
#include <system_error>
#include <thread>
#include <vector>

#include "gateway/connection_stream.h"
#include "gateway/episode_log.h"
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
//
// Because a connection is a thread, connections are what a hostile client goes after. Admission
// bounds them per client address and keeps a reserve for probes and signed requests; a request
// header has a short total deadline (until it is in, nobody knows what the connection is for) and
// a body a minimum rate, so neither silence nor a trickle holds a slot for long.

namespace imgflow::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::uint64_t kMaxBodyBytes = 6ULL << 30;  // above any object; the store enforces S3's
constexpr std::size_t kMaxDrainBytes = 1 << 20;      // unread body we discard to keep a connection
constexpr std::size_t kStreamChunk = std::size_t{64} << 10;
constexpr milliseconds kWatchdogTick{100};
constexpr int kForgetIdleEveryTicks = 10;
// How long a connection beyond its address's limit sits silent before a newcomer from the same
// address may take its place (Server::Impl::admit).
constexpr milliseconds kSilentBeforeGivingWay{250};

std::int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now().time_since_epoch()).count();
}

// What a connection is doing, for its deadline and for the metrics when that deadline passes.
enum class Phase {
  kHeader,    // waiting for a request line and headers: header_timeout, total
  kIdle,      // keep-alive, waiting for the next request's first byte: idle_timeout
  kBody,      // reading the request body: io_timeout of silence, and min_body_rate
  kHandling,  // the handler runs between body reads (e.g. an fsync): no deadline
  kResponse,  // writing the response: io_timeout per write
  kClosing,   // discarding unread input before the close: close_linger
};

// The phases whose expiry is a limit hit (counted and logged), rather than a client gone quiet.
const char* expiry_name(Phase phase) {
  switch (phase) {
    case Phase::kHeader:
      return "header";
    case Phase::kBody:
      return "body";
    case Phase::kResponse:
      return "response";
    default:
      return nullptr;
  }
}

// Whether the client has sent bytes its connection's thread has not read yet: a request on its
// way, which must not be cut for a newcomer.
bool has_unread_input(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// One live connection as the watchdog sees it.
struct Connection {
  int fd = -1;
  std::string client;  // its address key (client_key), for the limit log
  std::int64_t accepted_ms = 0;
  std::atomic<std::int64_t> deadline_ms{0};
  std::atomic<Phase> phase{Phase::kHeader};
  bool reserved = false;   // guarded by Impl::mu: holds a reserved slot
  bool probation = false;  // guarded by Impl::mu: reserved, and no request served yet
  bool cut = false;        // guarded by Impl::mu

  void enter(Phase next, milliseconds timeout) {
    deadline_ms = now_ms() + timeout.count();
    phase = next;
  }
};

// What a connection's thread is handed besides its Connection.
struct Accepted {
  tcp::socket socket;
  Admission::Slot slot;
  std::string remote_ip;
};

using Parser = http::request_parser<http::buffer_body>;

// The request body, read from the socket as the handler pulls it. Sends "100 Continue" on the
// first read, so a client that asked for it sends no body unless the request was accepted.
// A body framed by Content-Length (every S3 upload but a chunked-encoded one) is read straight
// into the caller's buffer, never past its end: through the parser, each byte would be copied
// once more, from Beast's buffer, in reads of at most 64 KiB. Chunked bodies go through Beast.
// Each socket read has a deadline: io_timeout of silence, and no later than the body's start +
// io_timeout + bytes so far / min_body_rate, so a body trickled below that rate is cut.
class SocketBody final : public storage::ByteSource {
 public:
  SocketBody(ConnectionStream& stream, beast::flat_buffer& buffer, Parser& parser, Connection& conn,
             const ServerOptions& options)
      : stream_(stream), buffer_(buffer), parser_(parser), conn_(conn), options_(options) {
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
      conn_.enter(Phase::kResponse, options_.io_timeout);
      asio::write(stream_, asio::buffer(kContinue.data(), kContinue.size()), ec);
      conn_.phase = Phase::kHandling;
      if (ec) return core::fail(core::ErrorCode::kUnavailable, "client went away: " + ec.message());
      continue_sent_ = true;
    }
    arm_deadline();
    auto got = direct_remaining_ ? read_direct(buf, n) : read_parsed(buf, n);
    conn_.phase = Phase::kHandling;
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
  void arm_deadline() {
    const std::int64_t now = now_ms();
    if (!started_ms_) started_ms_ = now;
    const std::int64_t io = options_.io_timeout.count();
    std::int64_t deadline = now + io;
    if (options_.min_body_rate > 0) {
      const auto earned = static_cast<std::int64_t>(bytes_ * 1000 / options_.min_body_rate);
      deadline = std::min(deadline, *started_ms_ + io + earned);
    }
    conn_.deadline_ms = deadline;
    conn_.phase = Phase::kBody;
  }

  // Bytes that arrived with the header come first, then the socket, up to the body's end.
  core::Result<std::size_t> read_direct(char* buf, std::size_t n) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(n, *direct_remaining_));
    std::size_t got = 0;
    if (buffer_.size() > 0) {
      got = asio::buffer_copy(asio::buffer(buf, want), buffer_.data());
      buffer_.consume(got);
    } else {
      beast::error_code ec;
      got = stream_.read_some(asio::buffer(buf, want), ec);
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
      http::read_some(stream_, buffer_, parser_, ec);
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

  ConnectionStream& stream_;
  beast::flat_buffer& buffer_;
  Parser& parser_;
  Connection& conn_;
  const ServerOptions& options_;
  std::optional<std::uint64_t> direct_remaining_;  // set for a Content-Length body
  std::optional<std::int64_t> started_ms_;         // the first body read
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

// The S3 error body behind a refusal the server makes itself, before or instead of the handler.
struct Refusal {
  int status;
  std::string_view code;
  std::string_view message;
};

constexpr Refusal kAtCapacity{503, "SlowDown",
                              "The server is at its connection limit; retry later."};
constexpr Refusal kAddressAtLimit{503, "SlowDown",
                                  "Too many connections from your address; retry later."};
constexpr Refusal kRateLimited{503, "SlowDown", "Please reduce your request rate."};
constexpr Refusal kReservedOnly{
    503, "SlowDown",
    "The server is busy: only health checks and signed requests are served now; retry later."};
constexpr Refusal kHostMissing{400, "InvalidRequest",
                               "An HTTP/1.1 request must have exactly one Host header."};

}  // namespace

struct Server::Impl {
  Impl(const ServerOptions& o, RequestHandler h, core::Logger& l, Metrics& m)
      : options(o),
        handler(std::move(h)),
        log(l),
        metrics(m),
        admission(o.limits),
        limit_log(l, o.limit_log_quiet),
        acceptor(io) {}

  ServerOptions options;
  RequestHandler handler;
  core::Logger& log;
  Metrics& metrics;
  Admission admission;
  EpisodeLog limit_log;
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
  Admission::Admitted admit(const std::string& client);
  bool make_room(const std::string& client, std::int64_t min_age_ms);
  void connection_ended();
  void watchdog_loop(const std::atomic<bool>& done);
  void serve_connection(std::unique_ptr<Accepted> accepted, std::unique_ptr<Connection> conn);
  std::unique_ptr<ConnectionStream> open_stream(tcp::socket& socket);
  void serve_requests(ConnectionStream& stream, Connection& conn, Admission::Slot& slot,
                      const std::string& remote_ip);
  bool await_request(ConnectionStream& stream, const beast::flat_buffer& buffer, Connection& conn);
  std::optional<Refusal> limit_request(const HttpRequest& request, Connection& conn,
                                       const Admission::Slot& slot);
  bool serve_request(ConnectionStream& stream, beast::flat_buffer& buffer, Parser& parser,
                     Connection& conn, const Admission::Slot& slot, const HttpRequest& request);
  bool write_response(ConnectionStream& stream, Connection& conn, const HttpRequest& request,
                      Response& response, bool keep_alive, std::uint64_t& bytes_out);
  bool write_stream(ConnectionStream& stream, Connection& conn, storage::ByteSource& source,
                    std::uint64_t& bytes_out);
  void reject(ConnectionStream& stream, const Refusal& refusal);
  void refuse_and_close(ConnectionStream& stream, Connection& conn, const Refusal& refusal);
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
    const auto peer = socket.remote_endpoint(ec);
    const std::string remote_ip = ec ? "" : peer.address().to_string();
    const std::string client = client_key(remote_ip);
    Admission::Admitted admitted = admit(client);
    if (!admitted.slot.admitted()) {
      const bool per_ip = admitted.refusal == Admission::Refusal::kPerIp;
      metrics.connection_refused(per_ip ? "per_ip" : "capacity");
      limit_log.hit(per_ip ? "connections_per_ip" : "connections", client, SteadyClock::now());
      // In the clear the client reads why; a TLS client would read garbage before a handshake,
      // so it sees the connection close, which its SDK retries as it does a 503.
      if (options.tls == nullptr) {
        ConnectionStream clear(socket);
        reject(clear, per_ip ? kAddressAtLimit : kAtCapacity);
      }
      continue;
    }
    // Registered before its thread starts, so the watchdog and make_room() see
    // every admitted connection at once, and its header deadline runs from now.
    auto conn = std::make_unique<Connection>();
    conn->fd = socket.native_handle();
    conn->client = client;
    conn->accepted_ms = now_ms();
    conn->enter(Phase::kHeader, options.header_timeout);
    {
      std::lock_guard lock(mu);
      conn->reserved = admitted.slot.pool() == Admission::Pool::kReserved;
      conn->probation = conn->reserved;
      connections.insert(conn.get());
      ++active;
    }
    metrics.connection_opened();
    auto accepted = std::make_unique<Accepted>(
        Accepted{std::move(socket), std::move(admitted.slot), remote_ip});
    Connection* const raw = conn.get();
    try {
      std::thread([this, a = std::move(accepted), raw]() mutable {
        serve_connection(std::move(a), std::unique_ptr<Connection>(raw));
      }).detach();
      static_cast<void>(conn.release());  // the thread owns it now
    } catch (const std::system_error&) {
      // No thread to be had (the process's or its cgroup's limit): the socket is already closed.
      {
        std::lock_guard lock(mu);
        connections.erase(raw);
      }
      conn.reset();
      connection_ended();
      metrics.connection_refused("threads");
      limit_log.hit("threads", client, SteadyClock::now());
    }
  }
  beast::error_code ignored;
  acceptor.close(ignored);
}

// A slot for a new connection. When the slots it may take are all taken, a reserved connection
// that is doing nothing makes room: one that has not sent a request yet, or one idle between
// requests, with nothing unread on its way. Otherwise sockets that say nothing could keep the
// reserve full, and a health check out, for as long as they keep reconnecting. An address past
// its own limit may only displace its own, and a silent one only after kSilentBeforeGivingWay,
// so that its flood is still refused cheaply, without a thread each, while its probe gets in
// beside the sockets it left idle.
Admission::Admitted Server::Impl::admit(const std::string& client) {
  Admission::Admitted admitted = admission.admit(client);
  const bool room_made = (admitted.refusal == Admission::Refusal::kCapacity && make_room("", 0)) ||
                         (admitted.refusal == Admission::Refusal::kPerIp &&
                          make_room(client, kSilentBeforeGivingWay.count()));
  if (room_made) admitted = admission.admit_in_place_of_cut(client);
  return admitted;
}

// Cuts the oldest reserved connection (from `client`, if not empty) that is idle between
// requests, or has sent no request in the `min_age_ms` since it was accepted, and has nothing
// unread; whether there was one.
bool Server::Impl::make_room(const std::string& client, std::int64_t min_age_ms) {
  const std::int64_t accepted_before = now_ms() - min_age_ms;
  std::lock_guard lock(mu);
  Connection* oldest = nullptr;
  for (Connection* conn : connections) {
    const bool doing_nothing =
        conn->phase == Phase::kIdle || (conn->probation && conn->accepted_ms <= accepted_before);
    if (conn->reserved && doing_nothing && !conn->cut &&
        (client.empty() || conn->client == client) &&
        (oldest == nullptr || conn->accepted_ms < oldest->accepted_ms) &&
        !has_unread_input(conn->fd)) {
      oldest = conn;
    }
  }
  if (oldest == nullptr) return false;
  ::shutdown(oldest->fd, SHUT_RDWR);
  oldest->cut = true;
  return true;
}

void Server::Impl::watchdog_loop(const std::atomic<bool>& done) {
  for (int tick = 1; !done; ++tick) {
    std::this_thread::sleep_for(kWatchdogTick);
    const std::int64_t now = now_ms();
    std::vector<std::pair<const char*, std::string>> expired;  // reported outside the lock
    {
      std::lock_guard lock(mu);
      for (Connection* conn : connections) {
        if (conn->cut) continue;
        const Phase phase = conn->phase;
        const bool waiting =
            phase == Phase::kHeader || phase == Phase::kIdle || phase == Phase::kClosing;
        const bool late = phase != Phase::kHandling && now > conn->deadline_ms;
        if (force_cut || late || (stopping && waiting)) {
          const char* name = expiry_name(phase);
          if (late && !stopping && name != nullptr) {
            metrics.deadline_expired(name);  // before the client can see the close
            expired.emplace_back(name, conn->client);
          }
          // Unblocks the blocked read or write; the fd stays open until its thread closes it.
          ::shutdown(conn->fd, SHUT_RDWR);
          conn->cut = true;
        }
      }
    }
    const auto steady_now = SteadyClock::now();
    for (const auto& [phase, client] : expired) {
      limit_log.hit(std::string(phase) + "_deadline", client, steady_now);
    }
    limit_log.end_quiet(steady_now);
    if (tick % kForgetIdleEveryTicks == 0) admission.forget_idle(steady_now);
  }
}

void Server::Impl::serve_connection(std::unique_ptr<Accepted> accepted,
                                    std::unique_ptr<Connection> conn) {
  tcp::socket& socket = accepted->socket;
  // The one boundary for Beast/Asio exceptions on this connection.
  try {
    if (auto stream = open_stream(socket)) {
      serve_requests(*stream, *conn, accepted->slot, accepted->remote_ip);
    }
  } catch (const std::exception& e) {
    log.warn("connection failed", {{"error", e.what()}});
  }
  {
    // Deregister before closing, so the watchdog never touches a reused descriptor.
    std::lock_guard lock(mu);
    connections.erase(conn.get());
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  // Everything this thread holds is freed before run() can see it gone: the process may exit
  // right after, while this detached thread is still unwinding.
  accepted.reset();
  conn.reset();
  connection_ended();
}

// The last of a connection's accounting, once it is deregistered and freed.
void Server::Impl::connection_ended() {
  metrics.connection_closed();
  std::lock_guard lock(mu);
  --active;
  cv.notify_all();
}

// The connection's stream, after the TLS handshake when the server speaks TLS (under the
// header deadline set at the accept); null when the handshake failed.
std::unique_ptr<ConnectionStream> Server::Impl::open_stream(tcp::socket& socket) {
  if (options.tls == nullptr) return std::make_unique<ConnectionStream>(socket);
  auto stream = std::make_unique<ConnectionStream>(socket, options.tls->context());
  beast::error_code ec;
  stream->handshake(ec);
  if (ec) {
    metrics.tls_handshake_failed();
    return nullptr;
  }
  return stream;
}

void Server::Impl::serve_requests(ConnectionStream& stream, Connection& conn, Admission::Slot& slot,
                                  const std::string& remote_ip) {
  beast::flat_buffer buffer;
  // Beast sizes each socket read by the buffer's free capacity: from an empty buffer it reads
  // 512 bytes at a time, two syscalls per 512 bytes of an upload.
  buffer.reserve(kStreamChunk);
  for (bool first = true;; first = false) {
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
    parser.body_limit(kMaxBodyBytes);
    // The first request's header deadline runs from the accept (accept_loop).
    if (!first && !await_request(stream, buffer, conn)) return;
    if (stopping) return;
    beast::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    conn.phase = Phase::kHandling;
    if (ec == http::error::header_limit) {
      return refuse_and_close(stream, conn,
                              {400, "RequestHeaderSectionTooLarge",
                               "Your request header section exceeds the maximum allowed size."});
    }
    if (ec == http::error::body_limit) {
      return refuse_and_close(
          stream, conn,
          {400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."});
    }
    if (ec) {
      if (ec != http::error::end_of_stream && buffer.size() > 0) {
        refuse_and_close(stream, conn, {400, "BadRequest", "The request could not be parsed."});
      }
      return;
    }
    // RFC 9112 3.2: a server must refuse an HTTP/1.1 request with no Host or with several.
    if (parser.get().version() == 11 && parser.get().count(http::field::host) != 1) {
      return refuse_and_close(stream, conn, kHostMissing);
    }
    const HttpRequest request = to_http_request(parser.get(), remote_ip, request_id());
    if (auto refusal = limit_request(request, conn, slot)) {
      return refuse_and_close(stream, conn, *refusal);
    }
    if (!serve_request(stream, buffer, parser, conn, slot, request)) return;
  }
}

// Waits for the first byte of the next request on a keep-alive connection (bytes already in
// `buffer` are one); the header deadline then starts. False when the wait ended otherwise.
bool Server::Impl::await_request(ConnectionStream& stream, const beast::flat_buffer& buffer,
                                 Connection& conn) {
  if (buffer.size() == 0 && !stream.has_buffered_input()) {
    conn.enter(Phase::kIdle, options.idle_timeout);
    beast::error_code ec;
    stream.socket().wait(tcp::socket::wait_read, ec);
    if (ec) return false;
  }
  conn.enter(Phase::kHeader, options.header_timeout);
  return true;
}

// The limits that apply once a request's header is in: a reserved slot serves only privileged
// requests, and anonymous requests spend their address's tokens. Counted and logged here.
std::optional<Refusal> Server::Impl::limit_request(const HttpRequest& request, Connection& conn,
                                                   const Admission::Slot& slot) {
  const auto now = SteadyClock::now();
  switch (admission.check_request(slot, is_privileged(request), now)) {
    case Admission::Verdict::kAllowed:
      break;
    case Admission::Verdict::kReservedForPrivileged:
      metrics.request_refused("reserved");
      limit_log.hit("reserved_connections", conn.client, now);
      return kReservedOnly;
    case Admission::Verdict::kRateLimited:
      metrics.request_refused("rate");
      limit_log.hit("requests_per_ip", conn.client, now);
      return kRateLimited;
  }
  std::lock_guard lock(mu);
  conn.probation = false;
  return std::nullopt;
}

// Runs one admitted request and writes its response. Whether the connection carries another.
bool Server::Impl::serve_request(ConnectionStream& stream, beast::flat_buffer& buffer,
                                 Parser& parser, Connection& conn, const Admission::Slot& slot,
                                 const HttpRequest& request) {
  const auto start = SteadyClock::now();
  SocketBody body(stream, buffer, parser, conn, options);
  Response response;
  try {
    response = handler(request, body);
  } catch (const std::exception& e) {
    log.error("handler failed", {{"request_id", request.request_id}, {"error", e.what()}});
    response = internal_error(request);
  }
  // A refusal the handler made without reading the body (e.g. EntityTooLarge from the
  // Content-Length) is answered now; a large or unknown remainder is not waited for.
  bool keep_alive = body.drainable() && parser.get().keep_alive() && !stopping;
  if (slot.pool() == Admission::Pool::kReserved) {
    // A reserved slot waits for no body nobody read, nor keeps a caller whose signature failed.
    const bool failed_signature =
        !is_probe(request) && (response.principal.empty() || response.principal == "anonymous");
    keep_alive = keep_alive && body.done() && !failed_signature;
  }
  std::uint64_t bytes_out = 0;
  const bool written = write_response(stream, conn, request, response, keep_alive, bytes_out);
  metrics.record_request(response.status, body.bytes(), bytes_out);
  access_log(request, response, body.bytes(), bytes_out, start);
  if (!written) return false;
  if (!keep_alive) {
    linger_and_close(stream.socket(), conn);
    return false;
  }
  return body.discard_rest();
}

bool Server::Impl::write_response(ConnectionStream& stream, Connection& conn,
                                  const HttpRequest& request, Response& response, bool keep_alive,
                                  std::uint64_t& bytes_out) {
  http::response<http::empty_body> head;
  head.version(11);
  head.result(static_cast<unsigned>(response.status));
  for (const auto& [name, value] : response.headers) head.insert(name, value);
  head.set("x-amz-request-id", request.request_id);
  head.set("x-amz-id-2", request.request_id);
  head.set(http::field::server, "imgflow");
  head.set(http::field::date, format_http_date(std::chrono::system_clock::now()));
  if (response.stream) keep_alive = false;  // the stream ends only with the connection
  head.keep_alive(keep_alive);
  const std::uint64_t length =
      response.content_length
          ? *response.content_length
          : (response.object ? response.object->length() : response.body.size());
  const bool bodiless = response.status == 204 || response.status == 304;
  if (!bodiless && !response.stream) head.content_length(length);

  beast::error_code ec;
  conn.enter(Phase::kResponse, options.io_timeout);
  http::response_serializer<http::empty_body> serializer(head);
  http::write_header(stream, serializer, ec);
  if (ec) return false;
  if (bodiless || request.wire.method == "HEAD") return true;
  if (response.stream) return write_stream(stream, conn, *response.stream, bytes_out);
  if (!response.object) {
    asio::write(stream, asio::buffer(response.body), ec);
    bytes_out = ec ? 0 : response.body.size();
    return !ec;
  }
  std::string chunk(kStreamChunk, '\0');
  for (;;) {
    conn.phase = Phase::kHandling;  // reading the object from the store
    auto got = response.object->read(chunk.data(), chunk.size());
    if (!got) {
      // Headers are out; the only honest signal left is to cut the connection.
      log.error("object read failed",
                {{"request_id", request.request_id}, {"error", got.error().to_string()}});
      return false;
    }
    if (*got == 0) return bytes_out == length;
    conn.enter(Phase::kResponse, options.io_timeout);
    asio::write(stream, asio::buffer(chunk.data(), *got), ec);
    if (ec) return false;
    bytes_out += *got;
  }
}

// A body of unknown length, until the source ends, the client leaves or the server stops. The
// wait for the next piece has no deadline (kHandling); each write has io_timeout, so a client
// that stops reading is cut off.
bool Server::Impl::write_stream(ConnectionStream& stream, Connection& conn,
                                storage::ByteSource& source, std::uint64_t& bytes_out) {
  std::string chunk(kStreamChunk, '\0');
  beast::error_code ec;
  while (!stopping) {
    conn.phase = Phase::kHandling;
    auto got = source.read(chunk.data(), chunk.size());
    if (!got || *got == 0 || stopping) break;
    conn.enter(Phase::kResponse, options.io_timeout);
    asio::write(stream, asio::buffer(chunk.data(), *got), ec);
    if (ec) break;
    bytes_out += *got;
  }
  return false;  // the connection closes: the end of the stream is the end of the body
}

// Writes a refusal the server makes itself and marks the connection closed. Not access-logged:
// the limits log once per episode (EpisodeLog) so that a flood does not flood the log.
void Server::Impl::reject(ConnectionStream& stream, const Refusal& refusal) {
  const std::string id = request_id();
  const std::string body = error_xml(
      S3Error{refusal.status, std::string(refusal.code), std::string(refusal.message)}, "", id);
  const auto reason = http::obsolete_reason(static_cast<http::status>(refusal.status));
  const std::string text =
      "HTTP/1.1 " + std::to_string(refusal.status) + " " + std::string(reason) +
      "\r\nContent-Type: application/xml\r\nx-amz-request-id: " + id +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  beast::error_code ignored;
  asio::write(stream, asio::buffer(text), ignored);
  metrics.record_request(refusal.status, 0, body.size());
}

void Server::Impl::refuse_and_close(ConnectionStream& stream, Connection& conn,
                                    const Refusal& refusal) {
  conn.enter(Phase::kResponse, options.io_timeout);
  reject(stream, refusal);
  linger_and_close(stream.socket(), conn);
}

// Ends the response with a FIN, then reads and drops what the client still sends (a body it
// was already sending, a pipelined request) until it closes or close_linger passes: closing a
// socket with unread input sends a reset, which can destroy the response before it is read.
// Under TLS the dropped bytes are records nobody decrypts; the socket is read directly.
void Server::Impl::linger_and_close(tcp::socket& socket, Connection& conn) {
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  conn.enter(Phase::kClosing, options.close_linger);
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
  const AdmissionLimits& limits = options.limits;
  if (limits.max_connections == 0 || limits.reserved_connections >= limits.max_connections) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "the reserved connections (" + std::to_string(limits.reserved_connections) +
                          ") must be fewer than the connections (" +
                          std::to_string(limits.max_connections) + ")");
  }
  metrics.set_connection_slots(limits.max_connections - limits.reserved_connections,
                               limits.reserved_connections);
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
