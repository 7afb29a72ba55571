#pragma once

// Test support: a tiny loopback HTTP server for client tests. Header-only; tests only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace imgflow::http::testing_support {

// A one-connection HTTP server on 127.0.0.1: reads one request (headers, then a body by
// Content-Length or chunked framing), answers with whatever `respond` returns and closes.
class LoopbackServer {
 public:
  using Respond = std::function<std::string(const std::string& raw_request)>;

  explicit LoopbackServer(Respond respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ok_ = ok_ && ::listen(fd_, 1) == 0;
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }

  // False if the socket could not be set up (the test should fail).
  bool ok() const { return ok_; }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  // The raw request as received; call after the client returned.
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    const int conn = ::accept(fd_, nullptr, nullptr);
    if (conn < 0) return;
    read_request(conn);
    const std::string reply = respond_(request_);
    std::size_t sent = 0;
    while (sent < reply.size()) {
      const ssize_t n = ::send(conn, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(conn, SHUT_WR);
    ::close(conn);
  }

  bool complete() const {
    const auto end = request_.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const std::string head = request_.substr(0, end);
    if (head.find("Transfer-Encoding: chunked") != std::string::npos) {
      return request_.find("\r\n0\r\n\r\n", end) != std::string::npos;
    }
    const auto cl = head.find("Content-Length: ");
    if (cl == std::string::npos) return true;
    const auto length = std::stoul(head.substr(cl + 16));
    return request_.size() >= end + 4 + length;
  }

  void read_request(int conn) {
    char buf[65536];
    while (!complete()) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) return;
      const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) return;
      request_.append(buf, static_cast<std::size_t>(n));
    }
  }

  Respond respond_;
  bool ok_ = false;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

}  // namespace imgflow::http::testing_support
