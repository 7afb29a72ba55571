#include "gateway/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
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
    options.header_timeout = std::chrono::seconds(1);
    options.idle_timeout = std::chrono::seconds(1);
    options.io_timeout = std::chrono::seconds(1);
    options.close_linger = milliseconds(500);
    options.max_connections = 3;
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
    std::fclose(devnull_);
  }

  bool metric_is(const std::string& sample) const {
    return metrics_.text().find(sample + "\n") != std::string::npos;
  }
  storage::MemoryStore store_;
  sigv4::CredentialsLookup lookup_ = [](std::string_view) { return std::nullopt; };
  GatewayOptions options_;
  std::FILE* devnull_ = std::fopen("/dev/null", "w");
  core::Logger log_{devnull_};
  Metrics metrics_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

constexpr std::string_view kHealth = "GET /_imgflow/health HTTP/1.1\r\nHost: x\r\n\r\n";
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
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
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
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
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

TEST_F(ServerTest, ConnectionsBeyondTheLimitGet503) {
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
  EXPECT_TRUE(metric_is("imgflow_http_connections_refused_total 1"));
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
  void configure(ServerOptions& options) override { options.io_timeout = std::chrono::seconds(30); }
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
  options_.max_anonymous_upload = 50;
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

}  // namespace
}  // namespace imgflow::gateway
