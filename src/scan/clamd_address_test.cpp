#include "scan/clamd_address.h"

#include <gtest/gtest.h>

namespace imgflow::scan {
namespace {

using core::ErrorCode;

TEST(ClamdAddress, ParsesAUnixSocketPath) {
  auto a = parse_clamd_address("unix:/run/clamav/clamd.ctl");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, ClamdAddress::Kind::kUnix);
  EXPECT_EQ(a->path, "/run/clamav/clamd.ctl");
  EXPECT_EQ(a->to_string(), "unix:/run/clamav/clamd.ctl");
}

TEST(ClamdAddress, ParsesTcpHostAndPort) {
  auto a = parse_clamd_address("tcp://127.0.0.1:3310");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, ClamdAddress::Kind::kTcp);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 3310);
  auto named = parse_clamd_address("tcp://clamav:3310");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->host, "clamav");
}

TEST(ClamdAddress, ParsesABracketedIpv6HostAndWritesItBack) {
  auto a = parse_clamd_address("tcp://[::1]:3310");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->to_string(), "tcp://[::1]:3310");
}

struct Refused {
  const char* text;
  const char* says;  // a part of the message
};

// NOLINTNEXTLINE(readability-identifier-naming): the name GoogleTest looks up.
void PrintTo(const Refused& r, std::ostream* os) { *os << '"' << r.text << '"'; }

class ClamdAddressRefuses : public ::testing::TestWithParam<Refused> {};

TEST_P(ClamdAddressRefuses, WithAMessageSayingWhy) {
  auto a = parse_clamd_address(GetParam().text);
  ASSERT_FALSE(a) << GetParam().text;
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(a.error().message.find(GetParam().says), std::string::npos) << a.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Garbage, ClamdAddressRefuses,
    ::testing::Values(Refused{"", "empty"}, Refused{"clamd.ctl", "no known scheme"},
                      Refused{"http://127.0.0.1:3310", "no known scheme"},
                      Refused{"unix:", "needs a socket path"},
                      Refused{"unix:run/clamd.ctl", "must be absolute"},
                      Refused{"unix:/a b", "space or a control character"},
                      Refused{"tcp://127.0.0.1", "needs a port"},
                      Refused{"tcp://:3310", "needs a host"}, Refused{"tcp://host:0", "1 to 65535"},
                      Refused{"tcp://host:65536", "1 to 65535"},
                      Refused{"tcp://host:33a", "1 to 65535"}, Refused{"tcp://host:", "1 to 65535"},
                      Refused{"tcp://::1:3310", "must be in brackets"},
                      Refused{"tcp://[::1]3310", "[ADDRESS]:PORT"},
                      Refused{"tcp://user@host:3310", "HOST:PORT only"},
                      Refused{"tcp://host/x:3310", "HOST:PORT only"},
                      // A fuzzer's find: "[" read as a host, written back without brackets.
                      Refused{"tcp://[[]:39", "must be an IPv6 address"},
                      Refused{"tcp://[clamd]:3310", "must be an IPv6 address"},
                      Refused{"tcp://[::1%eth0]:3310", "must be an IPv6 address"},
                      Refused{"tcp://cl[amd:3310", "HOST:PORT only"}));

TEST(ClamdAddress, RefusesASocketPathLongerThanSockaddrHolds) {
  auto a = parse_clamd_address("unix:/" + std::string(200, 'a'));
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("at most 107"), std::string::npos) << a.error().message;
}

}  // namespace
}  // namespace imgflow::scan
