#include "core/machine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace imgflow::core {
namespace {

namespace fs = std::filesystem;

class Machine : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("imgflow-cgroup-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& relative, const std::string& text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text << "\n";
  }
  fs::path root_;
};

TEST_F(Machine, WithoutCgroupLimitsItIsTheWholeMachine) {
  const MachineResources r = machine_resources(root_);
  EXPECT_EQ(r.cores, static_cast<int>(std::max(1U, std::thread::hardware_concurrency())));
  EXPECT_GT(r.memory_bytes, 64ULL << 20U);
}

TEST_F(Machine, CgroupV2LimitsApply) {
  write("cpu.max", "50000 100000");  // half a CPU
  write("memory.max", "268435456");
  const MachineResources r = machine_resources(root_);
  EXPECT_EQ(r.cores, 1);
  EXPECT_EQ(r.memory_bytes, 256ULL << 20U);
}

TEST_F(Machine, CgroupV2WithoutLimitsSaysMax) {
  write("cpu.max", "max 100000");
  write("memory.max", "max");
  const MachineResources r = machine_resources(root_);
  EXPECT_EQ(r.cores, machine_resources(root_ / "none").cores);
  EXPECT_GT(r.memory_bytes, 64ULL << 20U);
}

TEST_F(Machine, CgroupV1LimitsApplyAndItsNoLimitValueIsIgnored) {
  write("cpu/cpu.cfs_quota_us", "-1");
  write("cpu/cpu.cfs_period_us", "100000");
  write("memory/memory.limit_in_bytes", "9223372036854771712");
  EXPECT_EQ(machine_resources(root_).cores, machine_resources(root_ / "none").cores);
  write("memory/memory.limit_in_bytes", "1073741824");
  EXPECT_EQ(machine_resources(root_).memory_bytes, 1ULL << 30U);
}

}  // namespace
}  // namespace imgflow::core
