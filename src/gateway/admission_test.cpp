#include "gateway/admission.h"

#include <gtest/gtest.h>

#include <vector>

namespace imgflow::gateway {
namespace {

using std::chrono::milliseconds;
using Pool = Admission::Pool;
using Refusal = Admission::Refusal;
using Verdict = Admission::Verdict;

constexpr Admission::TimePoint kStart{std::chrono::hours(1)};

AdmissionLimits small_limits() {
  AdmissionLimits limits;
  limits.max_connections = 4;
  limits.reserved_connections = 1;
  limits.max_connections_per_ip = 2;
  limits.requests_per_second_per_ip = 10;
  limits.request_burst_per_ip = 3;
  return limits;
}

TEST(ClientKey, Ipv4IsItselfAndIpv6IsItsSlash64) {
  EXPECT_EQ(client_key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(client_key("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
  EXPECT_EQ(client_key("not an address"), "not an address");
}

TEST(Admission, SharedSlotsFirstThenTheReserveThenRefusal) {
  Admission admission(small_limits());
  std::vector<Admission::Slot> held;
  for (const char* client : {"a", "b", "c"}) {
    auto admitted = admission.admit(client);
    ASSERT_TRUE(admitted.slot.admitted());
    EXPECT_EQ(admitted.slot.pool(), Pool::kShared);
    held.push_back(std::move(admitted.slot));
  }
  auto reserved = admission.admit("d");
  ASSERT_TRUE(reserved.slot.admitted());
  EXPECT_EQ(reserved.slot.pool(), Pool::kReserved);
  EXPECT_EQ(admission.admit("e").refusal, Refusal::kCapacity);

  held.pop_back();  // a shared slot comes back when its holder goes
  EXPECT_EQ(admission.usage().shared, 2u);
  EXPECT_EQ(admission.admit("e").slot.pool(), Pool::kShared);
}

TEST(Admission, AnAddressGetsItsShareThenTwoReservedSlotsForItsProbes) {
  AdmissionLimits limits = small_limits();
  limits.max_connections = 10;
  limits.reserved_connections = 4;
  Admission admission(limits);  // two per address
  auto first = admission.admit("a");
  auto second = admission.admit("a");
  EXPECT_EQ(first.slot.pool(), Pool::kShared);
  EXPECT_EQ(second.slot.pool(), Pool::kShared);
  auto probe1 = admission.admit("a");
  auto probe2 = admission.admit("a");
  for (const auto* beyond : {&probe1, &probe2}) {
    ASSERT_TRUE(beyond->slot.admitted());
    EXPECT_EQ(beyond->slot.pool(), Pool::kReserved);
    EXPECT_TRUE(beyond->slot.beyond_share());
    EXPECT_EQ(admission.check_request(beyond->slot, false, kStart),
              Verdict::kReservedForPrivileged);
  }
  EXPECT_EQ(admission.admit("a").refusal, Refusal::kPerIp);
  EXPECT_TRUE(admission.admit("b").slot.admitted());

  auto in_place = admission.admit_in_place_of_cut("a");  // for one the server cut
  EXPECT_TRUE(in_place.slot.beyond_share());
  probe1.slot = {};
  in_place.slot = {};
  EXPECT_TRUE(admission.admit("a").slot.beyond_share());  // one beyond slot is free again
  first.slot = {};
  const auto again = admission.admit("a");  // and one within the share
  EXPECT_EQ(again.slot.pool(), Pool::kShared);
  EXPECT_FALSE(again.slot.beyond_share());
}

TEST(Admission, PerAddressLimitZeroMeansNone) {
  AdmissionLimits limits = small_limits();
  limits.max_connections_per_ip = 0;
  Admission admission(limits);
  std::vector<Admission::Slot> held(4);
  for (auto& slot : held) slot = std::move(admission.admit("proxy").slot);
  EXPECT_TRUE(held.back().admitted());
  EXPECT_FALSE(held.back().beyond_share());
  EXPECT_EQ(admission.admit("proxy").refusal, Refusal::kCapacity);
}

TEST(Admission, InPlaceOfACutConnectionTheReserveOvershoots) {
  Admission admission(small_limits());
  std::vector<Admission::Slot> held;
  for (const char* client : {"a", "b", "c", "d"}) held.push_back(admission.admit(client).slot);
  auto extra = admission.admit_in_place_of_cut("e");
  ASSERT_TRUE(extra.slot.admitted());
  EXPECT_EQ(extra.slot.pool(), Pool::kReserved);
  EXPECT_EQ(admission.usage().reserved, 2u);
}

TEST(Admission, ReservedSlotsServePrivilegedRequestsOnly) {
  Admission admission(small_limits());
  std::vector<Admission::Slot> held;
  for (const char* client : {"a", "b", "c"}) held.push_back(admission.admit(client).slot);
  const auto reserved = admission.admit("d");
  EXPECT_EQ(admission.check_request(reserved.slot, false, kStart), Verdict::kReservedForPrivileged);
  EXPECT_EQ(admission.check_request(reserved.slot, true, kStart), Verdict::kAllowed);
}

TEST(Admission, TokenBucketAllowsTheBurstThenTheRate) {
  Admission admission(small_limits());  // 10/s, burst 3
  const auto admitted = admission.admit("a");
  const Admission::Slot& slot = admitted.slot;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(admission.check_request(slot, false, kStart), Verdict::kAllowed);
  EXPECT_EQ(admission.check_request(slot, false, kStart), Verdict::kRateLimited);
  EXPECT_EQ(admission.check_request(slot, true, kStart), Verdict::kAllowed);  // not charged
  // 100 ms at 10/s is one token.
  EXPECT_EQ(admission.check_request(slot, false, kStart + milliseconds(100)), Verdict::kAllowed);
  EXPECT_EQ(admission.check_request(slot, false, kStart + milliseconds(100)),
            Verdict::kRateLimited);
  // A long pause refills up to the burst, not beyond.
  const auto later = kStart + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(admission.check_request(slot, false, later), Verdict::kAllowed);
  EXPECT_EQ(admission.check_request(slot, false, later), Verdict::kRateLimited);
}

TEST(Admission, BucketsArePerAddressAndSurviveReconnecting) {
  Admission admission(small_limits());
  {
    const auto a = admission.admit("a");
    for (int i = 0; i < 3; ++i) admission.check_request(a.slot, false, kStart);
  }
  const auto again = admission.admit("a");  // a new connection does not refill the bucket
  EXPECT_EQ(admission.check_request(again.slot, false, kStart), Verdict::kRateLimited);
  const auto b = admission.admit("b");
  EXPECT_EQ(admission.check_request(b.slot, false, kStart), Verdict::kAllowed);
}

TEST(Admission, RateZeroMeansNone) {
  AdmissionLimits limits = small_limits();
  limits.requests_per_second_per_ip = 0;
  Admission admission(limits);
  const auto a = admission.admit("a");
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(admission.check_request(a.slot, false, kStart), Verdict::kAllowed);
  }
}

TEST(Admission, ForgetsAddressesWithNoConnectionOnceTheirBucketIsFull) {
  Admission admission(small_limits());  // burst 3 at 10/s: full again 300 ms after emptying
  {
    const auto a = admission.admit("a");
    for (int i = 0; i < 3; ++i) admission.check_request(a.slot, false, kStart);
  }
  const auto b = admission.admit("b");  // still connected: kept
  admission.forget_idle(kStart + milliseconds(100));
  EXPECT_EQ(admission.usage().addresses, 2u);  // a's bucket is not full yet
  admission.forget_idle(kStart + milliseconds(300));
  EXPECT_EQ(admission.usage().addresses, 1u);
}

}  // namespace
}  // namespace imgflow::gateway
