#include "sigv4/chunked_decoder.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "core/digest.h"
#include "sigv4/chunk_signer.h"
#include "sigv4/signing_key.h"
#include "sigv4/test_support.h"

namespace imgflow::sigv4 {
namespace {

using namespace testing_support;

const CredentialScope kScope{"20130524", "us-east-1", "s3"};
const std::string kSeed(64, 'a');

const std::string kChunk1(9000, 'x');
const std::string kChunk2 = "hello, aws-chunked world";
const std::string kPayload = kChunk1 + kChunk2;

ChunkedParams params_for(PayloadMode mode, std::string trailer = "") {
  ChunkedParams p;
  p.mode = mode;
  p.decoded_content_length = kPayload.size();
  p.signing_key = derive_signing_key(kSecret, kScope);
  p.amz_date = "20130524T000000Z";
  p.scope = kScope;
  p.seed_signature = kSeed;
  p.trailer = std::move(trailer);
  return p;
}

std::string signed_body() {
  ChunkSigner signer(derive_signing_key(kSecret, kScope), "20130524T000000Z", kScope, kSeed);
  // One statement per chunk: the chain must be signed in order (operands of + are unsequenced).
  std::string body = signer.frame(kChunk1);
  body += signer.frame(kChunk2);
  body += signer.frame("");
  return body;
}

std::string hex(std::size_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

std::string unsigned_trailer_body(const std::string& trailer_line) {
  return hex(kChunk1.size()) + "\r\n" + kChunk1 + "\r\n" + hex(kChunk2.size()) + "\r\n" + kChunk2 +
         "\r\n0\r\n" + trailer_line + "\r\n";
}

std::string crc32_trailer() {
  return "x-amz-checksum-crc32:" + core::base64_encode(core::be32_bytes(core::crc32(kPayload))) +
         "\r\n";
}

struct Outcome {
  AuthResult<void> result;
  std::string output;
};

// Feeds the body `piece` bytes at a time and finishes, stopping at the first error.
Outcome run(ChunkedParams params, std::string_view body, std::size_t piece = 1000) {
  Outcome out;
  auto decoder = ChunkedDecoder::create(std::move(params));
  if (!decoder) return {tl::unexpected(decoder.error()), ""};
  const auto sink = [&](std::string_view d) { out.output.append(d); };
  for (std::size_t at = 0; at < body.size(); at += piece) {
    out.result = decoder->feed(body.substr(at, piece), sink);
    if (!out.result) return out;
  }
  out.result = decoder->finish();
  return out;
}

AuthErrorCode code(const Outcome& o) {
  EXPECT_FALSE(o.result.has_value());
  return o.result ? AuthErrorCode::kAccessDenied : o.result.error().code;
}

TEST(ChunkedDecoderTest, SignedBodyDecodesInAnyPieceSize) {
  const std::string body = signed_body();
  for (std::size_t piece : {1UL, 2UL, 7UL, 4096UL, body.size()}) {
    Outcome o = run(params_for(PayloadMode::kStreamingSigned), body, piece);
    ASSERT_TRUE(o.result) << piece << ": " << o.result.error().message;
    EXPECT_TRUE(o.output == kPayload);
  }
}

TEST(ChunkedDecoderTest, TamperedChunkFailsAtThatChunk) {
  std::string body = signed_body();
  body[body.find(kChunk2)] = 'H';
  Outcome o = run(params_for(PayloadMode::kStreamingSigned), body);
  EXPECT_EQ(code(o), AuthErrorCode::kSignatureDoesNotMatch);
  EXPECT_NE(o.result.error().message.find("chunk 2"), std::string::npos);
  // Chunk 1 was fine; nothing past chunk 2 was released.
  EXPECT_TRUE(o.output == kChunk1 + "Hello, aws-chunked world");
}

TEST(ChunkedDecoderTest, WrongSeedFailsAtFirstChunk) {
  ChunkedParams p = params_for(PayloadMode::kStreamingSigned);
  p.seed_signature = std::string(64, 'b');
  Outcome o = run(p, signed_body());
  EXPECT_EQ(code(o), AuthErrorCode::kSignatureDoesNotMatch);
  EXPECT_NE(o.result.error().message.find("chunk 1"), std::string::npos);
}

TEST(ChunkedDecoderTest, TruncatedBodyIsIncomplete) {
  const std::string body = signed_body();
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, body.size() / 2, body.size() - 1}) {
    Outcome o = run(params_for(PayloadMode::kStreamingSigned), body.substr(0, cut));
    EXPECT_EQ(code(o), AuthErrorCode::kIncompleteBody) << cut;
  }
}

TEST(ChunkedDecoderTest, DeclaredLengthMustMatch) {
  ChunkedParams longer = params_for(PayloadMode::kStreamingSigned);
  longer.decoded_content_length += 1;
  EXPECT_EQ(code(run(longer, signed_body())), AuthErrorCode::kIncompleteBody);
  ChunkedParams shorter = params_for(PayloadMode::kStreamingSigned);
  shorter.decoded_content_length -= 1;
  Outcome o = run(shorter, signed_body());
  EXPECT_EQ(code(o), AuthErrorCode::kIncompleteBody);
  EXPECT_LE(o.output.size(), shorter.decoded_content_length);
}

TEST(ChunkedDecoderTest, MalformedFramingIsRefused) {
  const auto params = params_for(PayloadMode::kStreamingUnsignedTrailer);
  const std::string data = kChunk1 + "\r\n";
  struct Case {
    std::string body;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"zz\r\n", "bad hex"},
           {"\r\n", "bad hex"},
           {"12345678901234567\r\n", "bad hex"},
           {"10\n", "CRLF"},
           {std::string(5000, '1'), "longer than"},
           {hex(kChunk1.size()) + "\r\n" + kChunk1 + "XX", "missing CRLF"},
           {hex(kChunk1.size()) + ";chunk-signature=00\r\n", "extension"},
           {hex(kChunk1.size()) + "\r\n" + data + hex(kChunk2.size()) + "\r\n" + kChunk2 +
                "\r\n0\r\nx-amz-meta-evil:1\r\n\r\n",
            "unexpected aws-chunked trailer"},
       }) {
    Outcome o = run(params, c.body);
    EXPECT_EQ(code(o), AuthErrorCode::kInvalidRequest) << c.body.substr(0, 40);
    EXPECT_NE(o.result.error().message.find(c.message), std::string::npos)
        << o.result.error().message;
  }
  Outcome extra = run(params_for(PayloadMode::kStreamingSigned), signed_body() + "x");
  EXPECT_EQ(code(extra), AuthErrorCode::kInvalidRequest);
}

TEST(ChunkedDecoderTest, GoodTrailersPass) {
  const std::string crc32c = core::base64_encode(core::be32_bytes(core::crc32c(kPayload)));
  const std::string sha = core::base64_encode(core::sha256(kPayload));
  struct Case {
    std::string trailer, line;
  };
  for (const Case& c : std::vector<Case>{
           {"x-amz-checksum-crc32", crc32_trailer()},
           {"x-amz-checksum-crc32c", "x-amz-checksum-crc32c:" + crc32c + "\r\n"},
           {"x-amz-checksum-sha256", "X-Amz-Checksum-Sha256: " + sha + "\r\n"},
       }) {
    Outcome o = run(params_for(PayloadMode::kStreamingUnsignedTrailer, c.trailer),
                    unsigned_trailer_body(c.line), 3);
    ASSERT_TRUE(o.result) << c.trailer << ": " << o.result.error().message;
    EXPECT_TRUE(o.output == kPayload);
  }
}

TEST(ChunkedDecoderTest, KnownCrc32TrailerValue) {
  // CRC-32 of "123456789" is the standard check value 0xCBF43926.
  ChunkedParams p = params_for(PayloadMode::kStreamingUnsignedTrailer, "x-amz-checksum-crc32");
  p.decoded_content_length = 9;
  Outcome o = run(p, "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n");
  ASSERT_TRUE(o.result) << o.result.error().message;
}

TEST(ChunkedDecoderTest, BadOrMissingTrailerChecksumFails) {
  const auto p = params_for(PayloadMode::kStreamingUnsignedTrailer, "x-amz-checksum-crc32");
  EXPECT_EQ(code(run(p, unsigned_trailer_body("x-amz-checksum-crc32:AAAAAA==\r\n"))),
            AuthErrorCode::kBadDigest);
  EXPECT_EQ(code(run(p, unsigned_trailer_body(""))), AuthErrorCode::kIncompleteBody);
  EXPECT_EQ(code(run(p, unsigned_trailer_body(crc32_trailer() + crc32_trailer()))),
            AuthErrorCode::kInvalidRequest);
}

TEST(ChunkedDecoderTest, UnsupportedTrailersAreRefusedUpFront) {
  for (std::string t : {"x-amz-checksum-sha1", "x-amz-checksum-crc64nvme", "x-amz-foo"}) {
    auto d = ChunkedDecoder::create(params_for(PayloadMode::kStreamingUnsignedTrailer, t));
    ASSERT_FALSE(d) << t;
    EXPECT_EQ(d.error().code, AuthErrorCode::kInvalidRequest);
  }
  EXPECT_FALSE(ChunkedDecoder::create(params_for(PayloadMode::kSha256)));
}

TEST(ChunkedDecoderTest, SignedTrailerIsChecked) {
  ChunkSigner signer(derive_signing_key(kSecret, kScope), "20130524T000000Z", kScope, kSeed);
  std::string body = signer.frame(kChunk1);
  body += signer.frame(kChunk2);
  const std::string final_sig = signer.sign("");
  const std::string checksum = core::base64_encode(core::be32_bytes(core::crc32(kPayload)));
  const std::string trailer_sig = signer.sign_trailer("x-amz-checksum-crc32:" + checksum + "\n");
  body += "0;chunk-signature=" + final_sig + "\r\nx-amz-checksum-crc32:" + checksum +
          "\r\nx-amz-trailer-signature:" + trailer_sig + "\r\n\r\n";
  const auto p = params_for(PayloadMode::kStreamingSignedTrailer, "x-amz-checksum-crc32");
  Outcome good = run(p, body, 5);
  ASSERT_TRUE(good.result) << good.result.error().message;
  EXPECT_TRUE(good.output == kPayload);

  std::string tampered = body;
  tampered[tampered.find(trailer_sig)] ^= 1;
  EXPECT_EQ(code(run(p, tampered)), AuthErrorCode::kSignatureDoesNotMatch);
}

TEST(ChunkedDecoderTest, ErrorIsSticky) {
  auto d = ChunkedDecoder::create(params_for(PayloadMode::kStreamingSigned));
  ASSERT_TRUE(d);
  const auto sink = [](std::string_view) {};
  EXPECT_FALSE(d->feed("zz\r\n", sink));
  EXPECT_FALSE(d->feed(signed_body(), sink));
  EXPECT_FALSE(d->finish());
}

}  // namespace
}  // namespace imgflow::sigv4
