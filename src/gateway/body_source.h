#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/digest.h"
#include "gateway/s3_request.h"
#include "sigv4/chunked_decoder.h"
#include "sigv4/verifier.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

// Wraps the raw request body so the store reads only bytes that the signature vouches for.
// UNSIGNED-PAYLOAD passes through; a signed SHA-256 payload is hashed on the way and the last
// read() fails unless it matches; aws-chunked payloads are decoded by sigv4::ChunkedDecoder and
// the last read() fails unless every chunk signature and the trailing checksum hold. A failing
// read() makes the store drop the temporary object, so unauthenticated bytes are never
// committed. After a failure auth_error() says which S3 error to report.
//
// An anonymous request has nothing signed, but an unsigned aws-chunked body
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER) is still decoded, its framing, length and trailing
// checksum checked the same way.
class AuthenticatedBody final : public storage::ByteSource {
 public:
  // `verified` is empty for anonymous requests; `unsigned_chunked` is set only for them.
  // Errors: the decoder's create() errors.
  static sigv4::AuthResult<std::unique_ptr<AuthenticatedBody>> wrap(
      storage::ByteSource& raw, const std::optional<sigv4::VerifiedRequest>& verified,
      const std::optional<UnsignedChunkedBody>& unsigned_chunked);

  core::Result<std::size_t> read(char* buf, std::size_t n) override;
  const std::optional<sigv4::AuthError>& auth_error() const { return auth_error_; }

 private:
  explicit AuthenticatedBody(storage::ByteSource& raw) : raw_(raw) {}
  core::Result<std::size_t> read_hashed(char* buf, std::size_t n);
  core::Result<std::size_t> read_chunked(char* buf, std::size_t n);
  core::Result<std::size_t> fail_auth(sigv4::AuthError error);

  storage::ByteSource& raw_;
  const sigv4::VerifiedRequest* verified_ = nullptr;  // set for kSha256
  std::optional<sigv4::VerifiedRequest> verified_copy_;
  std::optional<core::Sha256Hasher> hasher_;
  std::optional<sigv4::ChunkedDecoder> decoder_;
  std::string pending_;  // decoded bytes not yet handed out
  std::size_t pending_pos_ = 0;
  bool raw_done_ = false;
  std::optional<sigv4::AuthError> auth_error_;
};

// Reads a whole small body (an XML document) of at most `max_bytes`; kTooLarge beyond.
core::Result<std::string> read_all(storage::ByteSource& body, std::size_t max_bytes);

}  // namespace imgflow::gateway
