#include "storage/store_util.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/digest.h"
#include "storage/test_support.h"

namespace imgflow::storage::internal {
namespace {

using testing::ChunkedSource;
using testing::make_bytes;

struct Pumped {
  core::Status status;
  std::string written;
  core::Md5Digest md5{};
  std::uint64_t size = 0;
};

Pumped pump_all(ByteSource& source, std::uint64_t max_size = UINT64_MAX) {
  Pumped out;
  BodyDigest digest(std::nullopt);
  out.status = pump(source, digest, max_size, [&](std::string_view piece) {
    out.written.append(piece);
    return core::Status{};
  });
  if (out.status) out.status = digest.verify(std::nullopt, std::nullopt, std::nullopt);
  out.md5 = digest.md5();
  out.size = digest.size();
  return out;
}

// Sizes around the pump's 128 KiB pieces and its ring of four, delivered in socket-sized reads
// that do not divide them.
TEST(Pump, WritesAndHashesEveryByteInOrder) {
  constexpr std::size_t kPiece = 128 << 10;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, kPiece - 1, kPiece, kPiece + 1,
                           4 * kPiece, 9 * kPiece + 12345, std::size_t{5'000'000}}) {
    const std::string body = make_bytes(size, static_cast<unsigned>(size % 97) + 1);
    ChunkedSource source(body, 65'000);
    const Pumped got = pump_all(source);
    ASSERT_TRUE(got.status) << size << ": " << got.status.error().message;
    EXPECT_EQ(got.size, size);
    EXPECT_TRUE(got.written == body) << "written bytes differ for a body of " << size;
    EXPECT_EQ(got.md5, core::md5(body)) << "MD5 differs for a body of " << size;
  }
}

// Many bodies at once: past half the cores the pump hashes inline, below it on a second
// thread; the digests must not mix either way.
TEST(Pump, ConcurrentBodiesKeepTheirOwnDigests) {
  std::vector<std::string> bodies;
  for (unsigned i = 0; i < 8; ++i) bodies.push_back(make_bytes(3'000'000 + i * 77'777, i + 1));
  std::vector<Pumped> results(bodies.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    threads.emplace_back([&, i] {
      ChunkedSource source(bodies[i], 40'000 + i * 1000);
      results[i] = pump_all(source);
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_TRUE(results[i].status) << results[i].status.error().message;
    EXPECT_EQ(results[i].md5, core::md5(bodies[i])) << "body " << i;
    EXPECT_EQ(results[i].written.size(), bodies[i].size());
  }
}

TEST(Pump, StopsAtTheSizeLimit) {
  const std::string body = make_bytes(1'000'000);
  ChunkedSource source(body, 65'536);
  const Pumped got = pump_all(source, 600'000);
  ASSERT_FALSE(got.status);
  EXPECT_EQ(detail_of(got.status.error()), ErrorDetail::kEntityTooLarge);
  EXPECT_LE(got.written.size(), 600'000U);
}

// A client that goes away mid-body, after the digest thread has started.
TEST(Pump, ReturnsTheSourcesErrorMidBody) {
  const std::string body = make_bytes(2'000'000);
  ChunkedSource source(body, 50'000, 1'000'000);
  const Pumped got = pump_all(source);
  ASSERT_FALSE(got.status);
  EXPECT_NE(got.status.error().message.find("client went away"), std::string::npos);
}

TEST(Pump, ReturnsTheWritersError) {
  const std::string body = make_bytes(2'000'000);
  ChunkedSource source(body, 65'536);
  BodyDigest digest(std::nullopt);
  std::size_t calls = 0;
  const auto st = pump(source, digest, UINT64_MAX, [&](std::string_view) -> core::Status {
    if (++calls == 3) return core::fail(core::ErrorCode::kInternal, "disk full");
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "disk full");
  EXPECT_EQ(calls, 3U);
}

}  // namespace
}  // namespace imgflow::storage::internal
