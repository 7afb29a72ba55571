#include "gateway/connection_budget.h"

#include <sys/resource.h>

#include <algorithm>

namespace imgflow::gateway {
namespace {

constexpr std::size_t kMinConnections = 32;
constexpr std::size_t kMaxConnections = 1024;
constexpr std::uint64_t kMemoryShare = 8;         // connections get 1/8 of memory
constexpr std::uint64_t kFilesPerConnection = 2;  // the socket and an upload's temporary file
constexpr std::uint64_t kFilesForTheRest = 64;    // SQLite, the log, the workers' files
constexpr std::size_t kMaxPerIp = 64;

}  // namespace

std::uint64_t open_file_limit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return 0;
  return files.rlim_cur;
}

std::size_t connection_budget(const ConnectionResources& machine) {
  std::uint64_t budget = kMaxConnections;
  if (machine.memory_bytes > 0) {
    budget = std::min(budget, machine.memory_bytes / kMemoryShare / kConnectionCostBytes);
  }
  if (machine.open_files > 0) {
    const std::uint64_t spare =
        machine.open_files > kFilesForTheRest ? machine.open_files - kFilesForTheRest : 0;
    budget = std::min(budget, spare / kFilesPerConnection);
  }
  return std::clamp<std::size_t>(static_cast<std::size_t>(budget), kMinConnections,
                                 kMaxConnections);
}

AdmissionLimits limits_for_budget(std::size_t max_connections) {
  AdmissionLimits limits;
  limits.max_connections = max_connections;
  limits.reserved_connections =
      std::min(max_connections / 2, std::max<std::size_t>(4, max_connections / 8));
  const std::size_t shared = max_connections - limits.reserved_connections;
  limits.max_connections_per_ip = std::clamp<std::size_t>(shared / 4, 1, kMaxPerIp);
  return limits;
}

}  // namespace imgflow::gateway
