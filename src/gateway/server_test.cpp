#include "gateway/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "storage/memory_store.h"

namespace imgflow::gateway {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A plain blocking TCP client, so the tests control every byte the server sees. `source` picks
// the client's address: all of 127.0.0.0/8 is loopback, so tests can be several clients.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port, const char* source = "127.0.0.1")
      : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
                 ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{10, 0};  // a safety net: no test waits this long on purpose
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  void send(std::string_view data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Reads one response with a Content-Length body; "" when the server closed the connection.
  // Bytes of a next response that arrived with this one are kept for the next call.
  std::string response() {
    char buf[4096];
    for (;;) {
      const std::size_t end = received_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::size_t cl = received_.find("Content-Length: ");
        const std::size_t length =
            cl == std::string::npos || cl > end ? 0 : std::stoul(received_.substr(cl + 16));
        if (received_.size() >= end + 4 + length) {
          std::string out = received_.substr(0, end + 4 + length);
          received_.erase(0, end + 4 + length);
          return out;
        }
      }
      const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) return std::exchange(received_, {});
      received_.append(buf, static_cast<std::size_t>(got));
    }
  }
  bool closed_by_peer() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }
  // Sends `data` one byte every `pace` until the server ends the connection (what it answers
  // meanwhile is read and dropped) or `limit` passes. How long the server took, or nullopt.
  std::optional<milliseconds> trickle_until_cut(std::string_view data, milliseconds pace,
                                                milliseconds limit) {
    const auto start = SteadyClock::now();
    std::size_t sent = 0;
    while (SteadyClock::now() - start < limit) {
      if (sent < data.size() && ::send(fd_, data.data() + sent, 1, MSG_NOSIGNAL) == 1) ++sent;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(pace.count())) == 1) {
        char buf[4096];
        if (::recv(fd_, buf, sizeof buf, 0) <= 0) {
          return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
        }
      }
    }
    return std::nullopt;
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string received_;
};

class ServerTest : public ::testing::Test {
 protected:
  // The options every test starts from; a test's fixture adjusts them in configure().
  static ServerOptions base_options() {
    ServerOptions options;
    options.port = 0;
    options.header_limit = 2048;
    options.header_timeout = milliseconds(1000);
    options.idle_timeout = milliseconds(1000);
    options.io_timeout = milliseconds(1000);
    options.close_linger = milliseconds(500);
    options.limits.max_connections = 3;
    options.limits.reserved_connections = 1;
    options.limits.max_connections_per_ip = 0;
    options.limits.requests_per_second_per_ip = 0;
    return options;
  }
  virtual void configure(ServerOptions& /*options*/) {}

  void SetUp() override {
    ASSERT_TRUE(store_.create_bucket("uploads"));
    ServerOptions options = base_options();
    configure(options);
    auto server = Server::listen(
        options,
        [this](const HttpRequest& r, storage::ByteSource& body) {
          const HandlerContext ctx{store_, lookup_, core::SystemClock::instance(), options_, {},
                                   {},     {}};
          return handle(r, body, ctx);
        },
        log_, metrics_);
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    std::fclose(log_file_);
  }

  bool metric_is(const std::string& sample) const {
    return registry_.render().find(sample + "\n") != std::string::npos;
  }
  // Waits for the server to report `sample`: state the server publishes, not a guessed sleep.
  bool metric_becomes(const std::string& sample, milliseconds timeout = milliseconds(5000)) const {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    while (!metric_is(sample)) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return true;
  }
  // The log so far, one JSON line each.
  std::string log_text() const {
    std::fflush(log_file_);
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
      ++n;
    }
    return n;
  }

  storage::MemoryStore store_;
  sigv4::CredentialsLookup lookup_ = [](std::string_view) { return std::nullopt; };
  GatewayOptions options_;
  std::string log_path_ = ::testing::TempDir() + "server_test_" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log";
  std::FILE* log_file_ = std::fopen(log_path_.c_str(), "w");
  core::Logger log_{log_file_};
  core::MetricsRegistry registry_;
  Metrics metrics_{registry_};
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

constexpr std::string_view kHealth = "GET /_imgflow/health HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr std::string_view kSmallUpload =
    "PUT /uploads/s.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
    "Content-Length: 2\r\n\r\nok";

TEST_F(ServerTest, KeepAliveCarriesSeveralRequestsEachWithARequestId) {
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  c.send(kHealth);
  const std::string first = c.response();
  c.send(kHealth);
  const std::string second = c.response();
  EXPECT_TRUE(first.starts_with("HTTP/1.1 200")) << first;
  EXPECT_TRUE(second.starts_with("HTTP/1.1 200")) << second;
  const auto id = [](const std::string& r) {
    const std::size_t at = r.find("x-amz-request-id: ");
    return at == std::string::npos ? std::string() : r.substr(at + 18, 16);
  };
  EXPECT_EQ(id(first).size(), 16u);
  EXPECT_NE(id(first), id(second));
}

TEST_F(ServerTest, AnonymousUploadStreamsIntoTheStore) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/a.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  // Chunked transfer without a declared length is refused for the anonymous uploader.
  EXPECT_NE(c.response().find("MissingContentLength"), std::string::npos);
  RawClient d(server_->port());
  d.send(
      "PUT /uploads/a.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_TRUE(d.response().starts_with("HTTP/1.1 100 Continue"));
  d.send("hello");
  EXPECT_TRUE(d.response().starts_with("HTTP/1.1 200"));
  EXPECT_EQ(store_.get_string("uploads", "a.jpg").value_or(""), "hello");
}

TEST_F(ServerTest, VirtualHostedStyleRequestsReachTheirBucket) {
  RawClient c(server_->port());
  c.send(
      "PUT /photos/v.jpg HTTP/1.1\r\nHost: uploads.localhost:9000\r\n"
      "Content-Type: image/jpeg\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(c.response().starts_with("HTTP/1.1 200"));
  EXPECT_EQ(store_.get_string("uploads", "photos/v.jpg").value_or(""), "ok");
}

// A Content-Length body is read from the socket straight into the store's buffer: the bytes that
// came with the header first, then the rest, and never past its end, so a request sent right
// behind it in the same packet is still served.
TEST_F(ServerTest, RequestPipelinedBehindABodyIsServed) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/p.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 5\r\n\r\nhello" +
      std::string(kHealth));
  const std::string put = c.response();
  EXPECT_TRUE(put.starts_with("HTTP/1.1 200")) << put;
  const std::string health = c.response();
  EXPECT_TRUE(health.starts_with("HTTP/1.1 200")) << health;
  EXPECT_NE(health.find("x-amz-request-id"), std::string::npos);
  EXPECT_EQ(store_.get_string("uploads", "p.jpg").value_or(""), "hello");
}

TEST_F(ServerTest, BodyArrivingInPiecesIsStoredWhole) {
  RawClient c(server_->port());
  std::string body;
  for (int i = 0; i < 3000; ++i) body += static_cast<char>('a' + i % 26);
  c.send(
      "PUT /uploads/pieces.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 3000\r\n\r\n" +
      body.substr(0, 1000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.send(body.substr(1000, 1500));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.send(body.substr(2500));
  EXPECT_TRUE(c.response().starts_with("HTTP/1.1 200"));
  EXPECT_EQ(store_.get_string("uploads", "pieces.jpg").value_or(""), body);
}

TEST_F(ServerTest, BodyCutShortStoresNothing) {
  {
    RawClient c(server_->port());
    c.send(
        "PUT /uploads/cut.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        "Content-Length: 100\r\n\r\n0123456789");
  }  // closed with 90 bytes missing
  // Counted once the handler has returned: the upload it was reading is settled by then.
  ASSERT_TRUE(metric_becomes("imgflow_http_request_body_bytes_total 10"));
  EXPECT_FALSE(store_.head("uploads", "cut.jpg"));
  EXPECT_EQ(*store_.count_pending(), 0u);
}

TEST_F(ServerTest, OversizedHeaderIsRefusedAndClosed) {
  RawClient c(server_->port());
  c.send("GET /_imgflow/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') +
         "\r\n\r\n");
  const std::string r = c.response();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << r;
  EXPECT_NE(r.find("RequestHeaderSectionTooLarge"), std::string::npos);
}

TEST_F(ServerTest, StalledBodyTimesOutAndStoresNothing) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/stall.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 100\r\n\r\n0123456789");
  ASSERT_TRUE(metric_becomes("imgflow_http_deadlines_expired_total{phase=\"body\"} 1"));
  ASSERT_TRUE(metric_becomes("imgflow_http_connections 0"));
  c.response();  // whatever was answered, the connection is gone
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_FALSE(store_.head("uploads", "stall.jpg"));
  EXPECT_EQ(*store_.count_pending(), 0u);
}

TEST_F(ServerTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  RawClient c(server_->port());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is a 400, as S3 answers it.
TEST_F(ServerTest, Http11RequestWithoutOneHostIsRefused) {
  {
    RawClient missing(server_->port());
    missing.send("GET /_imgflow/health HTTP/1.1\r\n\r\n");
    const std::string r = missing.response();
    EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << r;
    EXPECT_TRUE(missing.closed_by_peer());
  }
  {
    RawClient twice(server_->port());
    twice.send("GET /_imgflow/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    EXPECT_TRUE(twice.response().starts_with("HTTP/1.1 400 Bad Request\r\n"));
  }
  RawClient old(server_->port());  // HTTP/1.0 has no Host requirement
  old.send("GET /_imgflow/health HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(old.response().starts_with("HTTP/1.1 200 OK\r\n"));
}

// ---- Uploads refused from their Content-Length ------------------------------------------------

class PatientServerTest : public ServerTest {
 protected:
  // Long enough that an answer which waits for the body would show.
  void configure(ServerOptions& options) override { options.io_timeout = milliseconds(30'000); }
};

// The anonymous size limit holds on the declared length: the refusal comes at once, not after a
// megabyte of body nobody wants (or never, when the client waits to be told).
TEST_F(PatientServerTest, OversizedAnonymousUploadIsRefusedFromItsContentLength) {
  RawClient c(server_->port());
  const auto start = SteadyClock::now();
  c.send(
      "PUT /uploads/big.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 62914560\r\n\r\n");
  const std::string r = c.response();
  EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << r;
  EXPECT_NE(r.find("<Code>EntityTooLarge</Code>"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  c.send(std::string(64 << 10, 'x'));  // a body already on its way is read and dropped
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_FALSE(store_.head("uploads", "big.jpg"));
}

TEST_F(PatientServerTest, OversizedUploadExpectingContinueGetsTheRefusalInstead) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/big.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Expect: 100-continue\r\nContent-Length: 62914560\r\n\r\n");
  const std::string r = c.response();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << r;
  EXPECT_NE(r.find("<Code>EntityTooLarge</Code>"), std::string::npos) << r;
  EXPECT_TRUE(c.closed_by_peer());
}

// The same for a browser POST, whose limit can only be applied to the file as it streams: once
// the file passes it, the answer goes out without waiting for the rest of the declared body.
TEST_F(PatientServerTest, OversizedAnonymousPostIsAnsweredWithoutTheRestOfItsBody) {
  options_.anonymous.max_bytes = 50;
  const std::string form =
      "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nbig.jpg\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n" +
      std::string(std::size_t{200} << 10, 'x');  // past the form reader's 128 KiB look-ahead
  RawClient c(server_->port());
  const auto start = SteadyClock::now();
  c.send(
      "POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
      "Content-Length: 10485760\r\n\r\n" +
      form);
  const std::string r = c.response();
  EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << r;
  EXPECT_NE(r.find("<Code>EntityTooLarge</Code>"), std::string::npos) << r;
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_FALSE(store_.head("uploads", "big.jpg"));
}

// A small unread body is still drained after the answer, so the connection carries on.
TEST_F(PatientServerTest, RefusedSmallBodyIsDrainedAndTheConnectionKept) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/doc.txt HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
      "Content-Length: 5\r\n\r\nhello" +
      std::string(kHealth));
  const std::string refused = c.response();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 403 Forbidden\r\n")) << refused;
  EXPECT_TRUE(c.response().starts_with("HTTP/1.1 200 OK\r\n"));
}

// ---- Deadlines --------------------------------------------------------------------------------

class DeadlineTest : public ServerTest {
 protected:
  void configure(ServerOptions& options) override {
    options.header_timeout = milliseconds(500);
    options.idle_timeout = milliseconds(20'000);
    options.io_timeout = milliseconds(500);
    options.min_body_rate = 100;
  }
};

// The header deadline is total and also holds for a keep-alive connection's next request: a
// header sent a byte at a time does not keep the connection for the idle timeout.
TEST_F(DeadlineTest, HeaderTrickledOnAKeepAliveConnectionIsCutAtTheHeaderDeadline) {
  RawClient c(server_->port());
  c.send(kHealth);
  ASSERT_TRUE(c.response().starts_with("HTTP/1.1 200"));
  const auto cut = c.trickle_until_cut("GET /_imgflow/health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaa",
                                       milliseconds(50), milliseconds(8000));
  ASSERT_TRUE(cut.has_value()) << "still open after 8 s";
  EXPECT_GE(*cut, milliseconds(400));
  EXPECT_LT(*cut, milliseconds(3000));
  EXPECT_TRUE(metric_is("imgflow_http_deadlines_expired_total{phase=\"header\"} 1"));
}

// A body trickled below min_body_rate is cut even though no single gap reaches io_timeout.
TEST_F(DeadlineTest, BodyTrickledBelowTheMinimumRateIsCut) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/slow.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 1000\r\n\r\n");
  const auto cut =
      c.trickle_until_cut(std::string(1000, 'x'), milliseconds(50), milliseconds(8000));
  ASSERT_TRUE(cut.has_value()) << "still open after 8 s";
  EXPECT_LT(*cut, milliseconds(3000));
  EXPECT_TRUE(metric_is("imgflow_http_deadlines_expired_total{phase=\"body\"} 1"));
  EXPECT_FALSE(store_.head("uploads", "slow.jpg"));
}

// A body above the minimum rate may take longer than io_timeout in all.
TEST_F(DeadlineTest, BodyAboveTheMinimumRateMayTakeLongerThanTheIoTimeout) {
  RawClient c(server_->port());
  c.send(
      "PUT /uploads/steady.jpg HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: 300\r\n\r\n");
  const auto start = SteadyClock::now();
  for (int i = 0; i < 30; ++i) {  // 10 bytes every 50 ms: 200 bytes/s, twice the minimum
    c.send(std::string(10, 'x'));
    std::this_thread::sleep_for(milliseconds(50));
  }
  const std::string r = c.response();
  EXPECT_GT(SteadyClock::now() - start, milliseconds(1000));
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200")) << r;
  EXPECT_EQ(store_.get_string("uploads", "steady.jpg").value_or("").size(), 300u);
}

// ---- Limits per client address and the reserve ------------------------------------------------

// Without a reserve nothing can give way: a connection past the limit is refused at once.
class FullServerTest : public ServerTest {
 protected:
  void configure(ServerOptions& options) override { options.limits.reserved_connections = 0; }
};

TEST_F(FullServerTest, ConnectionsBeyondTheLimitGet503) {
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawClient>(server_->port()));
    held.back()->send(kHealth);
    held.back()->response();  // admitted and served; the connection stays open
  }
  RawClient extra(server_->port());
  const std::string r = extra.response();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << r;
  EXPECT_NE(r.find("<Code>SlowDown</Code>"), std::string::npos);
  EXPECT_TRUE(metric_is("imgflow_http_connections_refused_total{reason=\"capacity\"} 1"));
}

// With every slot taken, a reserved connection idle between requests gives way to a newcomer
// (once its thread is back waiting, which the client cannot see: the newcomer retries).
TEST_F(ServerTest, IdleReservedConnectionGivesWayWhenTheServerIsFull) {
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) {  // the third is on the reserve
    held.push_back(std::make_unique<RawClient>(server_->port()));
    held.back()->send(kHealth);
    ASSERT_TRUE(held.back()->response().starts_with("HTTP/1.1 200"));
  }
  std::string answer;
  const auto give_up = SteadyClock::now() + std::chrono::seconds(5);
  while (SteadyClock::now() < give_up) {
    RawClient newcomer(server_->port());
    newcomer.send(kHealth);
    answer = newcomer.response();
    if (!answer.starts_with("HTTP/1.1 503")) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(held.back()->closed_by_peer());
}

class LimitsTest : public ServerTest {
 protected:
  void configure(ServerOptions& options) override {
    options.header_timeout = milliseconds(5000);  // idle sockets stay put for the test
    options.limits.max_connections = 6;
    options.limits.reserved_connections = 2;
    options.limits.max_connections_per_ip = 2;
  }
};

// Idle sockets from one address fill its share, not the server: another client is served.
TEST_F(LimitsTest, IdleSocketsFromOneAddressCannotLockOutAnother) {
  RawClient idle1(server_->port(), "127.0.0.2"), idle2(server_->port(), "127.0.0.2");
  RawClient beyond1(server_->port(), "127.0.0.2"), beyond2(server_->port(), "127.0.0.2");
  RawClient fifth(server_->port(), "127.0.0.2");
  const std::string refused = fifth.response();  // accepted in order: the first four are in
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << refused;
  EXPECT_NE(refused.find("<Code>SlowDown</Code>"), std::string::npos);
  EXPECT_TRUE(metric_is("imgflow_http_connections_refused_total{reason=\"per_ip\"} 1"));

  RawClient other(server_->port(), "127.0.0.3");
  other.send(kSmallUpload);
  EXPECT_TRUE(other.response().starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(log_text().find(R"("limit":"connections_per_ip","client_ip":"127.0.0.2")"),
            std::string::npos);
}

// Past its share an address has two reserved connections, for probes only; once those have
// been silent a moment, its next connection takes the place of the oldest. So a monitor on the
// same address as sockets left idle still gets its answer.
TEST_F(LimitsTest, AnAddressPastItsShareStillGetsItsProbesIn) {
  RawClient idle1(server_->port(), "127.0.0.2"), idle2(server_->port(), "127.0.0.2");
  RawClient beyond1(server_->port(), "127.0.0.2"), beyond2(server_->port(), "127.0.0.2");
  std::string answer;
  const auto give_up = SteadyClock::now() + std::chrono::seconds(5);
  while (SteadyClock::now() < give_up) {  // refused (503) until the silent ones are old enough
    RawClient probe(server_->port(), "127.0.0.2");
    probe.send(kHealth);
    answer = probe.response();
    if (!answer.starts_with("HTTP/1.1 503")) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(beyond1.closed_by_peer());  // the oldest silent one made room

  RawClient upload(server_->port(), "127.0.0.2");  // past the share nothing else gets in
  upload.send(kSmallUpload);
  const std::string refused = upload.response();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << refused;
  EXPECT_FALSE(store_.head("uploads", "s.jpg"));
}

// With the shared slots taken, the reserve serves probes and signed requests only.
TEST_F(LimitsTest, ReserveServesProbesAndSignedRequestsOnly) {
  RawClient a1(server_->port(), "127.0.0.2"), a2(server_->port(), "127.0.0.2");
  RawClient b1(server_->port(), "127.0.0.3"), b2(server_->port(), "127.0.0.3");
  RawClient probe(server_->port(), "127.0.0.4");  // the fifth: from the reserve
  probe.send(kHealth);
  EXPECT_TRUE(probe.response().starts_with("HTTP/1.1 200 OK\r\n"));

  RawClient anonymous(server_->port(), "127.0.0.5");
  anonymous.send(kSmallUpload);
  const std::string refused = anonymous.response();
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << refused;
  EXPECT_NE(refused.find("only health checks and signed requests"), std::string::npos);
  EXPECT_TRUE(anonymous.closed_by_peer());
  EXPECT_TRUE(metric_is("imgflow_http_requests_refused_total{reason=\"reserved\"} 1"));
  EXPECT_FALSE(store_.head("uploads", "s.jpg"));

  // A signed request reaches the handler (here its key is unknown, so 403), then gives its
  // reserved slot back: a failed signature does not keep one.
  RawClient signed_request(server_->port(), "127.0.0.6");
  signed_request.send(
      "GET /uploads/s.jpg HTTP/1.1\r\nHost: x\r\nx-amz-date: 20250101T000000Z\r\n"
      "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nAuthorization: AWS4-HMAC-SHA256 "
      "Credential=AKIDUNKNOWN/20250101/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" +
      std::string(64, '0') + "\r\n\r\n");
  const std::string answer = signed_request.response();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 403 Forbidden\r\n")) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_TRUE(signed_request.closed_by_peer());
}

// Sockets that take the reserve and say nothing give way to a newcomer, oldest first, so they
// cannot keep a health check out by holding every slot.
TEST_F(LimitsTest, SilentSocketsInTheReserveGiveWayToANewcomer) {
  RawClient a1(server_->port(), "127.0.0.2"), a2(server_->port(), "127.0.0.2");
  RawClient b1(server_->port(), "127.0.0.3"), b2(server_->port(), "127.0.0.3");
  RawClient silent1(server_->port(), "127.0.0.4"), silent2(server_->port(), "127.0.0.5");
  RawClient probe(server_->port(), "127.0.0.6");  // every slot is taken: silent1 is cut for it
  probe.send(kHealth);
  const std::string r = probe.response();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_TRUE(silent1.closed_by_peer());
}

class RateLimitTest : public ServerTest {
 protected:
  void configure(ServerOptions& options) override {
    options.limits.max_connections = 8;
    options.limits.requests_per_second_per_ip = 0.001;  // no refill during the test
    options.limits.request_burst_per_ip = 3;
  }
};

TEST_F(RateLimitTest, AnonymousRequestsBeyondTheRateGetSlowDownProbesDoNot) {
  options_.anonymous.may_overwrite = true;  // the same small upload, again and again
  RawClient c(server_->port());
  for (int i = 0; i < 3; ++i) {
    c.send(kSmallUpload);
    const std::string got = c.response();
    ASSERT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
  }
  for (int i = 0; i < 4; ++i) {
    RawClient over(server_->port());
    over.send(kSmallUpload);
    const std::string r = over.response();
    EXPECT_TRUE(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << r;
    EXPECT_NE(r.find("Please reduce your request rate."), std::string::npos) << r;
    EXPECT_TRUE(over.closed_by_peer());
  }
  EXPECT_TRUE(metric_is("imgflow_http_requests_refused_total{reason=\"rate\"} 4"));

  RawClient probe(server_->port());  // the same address: probes are never throttled
  probe.send(kHealth);
  EXPECT_TRUE(probe.response().starts_with("HTTP/1.1 200 OK\r\n"));
  RawClient other(server_->port(), "127.0.0.2");  // and other addresses have their own bucket
  other.send(kSmallUpload);
  EXPECT_TRUE(other.response().starts_with("HTTP/1.1 200 OK\r\n"));

  // Four refusals, one log line: the episode's start (its end comes after a quiet spell).
  const std::string log = log_text();
  EXPECT_EQ(count(log, R"("msg":"limit reached")"), 1u) << log;
  EXPECT_EQ(count(log, R"("limit":"requests_per_ip","client_ip":"127.0.0.1")"), 1u) << log;
}

}  // namespace
}  // namespace imgflow::gateway
