#include "scan/clamd_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "support/clamd_daemon.h"

namespace imgflow::scan {
namespace {

using core::ErrorCode;
using test_support::ClamdDaemon;
using namespace std::chrono_literals;

ClamdAddress address_of(const std::string& text) {
  auto address = parse_clamd_address(text);
  EXPECT_TRUE(address) << address.error().message;
  return address.value_or(ClamdAddress{});
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A real photo with `comment` in a COM segment right after SOI: still a valid JPEG, which is
// how a payload rides in on an image upload.
std::string jpeg_with_comment(std::string_view comment) {
  const std::string jpeg =
      read_file(std::filesystem::path(IMGFLOW_SOURCE_DIR) / "samples" / "landscape.jpg");
  EXPECT_EQ(jpeg.substr(0, 2), "\xff\xd8");
  return test_support::with_jpeg_comment(jpeg, comment);
}

// One clamd for the suite (it starts in ~0.1 s, but there are many cases).
std::unique_ptr<ClamdDaemon> suite_daemon;
std::string suite_daemon_error;

class ClamdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { suite_daemon = ClamdDaemon::start(suite_daemon_error); }
  static void TearDownTestSuite() { suite_daemon.reset(); }
  void SetUp() override { ASSERT_NE(suite_daemon, nullptr) << suite_daemon_error; }

  static ClamdClient unix_client(ClamdOptions options = {}) {
    return {address_of(suite_daemon->unix_address()), options};
  }
  static ClamdClient tcp_client(ClamdOptions options = {}) {
    return {address_of(suite_daemon->tcp_address()), options};
  }
};

TEST_F(ClamdClientTest, CleanBytesAreClean) {
  for (const ClamdClient& client : {unix_client(), tcp_client()}) {
    auto verdict = client.scan("just some bytes");
    ASSERT_TRUE(verdict) << client.name() << ": " << verdict.error().to_string();
    EXPECT_FALSE(verdict->infected());
  }
}

TEST_F(ClamdClientTest, ACleanPhotoIsClean) {
  auto verdict = unix_client().scan(jpeg_with_comment("a harmless comment"));
  ASSERT_TRUE(verdict) << verdict.error().to_string();
  EXPECT_FALSE(verdict->infected());
}

TEST_F(ClamdClientTest, AJpegCarryingTheMarkerIsInfectedBySignatureName) {
  const std::string jpeg = jpeg_with_comment(test_support::kClamdMarker);
  for (const ClamdClient& client : {unix_client(), tcp_client()}) {
    auto verdict = client.scan(jpeg);
    ASSERT_TRUE(verdict) << client.name() << ": " << verdict.error().to_string();
    EXPECT_TRUE(verdict->infected());
    EXPECT_EQ(verdict->signature, std::string(test_support::kClamdMarkerSignature) + ".UNOFFICIAL");
  }
}

TEST_F(ClamdClientTest, EicarIsInfected) {
  auto verdict = unix_client().scan(test_support::eicar());
  ASSERT_TRUE(verdict) << verdict.error().to_string();
  EXPECT_TRUE(verdict->infected());
  EXPECT_EQ(verdict->signature, std::string(test_support::kEicarSignature) + ".UNOFFICIAL");
}

TEST_F(ClamdClientTest, SmallChunksStreamTheSameVerdict) {
  auto verdict = unix_client({.chunk_bytes = 7}).scan(test_support::eicar());
  ASSERT_TRUE(verdict) << verdict.error().to_string();
  EXPECT_TRUE(verdict->infected());
}

TEST_F(ClamdClientTest, OverClamdsStreamMaxLengthIsTooLargeNeverClean) {
  const std::string big(3U << 20U, 'a');  // 3 MiB against clamd's 1 MiB
  for (const ClamdClient& client : {unix_client(), tcp_client()}) {
    auto verdict = client.scan(big);
    ASSERT_FALSE(verdict) << client.name() << " called it "
                          << (verdict->infected() ? "infected" : "clean");
    EXPECT_EQ(verdict.error().code, ErrorCode::kTooLarge)
        << client.name() << ": " << verdict.error().to_string();
  }
}

TEST_F(ClamdClientTest, OverOurMaxBytesIsTooLargeWithoutSendingAByte) {
  const ClamdClient client(address_of("unix:/nonexistent/clamd.sock"), {.max_bytes = 10});
  auto verdict = client.scan("eleven byte");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(verdict.error().message.find("scan.max_bytes"), std::string::npos);
}

TEST_F(ClamdClientTest, PingAndVersion) {
  EXPECT_TRUE(unix_client().ping());
  auto version = tcp_client().version();
  ASSERT_TRUE(version) << version.error().to_string();
  EXPECT_TRUE(version->engine.starts_with("ClamAV 1.")) << version->engine;
  EXPECT_EQ(version->database, "");  // local signature files only
}

TEST(ClamdClient, AStoppedClamdIsUnavailable) {
  std::string why;
  auto daemon = ClamdDaemon::start(why);
  ASSERT_NE(daemon, nullptr) << why;
  const ClamdClient by_socket(address_of(daemon->unix_address()), {});
  const ClamdClient by_tcp(address_of(daemon->tcp_address()), {});
  ASSERT_TRUE(by_socket.scan("x"));
  daemon->stop();
  for (const ClamdClient* client : {&by_socket, &by_tcp}) {
    auto verdict = client->scan("x");
    ASSERT_FALSE(verdict) << client->name();
    EXPECT_EQ(verdict.error().code, ErrorCode::kUnavailable) << verdict.error().to_string();
    EXPECT_NE(verdict.error().message.find("cannot connect"), std::string::npos);
  }
}

// A Unix socket served by the test, for replies no real clamd gives on demand.
class FakeClamd {
 public:
  FakeClamd() {
    std::string templ = "/tmp/imgflow-fake-clamd-XXXXXX";
    dir_ = ::mkdtemp(templ.data());
    path_ = dir_ + "/s";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
  }
  FakeClamd(const FakeClamd&) = delete;
  FakeClamd& operator=(const FakeClamd&) = delete;
  ~FakeClamd() {
    if (server_.joinable()) server_.join();
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  ClamdAddress address() const { return address_of("unix:" + path_); }

  // Accepts one connection, writes `reply` and closes it without reading the request.
  void answer_once(std::string reply) {
    server_ = std::thread([this, reply = std::move(reply)] {
      const int conn = ::accept(fd_, nullptr, nullptr);
      (void)::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(conn);
    });
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::thread server_;
};

TEST(ClamdClient, AServerThatNeverAnswersTimesOutWithinTheDeadline) {
  FakeClamd silent;  // listens, never accepts: connect succeeds (the backlog), no reply comes
  const ClamdClient client(silent.address(), {.timeout = 300ms});
  const auto start = std::chrono::steady_clock::now();
  auto verdict = client.scan("x");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code, ErrorCode::kTimeout) << verdict.error().to_string();
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
}

TEST(ClamdClient, ATimeoutAlsoBoundsAStreamTheServerStopsReading) {
  FakeClamd silent;  // 8 MiB fills the socket buffers long before the end
  const ClamdClient client(silent.address(), {.timeout = 300ms});
  const auto start = std::chrono::steady_clock::now();
  auto verdict = client.scan(std::string(8U << 20U, 'a'));
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code, ErrorCode::kTimeout) << verdict.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(ClamdClient, AGarbledReplyIsCorruptNeverClean) {
  FakeClamd garbled;
  garbled.answer_once(std::string("stream: OK but not really\0", 26));
  auto verdict = ClamdClient(garbled.address(), {.timeout = 5s}).scan("x");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code, ErrorCode::kCorrupt) << verdict.error().to_string();
}

TEST(ClamdClient, AConnectionClosedWithoutAReplyIsUnavailable) {
  FakeClamd closing;
  closing.answer_once("");
  auto verdict = ClamdClient(closing.address(), {.timeout = 5s}).scan("x");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code, ErrorCode::kUnavailable) << verdict.error().to_string();
}

}  // namespace
}  // namespace imgflow::scan
