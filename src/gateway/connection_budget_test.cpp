#include "gateway/connection_budget.h"

#include <gtest/gtest.h>

#include "core/machine.h"

namespace imgflow::gateway {
namespace {

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

TEST(ConnectionBudget, AnEighthOfMemoryAtAMebibyteEachBetween32And1024) {
  EXPECT_EQ(connection_budget({.memory_bytes = 24 * kGiB, .open_files = 1'000'000}), 1024u);
  EXPECT_EQ(connection_budget({.memory_bytes = 2 * kGiB, .open_files = 1'000'000}), 256u);
  EXPECT_EQ(connection_budget({.memory_bytes = 512 * kMiB, .open_files = 1'000'000}), 64u);
  EXPECT_EQ(connection_budget({.memory_bytes = 64 * kMiB, .open_files = 1'000'000}), 32u);
}

TEST(ConnectionBudget, AtMostHalfTheOpenFilesLessAMargin) {
  EXPECT_EQ(connection_budget({.memory_bytes = 24 * kGiB, .open_files = 1024}), 480u);
  EXPECT_EQ(connection_budget({.memory_bytes = 0, .open_files = 0}), 1024u);  // nothing known
}

TEST(ConnectionBudget, TheReserveAndEachAddressShareFollowTheBudget) {
  const AdmissionLimits big = limits_for_budget(1024);
  EXPECT_EQ(big.reserved_connections, 128u);
  EXPECT_EQ(big.max_connections_per_ip, 64u);  // capped
  const AdmissionLimits small = limits_for_budget(64);
  EXPECT_EQ(small.reserved_connections, 8u);
  EXPECT_EQ(small.max_connections_per_ip, 14u);  // a quarter of the 56 shared
  const AdmissionLimits tiny = limits_for_budget(4);
  EXPECT_EQ(tiny.reserved_connections, 2u);  // never more than half
  EXPECT_EQ(tiny.max_connections_per_ip, 1u);
  EXPECT_EQ(limits_for_budget(128).requests_per_second_per_ip,
            AdmissionLimits{}.requests_per_second_per_ip);
}

TEST(ConnectionBudget, ThisMachineReadsSomething) {
  EXPECT_GT(open_file_limit(), 0u);
  const std::size_t budget = connection_budget(
      {.memory_bytes = core::machine_resources().memory_bytes, .open_files = open_file_limit()});
  EXPECT_GE(budget, 32u);
  EXPECT_LE(budget, 1024u);
}

}  // namespace
}  // namespace imgflow::gateway
