// libFuzzer target: clamd's replies (scan, version, ping) and the recipe's clamd address must
// turn any bytes into a value or an Error with a message, never crash, throw or hang; and no
// garbage may read as "clean" unless it is exactly clamd's OK.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "scan/clamd_address.h"
#include "scan/reply.h"

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace imgflow::scan;  // NOLINT(google-build-using-namespace)
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto verdict = parse_scan_reply(text)) {
    if (!verdict->infected() && text != std::string_view("stream: OK\0", 11)) __builtin_trap();
    if (verdict->infected() && verdict->signature.empty()) __builtin_trap();
  } else if (verdict.error().message.empty()) {
    __builtin_trap();
  }
  if (const auto version = parse_version_reply(text); !version && version.error().message.empty()) {
    __builtin_trap();
  }
  (void)parse_ping_reply(text);
  if (const auto address = parse_clamd_address(text)) {
    // The recipe's spelling must read back as the same address.
    const auto again = parse_clamd_address(address->to_string());
    if (!again || *again != *address) __builtin_trap();
  } else if (address.error().message.empty()) {
    __builtin_trap();
  }
  return 0;
}
