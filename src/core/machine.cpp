#include "core/machine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

namespace imgflow::core {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::optional<double> number(const std::string& text) {
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    return used > 0 && value > 0 ? std::optional<double>(value) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;  // "max", "-1", garbage: no limit
  }
}

// cgroup v2 "cpu.max" is "<quota> <period>" or "max <period>"; v1 has two files.
std::optional<double> cpu_quota(const fs::path& root) {
  if (auto line = first_line(root / "cpu.max")) {
    const std::size_t space = line->find(' ');
    if (space == std::string::npos) return std::nullopt;
    const auto quota = number(line->substr(0, space));
    const auto period = number(line->substr(space + 1));
    return quota && period ? std::optional<double>(*quota / *period) : std::nullopt;
  }
  const auto quota = first_line(root / "cpu" / "cpu.cfs_quota_us");
  const auto period = first_line(root / "cpu" / "cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  const auto q = number(*quota);
  const auto p = number(*period);
  return q && p ? std::optional<double>(*q / *p) : std::nullopt;
}

std::optional<double> memory_limit(const fs::path& root) {
  if (auto line = first_line(root / "memory.max")) return number(*line);
  if (auto line = first_line(root / "memory" / "memory.limit_in_bytes")) return number(*line);
  return std::nullopt;
}

}  // namespace

MachineResources machine_resources(const fs::path& cgroup_root) {
  MachineResources out;
  out.cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  if (auto quota = cpu_quota(cgroup_root)) {
    out.cores = std::clamp(static_cast<int>(std::ceil(*quota)), 1, out.cores);
  }
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  out.memory_bytes = pages > 0 && page_size > 0
                         ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size)
                         : 0;
  // v1 reports "no limit" as a number near 2^63: the physical memory is the smaller anyway.
  if (auto limit = memory_limit(cgroup_root); limit && *limit < double(out.memory_bytes)) {
    out.memory_bytes = static_cast<std::uint64_t>(*limit);
  }
  return out;
}

}  // namespace imgflow::core
