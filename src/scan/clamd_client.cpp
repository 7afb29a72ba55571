#include "scan/clamd_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace imgflow::scan {
namespace {

using core::ErrorCode;
using SteadyClock = std::chrono::steady_clock;

tl::unexpected<core::Error> error(ErrorCode code, std::string message) {
  return tl::unexpected<core::Error>(core::Error{code, std::move(message), "clamd"});
}

std::string errno_text(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe)

// The one owner of a socket descriptor.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&&) = delete;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// One command's deadline: every wait takes what is left of it, so no step can hang.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget)
      : budget_(budget), at_(SteadyClock::now() + budget) {}

  int remaining_ms() const {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - SteadyClock::now());
    return left.count() > 0 ? static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30)) : 0;
  }

  tl::unexpected<core::Error> expired(std::string_view step) const {
    return error(ErrorCode::kTimeout, "clamd did not " + std::string(step) + " within " +
                                          std::to_string(budget_.count()) + " ms");
  }

 private:
  std::chrono::milliseconds budget_;
  SteadyClock::time_point at_;
};

// Waits until `fd` is ready for `events` (or has an error, which the next call reports).
core::Status wait_for(int fd, short events, const Deadline& deadline, std::string_view step) {
  pollfd entry{.fd = fd, .events = events, .revents = 0};
  for (;;) {
    const int ms = deadline.remaining_ms();
    if (ms == 0) return deadline.expired(step);
    const int ready = ::poll(&entry, 1, ms);
    if (ready > 0) return {};
    if (ready == 0) return deadline.expired(step);
    if (errno != EINTR) {
      return error(ErrorCode::kInternal, "poll on the clamd socket: " + errno_text(errno));
    }
  }
}

tl::unexpected<core::Error> cannot_connect(const ClamdAddress& address, std::string why) {
  return error(ErrorCode::kUnavailable,
               "cannot connect to clamd at " + address.to_string() + ": " + std::move(why));
}

// A non-blocking connect to one socket address, finished within the deadline.
core::Result<Socket> connect_one(const ClamdAddress& address, int family, const sockaddr* to,
                                 socklen_t length, const Deadline& deadline) {
  Socket socket(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) return cannot_connect(address, "socket: " + errno_text(errno));
  if (::connect(socket.fd(), to, length) == 0) return socket;
  if (errno != EINPROGRESS && errno != EAGAIN) return cannot_connect(address, errno_text(errno));
  if (auto ok = wait_for(socket.fd(), POLLOUT, deadline, "accept the connection"); !ok) {
    return core::fail(ok.error());
  }
  int err = 0;
  socklen_t err_length = sizeof err;
  if (::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &err, &err_length) != 0) err = errno;
  if (err != 0) return cannot_connect(address, errno_text(err));
  return socket;
}

core::Result<Socket> connect_unix(const ClamdAddress& address, const Deadline& deadline) {
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  if (address.path.size() >= sizeof to.sun_path) return cannot_connect(address, "path too long");
  std::memcpy(to.sun_path, address.path.c_str(), address.path.size() + 1);
  return connect_one(address, AF_UNIX, reinterpret_cast<const sockaddr*>(&to), sizeof to, deadline);
}

struct AddrinfoFree {
  void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};

// Tries each address the host resolves to. Name resolution itself is the resolver's (bounded by
// resolv.conf's timeouts, not by the deadline): use an address, not a name, where that matters.
core::Result<Socket> connect_tcp(const ClamdAddress& address, const Deadline& deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return cannot_connect(address, ::gai_strerror(rc));
  }
  const std::unique_ptr<addrinfo, AddrinfoFree> list(found);
  core::Error last{ErrorCode::kUnavailable, "no address"};
  for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    auto socket = connect_one(address, a->ai_family, a->ai_addr, a->ai_addrlen, deadline);
    if (socket || socket.error().code == ErrorCode::kTimeout) return socket;
    last = socket.error();
  }
  return core::fail(last);
}

core::Result<Socket> connect_to(const ClamdAddress& address, const Deadline& deadline) {
  return address.kind == ClamdAddress::Kind::kUnix ? connect_unix(address, deadline)
                                                   : connect_tcp(address, deadline);
}

// Why a send stopped early: clamd closing its end is part of the protocol (it stops reading
// at StreamMaxLength and then replies), so the caller still reads the reply.
enum class SendEnd { kSent, kPeerClosed };

core::Result<SendEnd> send_all(int fd, std::string_view data, const Deadline& deadline) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a closed peer is an EPIPE here, not a SIGPIPE that kills the process.
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto ok = wait_for(fd, POLLOUT, deadline, "take the data"); !ok) {
        return core::fail(ok.error());
      }
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return SendEnd::kPeerClosed;
    return error(ErrorCode::kUnavailable, "sending to clamd: " + errno_text(errno));
  }
  return SendEnd::kSent;
}

std::array<char, 4> big_endian(std::uint32_t n) {
  return {static_cast<char>(n >> 24U), static_cast<char>(n >> 16U), static_cast<char>(n >> 8U),
          static_cast<char>(n)};
}

// INSTREAM's body: each chunk after its 4-byte big-endian length, then a zero length.
core::Result<SendEnd> send_stream(int fd, std::string_view bytes, std::size_t chunk_bytes,
                                  const Deadline& deadline) {
  while (!bytes.empty()) {
    const std::string_view chunk = bytes.substr(0, chunk_bytes);
    bytes.remove_prefix(chunk.size());
    const auto length = big_endian(static_cast<std::uint32_t>(chunk.size()));
    for (const std::string_view part : {std::string_view(length.data(), length.size()), chunk}) {
      auto sent = send_all(fd, part, deadline);
      if (!sent || *sent == SendEnd::kPeerClosed) return sent;
    }
  }
  const auto end = big_endian(0);
  return send_all(fd, std::string_view(end.data(), end.size()), deadline);
}

// Reads up to and including the reply's NUL, or until clamd closes the connection. Stops past
// kMaxReplyBytes (the parser refuses such a reply).
core::Result<std::string> read_reply(int fd, const Deadline& deadline) {
  std::string reply;
  std::array<char, 512> buffer{};
  while (reply.find('\0') == std::string::npos && reply.size() <= kMaxReplyBytes) {
    if (auto ok = wait_for(fd, POLLIN, deadline, "reply"); !ok) return core::fail(ok.error());
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      reply.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return error(ErrorCode::kUnavailable, "reading clamd's reply: " + errno_text(errno));
    }
  }
  if (reply.empty()) {
    return error(ErrorCode::kUnavailable, "clamd closed the connection without a reply");
  }
  if (const auto nul = reply.find('\0'); nul != std::string::npos) reply.resize(nul + 1);
  return reply;
}

}  // namespace

ClamdClient::ClamdClient(ClamdAddress address, ClamdOptions options)
    : address_(std::move(address)), options_(options) {}

core::Result<std::string> ClamdClient::exchange(std::string_view command,
                                                const std::string_view* stream) const {
  const Deadline deadline(options_.timeout);
  auto socket = connect_to(address_, deadline);
  if (!socket) return core::fail(socket.error());
  auto sent = send_all(socket->fd(), command, deadline);
  if (sent && *sent == SendEnd::kSent && stream != nullptr) {
    sent = send_stream(socket->fd(), *stream, options_.chunk_bytes, deadline);
  }
  if (!sent) return core::fail(sent.error());
  // Also after kPeerClosed: clamd may have replied before closing (size limit exceeded).
  return read_reply(socket->fd(), deadline);
}

core::Result<Verdict> ClamdClient::scan(std::string_view bytes) const {
  if (bytes.size() > options_.max_bytes) {
    return error(ErrorCode::kTooLarge, "not scanned: " + std::to_string(bytes.size()) +
                                           " bytes is over scan.max_bytes (" +
                                           std::to_string(options_.max_bytes) + ")");
  }
  auto reply = exchange(std::string_view("zINSTREAM\0", 10), &bytes);
  if (!reply) return core::fail(reply.error());
  return parse_scan_reply(*reply);
}

core::Status ClamdClient::ping() const {
  auto reply = exchange(std::string_view("zPING\0", 6), nullptr);
  if (!reply) return core::fail(reply.error());
  return parse_ping_reply(*reply);
}

core::Result<ClamdVersion> ClamdClient::version() const {
  auto reply = exchange(std::string_view("zVERSION\0", 9), nullptr);
  if (!reply) return core::fail(reply.error());
  return parse_version_reply(*reply);
}

std::string ClamdClient::name() const { return "clamd " + address_.to_string(); }

}  // namespace imgflow::scan
