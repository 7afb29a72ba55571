#pragma once

#include <cstdint>
#include <filesystem>

// What this process may use of the machine it runs on, for sizing worker pools.
namespace imgflow::core {

struct MachineResources {
  int cores = 1;                   // CPUs, after a cgroup CPU quota (a container's --cpus)
  std::uint64_t memory_bytes = 0;  // physical memory, after a cgroup memory limit
};

// Reads the machine's CPUs and memory and the cgroup (v2, else v1) limits of this process's
// container, which std::thread::hardware_concurrency() and the physical memory alone ignore.
// `cgroup_root` is /sys/fs/cgroup except in tests. Never fails: a limit it cannot read is no
// limit.
MachineResources machine_resources(const std::filesystem::path& cgroup_root = "/sys/fs/cgroup");

}  // namespace imgflow::core
