#include "core/digest.h"

#include <gtest/gtest.h>

namespace imgflow::core {
namespace {

TEST(Digest, Sha256OfEmptyAndAbc) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, StreamingSha256MatchesOneShot) {
  Sha256Hasher h;
  h.update("hello ");
  h.update("world");
  EXPECT_EQ(h.finish(), sha256("hello world"));
}

TEST(Digest, Md5OfKnownString) {
  EXPECT_EQ(to_hex(md5("The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6");
  Md5Hasher h;
  h.update("The quick brown fox ");
  h.update("jumps over the lazy dog");
  EXPECT_EQ(h.finish(), md5("The quick brown fox jumps over the lazy dog"));
}

TEST(Digest, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Digest, CrcCheckValues) {
  // The standard check value is the CRC of "123456789".
  EXPECT_EQ(crc32("123456789"), 0xCBF43926U);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283U);
  EXPECT_EQ(crc32("6789", crc32("12345")), crc32("123456789"));
  EXPECT_EQ(base64_encode(be32_bytes(crc32c("123456789"))), "4waSgw==");
}

TEST(Digest, Base64RoundTripAndRejectsGarbage) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto decoded = base64_decode(base64_encode(s));
    ASSERT_TRUE(decoded.has_value()) << s;
    EXPECT_EQ(*decoded, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(base64_decode("Zm9").has_value());
  EXPECT_FALSE(base64_decode("Zm9v!mFy").has_value());
  EXPECT_FALSE(base64_decode("Zg==Zg==").has_value());
  EXPECT_FALSE(base64_decode("Z===").has_value());
}

TEST(Digest, RandomHexIsFreshLowerHexOfTheLengthAsked) {
  auto a = random_hex(16);
  auto b = random_hex(16);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), 32U);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos) << *a;
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace imgflow::core
