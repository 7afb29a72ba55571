#include "scan/clamd_address.h"

#include <sys/un.h>

#include <charconv>

namespace imgflow::scan {
namespace {

using core::ErrorCode;

constexpr std::string_view kUnixScheme = "unix:";
constexpr std::string_view kTcpScheme = "tcp://";
constexpr std::string_view kForm = "; expected unix:/path/to/clamd.ctl or tcp://HOST:PORT";

tl::unexpected<core::Error> invalid(std::string what) {
  return core::fail(ErrorCode::kInvalidArgument, "clamd address: " + std::move(what));
}

// Spaces and control characters are never part of a path or host someone meant to write.
bool printable_without_spaces(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

core::Result<ClamdAddress> parse_unix(std::string_view path) {
  if (path.empty()) return invalid("unix: needs a socket path" + std::string(kForm));
  if (!path.starts_with('/')) {
    return invalid("the socket path must be absolute (unix:/...), got \"" + std::string(path) +
                   "\"");
  }
  // sockaddr_un holds the path and its terminating NUL.
  constexpr std::size_t kMaxPath = sizeof(sockaddr_un{}.sun_path) - 1;
  if (path.size() > kMaxPath) {
    return invalid("the socket path is " + std::to_string(path.size()) +
                   " bytes; a Unix socket path holds at most " + std::to_string(kMaxPath));
  }
  return ClamdAddress{.kind = ClamdAddress::Kind::kUnix, .path = std::string(path)};
}

core::Result<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535 || text.front() == '+') {
    return invalid("the port must be a number from 1 to 65535, got \"" + std::string(text) + "\"");
  }
  return static_cast<std::uint16_t>(value);
}

core::Result<ClamdAddress> parse_tcp(std::string_view rest) {
  std::string_view host;
  std::string_view port;
  if (rest.starts_with('[')) {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return invalid("an IPv6 host is written tcp://[ADDRESS]:PORT");
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return invalid("tcp:// needs a port" + std::string(kForm));
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalid("an IPv6 host must be in brackets: tcp://[ADDRESS]:PORT");
    }
  }
  if (host.empty()) return invalid("tcp:// needs a host" + std::string(kForm));
  // Only what a host name or an address is made of, so the address reads back as written
  // (to_string brackets exactly the hosts with a ':'); a user, path or query is not a host.
  const bool ipv6 = rest.starts_with('[');
  const std::string_view allowed = ipv6 ? "0123456789abcdefABCDEF:."
                                        : "0123456789abcdefghijklmnopqrstuvwxyz"
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_";
  if (host.find_first_not_of(allowed) != std::string_view::npos ||
      (ipv6 && host.find(':') == std::string_view::npos)) {
    return invalid(ipv6 ? "the host in brackets must be an IPv6 address, got \"" +
                              std::string(host) + "\""
                        : "tcp:// takes HOST:PORT only (a host name or IPv4 address; no user, "
                          "path or query), got \"" +
                              std::string(host) + "\"");
  }
  auto number = parse_port(port);
  if (!number) return core::fail(number.error());
  return ClamdAddress{.kind = ClamdAddress::Kind::kTcp, .host = std::string(host), .port = *number};
}

}  // namespace

std::string ClamdAddress::to_string() const {
  if (kind == Kind::kUnix) return std::string(kUnixScheme) + path;
  const bool ipv6 = host.find(':') != std::string::npos;
  return std::string(kTcpScheme) + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

core::Result<ClamdAddress> parse_clamd_address(std::string_view text) {
  if (text.empty()) return invalid("empty" + std::string(kForm));
  if (!printable_without_spaces(text)) {
    return invalid("contains a space or a control character" + std::string(kForm));
  }
  if (text.starts_with(kUnixScheme)) return parse_unix(text.substr(kUnixScheme.size()));
  if (text.starts_with(kTcpScheme)) return parse_tcp(text.substr(kTcpScheme.size()));
  return invalid("\"" + std::string(text) + "\" has no known scheme" + std::string(kForm));
}

}  // namespace imgflow::scan
