#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "sigv4/auth_error.h"
#include "sigv4/credential_scope.h"
#include "sigv4/verifier.h"

namespace imgflow::sigv4 {

// What an aws-chunked body is checked against; usually built from a VerifiedRequest.
struct ChunkedParams {
  PayloadMode mode = PayloadMode::kStreamingSigned;  // one of the three streaming modes
  std::uint64_t decoded_content_length = 0;  // x-amz-decoded-content-length: the payload size
  // Signed modes only: the chain starts at the request's signature.
  core::Sha256Digest signing_key{};
  std::string amz_date;
  CredentialScope scope;
  std::string seed_signature;
  // x-amz-trailer, lower-case: "x-amz-checksum-crc32", "-crc32c" or "-sha256"; empty for none.
  std::string trailer;
};

// Decodes an aws-chunked body fed in pieces of any size, checking framing, chunk signatures,
// the declared length and the trailing checksum, with bounded memory (one header line of at most
// kMaxLineBytes; chunk data is never buffered).
//
// Decoded bytes reach the sink as they arrive, before the signature of the chunk that holds them
// has been checked: treat them as unauthenticated until finish() succeeds, i.e. write them to a
// temporary object and discard it on any error (as the store does anyway for failed uploads).
//
// Errors: kIncompleteBody (body ended early, or chunks disagree with the declared length),
// kInvalidRequest (bad framing: bad hex size, missing CRLF, oversized line, bad chunk extension,
// unexpected trailer, data after the end), kSignatureDoesNotMatch (names the chunk), kBadDigest
// (trailing checksum). After an error every call returns that error. Not thread-safe; movable.
class ChunkedDecoder {
 public:
  using Sink = std::function<void(std::string_view)>;
  static constexpr std::size_t kMaxLineBytes = 4096;

  // kInvalidRequest for a non-streaming mode or an unsupported trailer (SHA-1, CRC64NVME, or
  // several checksums).
  static AuthResult<ChunkedDecoder> create(ChunkedParams params);
  static AuthResult<ChunkedDecoder> create(const VerifiedRequest& request);

  ChunkedDecoder(ChunkedDecoder&&) noexcept;
  ChunkedDecoder& operator=(ChunkedDecoder&&) noexcept;
  ~ChunkedDecoder();

  // Consumes `bytes`, passing decoded payload bytes to `sink` (possibly several calls).
  AuthResult<void> feed(std::string_view bytes, const Sink& sink);

  // Call when the body has ended: kIncompleteBody unless the final chunk (and trailer) was seen.
  AuthResult<void> finish();

  bool done() const;
  std::uint64_t decoded_bytes() const { return decoded_; }
  // The checksum the trailer carried (base64), once done; empty without a trailer.
  const std::string& trailer_checksum() const { return trailer_checksum_; }

 private:
  enum class State { kSizeLine, kData, kDataCr, kDataLf, kTrailerLine, kDone, kFailed };
  enum class Checksum { kNone, kCrc32, kCrc32c, kSha256 };

  explicit ChunkedDecoder(ChunkedParams params, Checksum checksum);
  bool signed_chunks() const;
  AuthResult<void> fail(AuthErrorCode code, std::string message);
  AuthResult<void> take_line(std::string_view& bytes, bool& complete);
  AuthResult<void> on_size_line();
  AuthResult<void> on_trailer_line();
  AuthResult<void> on_chunk_end(const core::Sha256Digest& chunk_sha256);
  AuthResult<void> on_trailer_end();
  void consume_data(std::string_view data, const Sink& sink);
  std::string expected_checksum();

  ChunkedParams params_;
  std::string scope_;
  Checksum checksum_;
  State state_ = State::kSizeLine;
  std::string line_;
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
  std::uint64_t decoded_ = 0;
  std::uint64_t chunk_index_ = 0;
  std::string previous_signature_;
  std::string chunk_signature_;  // claimed signature of the current chunk
  std::optional<core::Sha256Hasher> chunk_hasher_;
  std::optional<core::Sha256Hasher> body_hasher_;  // for a SHA-256 trailer
  std::uint32_t crc_ = 0;
  int trailer_lines_ = 0;
  std::string trailer_checksum_;
  std::string trailer_signature_;
  AuthError error_;
};

}  // namespace imgflow::sigv4
