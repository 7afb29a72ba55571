#pragma once

#include <cstddef>
#include <cstdint>

#include "gateway/admission.h"

namespace imgflow::gateway {

// What bounds the number of connections on this machine.
struct ConnectionResources {
  std::uint64_t memory_bytes = 0;  // what the process may use: core::machine_resources()
  std::uint64_t open_files = 0;    // open_file_limit()
};

// The soft RLIMIT_NOFILE; 0 when it is unlimited or cannot be read.
std::uint64_t open_file_limit();

// What one connection may cost at worst: an upload in flight holds the 64 KiB socket buffer,
// the 64 KiB response chunk, the store's ring of four 128 KiB pieces and its thread's touched
// stack; rounded up.
inline constexpr std::uint64_t kConnectionCostBytes = std::uint64_t{1} << 20;

// The default max_connections: an eighth of the memory at kConnectionCostBytes each (the rest is
// the workers' images), at most half the open files (a socket and an upload's file each, less a
// margin for the store and the logs), and between 32 and 1024 (a thread each: past a thousand,
// threads cost more in scheduling than they serve, and embedded mode serves one site). A
// resource given as 0 bounds nothing.
std::size_t connection_budget(const ConnectionResources& machine);

// The limits for a server of `max_connections`: an eighth of it reserved (at least 4, at most
// half), and each address allowed a quarter of the shared share, at most 64, so it takes four
// addresses to fill it. The request rate keeps AdmissionLimits' default.
AdmissionLimits limits_for_budget(std::size_t max_connections);

}  // namespace imgflow::gateway
