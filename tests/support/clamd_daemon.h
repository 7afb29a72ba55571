#pragma once

// A real clamd for tests: started in the foreground with its own clamd.conf and a temporary
// signature database (a marker body signature and EICAR's hash), on a Unix socket and a TCP
// port of its own, never the system's daemon and never the network. Needs Debian's
// clamav-daemon (scripts/install-deps installs it); without it start() says so, and the
// tests fail rather than skip. Test-only and header-only.

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

namespace imgflow::test_support {

inline constexpr const char* kClamdBinary = "/usr/sbin/clamd";

// Bytes the test database detects as kClamdMarkerSignature (+ ".UNOFFICIAL" in verdicts).
inline constexpr std::string_view kClamdMarker = "IMGFLOW-SCAN-TEST-MARKER-7f3a";
inline constexpr std::string_view kClamdMarkerSignature = "Imgflow.Test.Marker";
inline constexpr std::string_view kEicarSignature = "Eicar-Test-Signature";

// The EICAR test file, assembled at run time so that no source file carries it whole (a
// scanner on a developer's machine would flag the file).
inline std::string eicar() {
  return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-" +
         "TEST-FILE!$H+H*";
}

// `jpeg` with `comment` in a COM segment right after SOI: still a valid JPEG, which is how a
// payload rides in on an image upload, and only a scanner can tell.
inline std::string with_jpeg_comment(const std::string& jpeg, std::string_view comment) {
  const std::size_t length = comment.size() + 2;  // the length field counts itself
  std::string segment = "\xff\xfe";
  segment += static_cast<char>(length >> 8U);
  segment += static_cast<char>(length & 0xffU);
  segment += comment;
  return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

struct ClamdConfig {
  std::uint64_t stream_max_bytes = 1U << 20U;  // StreamMaxLength, MaxFileSize, MaxScanSize
};

class ClamdDaemon {
 public:
  // Starts clamd and waits (bounded) until it answers PING. On failure returns null and sets
  // `why` to a message naming the cause (not installed, exited early, no answer in time).
  static std::unique_ptr<ClamdDaemon> start(std::string& why, ClamdConfig config = {}) {
    if (::access(kClamdBinary, X_OK) != 0) {
      why = std::string(kClamdBinary) +
            " is not installed: the scan tests need Debian's clamav-daemon (scripts/install-deps)";
      return nullptr;
    }
    std::unique_ptr<ClamdDaemon> daemon(new ClamdDaemon(config));
    if (!daemon->launch(why)) return nullptr;
    return daemon;
  }

  ClamdDaemon(const ClamdDaemon&) = delete;
  ClamdDaemon& operator=(const ClamdDaemon&) = delete;
  ~ClamdDaemon() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string socket_path() const { return (dir_ / "clamd.sock").string(); }
  std::uint16_t tcp_port() const { return port_; }
  std::string unix_address() const { return "unix:" + socket_path(); }
  std::string tcp_address() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return read((dir_ / "clamd.log")); }

  // SIGTERM, then SIGKILL if it has not exited within five seconds. Idempotent.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

 private:
  explicit ClamdDaemon(ClamdConfig config) : config_(config) {
    std::string templ = (std::filesystem::temp_directory_path() / "imgflow-clamd-XXXXXX").string();
    if (::mkdtemp(templ.data()) != nullptr) dir_ = templ;
    // A short path: a Unix socket path holds at most 107 bytes.
  }

  static std::string read(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static std::string hex(std::string_view bytes) {
    static constexpr std::string_view kDigits = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
      const auto u = static_cast<unsigned char>(c);
      out += kDigits[u >> 4U];
      out += kDigits[u & 0xfU];
    }
    return out;
  }

  // A port the kernel just handed out, free again: clamd binds it a moment later.
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      addr.sin_port = 0;  // clamd then fails to start, and start() says so
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  void write_files() {
    const auto db = dir_ / "db";
    std::filesystem::create_directories(db);
    // A body signature (Name:TargetType:Offset:HexBytes) for the marker anywhere in any file.
    std::ofstream(db / "imgflow-test.ndb")
        << kClamdMarkerSignature << ":0:*:" << hex(kClamdMarker) << "\n";
    // EICAR is not built into clamd: its MD5 and size (MD5:Size:Name).
    std::ofstream(db / "eicar.hdb")
        << "44d88612fea8a8f36de82e1278abb02f:68:" << kEicarSignature << "\n";
    const std::string limit = std::to_string(config_.stream_max_bytes);
    std::ofstream(dir_ / "clamd.conf") << "Foreground yes\n"
                                       << "LocalSocket " << socket_path() << "\n"
                                       << "TCPSocket " << port_ << "\nTCPAddr 127.0.0.1\n"
                                       << "DatabaseDirectory " << db.string() << "\n"
                                       << "StreamMaxLength " << limit << "\nMaxFileSize " << limit
                                       << "\nMaxScanSize " << limit << "\n"
                                       << "AlertExceedsMax yes\n"
                                       << "LogFile " << (dir_ / "clamd.log").string() << "\n";
  }

  bool spawn(std::string& why) {
    const std::string config = "--config-file=" + (dir_ / "clamd.conf").string();
    const std::string out = (dir_ / "clamd.out").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::array<char*, 4> argv = {const_cast<char*>(kClamdBinary), const_cast<char*>("--foreground"),
                                 const_cast<char*>(config.c_str()), nullptr};
    const int rc = ::posix_spawn(&pid_, kClamdBinary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      why = std::string("cannot start ") + kClamdBinary + ": " + std::strerror(rc);
      pid_ = -1;
      return false;
    }
    return true;
  }

  // One zPING over the Unix socket: true on PONG.
  bool answers_ping() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = socket_path();
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    bool pong = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, "zPING", 6, MSG_NOSIGNAL) == 6) {
      std::array<char, 16> reply{};
      timeval limit{.tv_sec = 1, .tv_usec = 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      pong = ::recv(fd, reply.data(), reply.size(), MSG_WAITALL) == 5 &&
             std::string_view(reply.data(), 5) == std::string_view("PONG\0", 5);
    }
    ::close(fd);
    return pong;
  }

  bool launch(std::string& why) {
    if (dir_.empty()) {
      why = "cannot create a temporary directory for clamd";
      return false;
    }
    port_ = free_port();
    write_files();
    if (!spawn(why)) return false;
    // Loading two signatures takes ~0.1 s; 30 s allows for a loaded CI machine.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (answers_ping()) return true;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        why = "clamd exited during start-up:\n" + read(dir_ / "clamd.out");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    why = "clamd did not answer PING within 30 s:\n" + read(dir_ / "clamd.out");
    return false;
  }

  ClamdConfig config_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace imgflow::test_support
