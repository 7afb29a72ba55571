#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

// Where clamd listens, as the recipe's `scan.clamd` names it. Parsed once, from the recipe,
// into this typed value; the client never reads the text again.
namespace imgflow::scan {

struct ClamdAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path{};      // kUnix: the socket's absolute path (clamd.conf's LocalSocket)
  std::string host{};      // kTcp: a host name, an IPv4 address or an IPv6 address (no brackets)
  std::uint16_t port = 0;  // kTcp: 1..65535 (clamd.conf's TCPSocket)

  bool operator==(const ClamdAddress&) const = default;
  // The recipe's spelling: "unix:/run/clamav/clamd.ctl", "tcp://127.0.0.1:3310",
  // "tcp://[::1]:3310". parse_clamd_address(to_string()) gives this address back.
  std::string to_string() const;
};

// Parses "unix:/absolute/path" or "tcp://HOST:PORT" (an IPv6 HOST in brackets). Returns
// kInvalidArgument, saying which part is wrong, for anything else: another scheme, a relative
// or over-long socket path, a missing or out-of-range port, control characters or spaces.
core::Result<ClamdAddress> parse_clamd_address(std::string_view text);

}  // namespace imgflow::scan
