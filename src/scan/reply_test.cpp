#include "scan/reply.h"

#include <gtest/gtest.h>

#include <string>

namespace imgflow::scan {
namespace {

using core::ErrorCode;
using namespace std::string_literals;

TEST(ScanReply, OkIsClean) {
  auto v = parse_scan_reply("stream: OK\0"s);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->infected());
}

TEST(ScanReply, FoundIsInfectedWithTheSignatureName) {
  auto v = parse_scan_reply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0"s);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_TRUE(v->infected());
  EXPECT_EQ(v->signature, "Eicar-Test-Signature.UNOFFICIAL");
}

TEST(ScanReply, SizeLimitErrorIsTooLarge) {
  auto v = parse_scan_reply("INSTREAM size limit exceeded. ERROR\0"s);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(v.error().reason, "clamd");
  EXPECT_NE(v.error().message.find("StreamMaxLength"), std::string::npos);
}

TEST(ScanReply, ExceededScanLimitsAreTooLargeNotAnInfection) {
  auto v = parse_scan_reply("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0"s);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kTooLarge);
}

TEST(ScanReply, AnyOtherErrorIsUnavailable) {
  auto v = parse_scan_reply("Can't allocate memory ERROR\0"s);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(v.error().message.find("Can't allocate memory"), std::string::npos);
}

struct Garbage {
  std::string reply;
  const char* says;
};

// Names the case by its reply (gtest would print the struct's bytes).
// NOLINTNEXTLINE(readability-identifier-naming): the name GoogleTest looks up.
void PrintTo(const Garbage& g, std::ostream* os) {
  constexpr std::size_t kShown = 32;
  *os << ::testing::PrintToString(g.reply.substr(0, kShown));
  if (g.reply.size() > kShown) *os << "... (" << g.reply.size() << " bytes)";
}

class ScanReplyRefuses : public ::testing::TestWithParam<Garbage> {};

TEST_P(ScanReplyRefuses, AsCorruptNeverClean) {
  auto v = parse_scan_reply(GetParam().reply);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(v.error().message.find(GetParam().says), std::string::npos) << v.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Replies, ScanReplyRefuses,
    ::testing::Values(Garbage{"", "empty reply"}, Garbage{"stream: OK", "does not end in NUL"},
                      Garbage{"stream: OK\0\0"s, "control character"},
                      Garbage{"stream: OK\n\0"s, "control character"},
                      Garbage{"stream: \xff OK\0"s, "non-ASCII"},
                      Garbage{"stream: ok\0"s, "unexpected clamd reply"},
                      Garbage{"OK\0"s, "unexpected clamd reply"},
                      Garbage{"stream: OK FOUND\0"s + "x", "does not end in NUL"},
                      Garbage{"stream:  FOUND\0"s, "no valid signature"},
                      Garbage{"stream: two words FOUND\0"s, "no valid signature"},
                      Garbage{"stream: " + std::string(300, 'a') + " FOUND\0"s,
                              "no valid signature"},
                      Garbage{"stream: " + std::string(2000, 'a') + "\0"s, "over 1024 bytes"},
                      Garbage{"PONG\0"s, "unexpected clamd reply"}));

TEST(VersionReply, ReadsEngineDatabaseAndDate) {
  auto v = parse_version_reply("ClamAV 1.4.6/27412/Mon Sep  1 08:35:52 2025\0"s);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->engine, "ClamAV 1.4.6");
  EXPECT_EQ(v->database, "27412");
  EXPECT_EQ(v->database_date, "Mon Sep  1 08:35:52 2025");
}

TEST(VersionReply, LocalSignaturesOnlyHaveNoDatabaseVersion) {
  auto v = parse_version_reply("ClamAV 1.4.6\0"s);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->engine, "ClamAV 1.4.6");
  EXPECT_EQ(v->database, "");
}

TEST(VersionReply, RefusesOtherShapes) {
  for (const std::string& reply : {"ClamAV \0"s, "clamav 1.4\0"s, "ClamAV 1.4/x/date\0"s,
                                   "ClamAV 1.4/27412\0"s, "ClamAV /1/d\0"s, "ClamAV 1.4"s}) {
    auto v = parse_version_reply(reply);
    ASSERT_FALSE(v) << reply;
    EXPECT_EQ(v.error().code, ErrorCode::kCorrupt);
  }
}

TEST(PingReply, OnlyPongIsOk) {
  EXPECT_TRUE(parse_ping_reply("PONG\0"s));
  EXPECT_FALSE(parse_ping_reply("PONG"s));
  EXPECT_FALSE(parse_ping_reply("PING\0"s));
}

}  // namespace
}  // namespace imgflow::scan
