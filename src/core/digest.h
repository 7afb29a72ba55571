#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/result.h"

namespace imgflow::core {

// Digests, MACs and encodings shared by every module. OpenSSL stays behind this header.

using Sha256Digest = std::array<std::uint8_t, 32>;
using Md5Digest = std::array<std::uint8_t, 16>;

Sha256Digest sha256(std::string_view data);
Md5Digest md5(std::string_view data);
Sha256Digest hmac_sha256(std::string_view key, std::string_view data);

// CRC-32 (ISO-HDLC, as zlib) and CRC-32C (Castagnoli), continuable: pass the previous
// value as `crc` to extend a running checksum.
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

// Lower-case hexadecimal of a digest (to_hex of any bytes is in core/codec.h).
template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& bytes) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), N));
}
// The big-endian bytes of a 32-bit value (how S3 encodes CRC checksums before base64).
std::string be32_bytes(std::uint32_t value);

// Compares with OpenSSL's CRYPTO_memcmp, whose time does not depend on where the bytes differ,
// so a guessed signature learns nothing from how long the refusal took. The length is not
// secret (signatures have a fixed length).
bool constant_time_equals(std::string_view a, std::string_view b);

// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);
template <std::size_t N>
std::string base64_encode(const std::array<std::uint8_t, N>& bytes) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), N));
}
// Strict standard base64 (padding required, no whitespace); nullopt on any bad character.
std::optional<std::string> base64_decode(std::string_view text);

// `bytes` bytes from OpenSSL's CSPRNG (RAND_bytes), as lower-case hex: ids nobody can guess.
// kInternal when the generator fails (it is not seeded). Safe to call from any thread.
Result<std::string> random_hex(std::size_t bytes);

// Streaming hashers for bodies that never sit in memory whole. Move-only.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;
  void update(std::string_view data);
  // Returns the digest; the hasher must not be updated afterwards.
  Sha256Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Md5Hasher {
 public:
  Md5Hasher();
  ~Md5Hasher();
  Md5Hasher(Md5Hasher&&) noexcept;
  Md5Hasher& operator=(Md5Hasher&&) noexcept;
  void update(std::string_view data);
  Md5Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgflow::core
