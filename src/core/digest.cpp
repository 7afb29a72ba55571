#include "core/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cassert>
#include <stdexcept>

namespace imgflow::core {
namespace {

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

// OpenSSL digest init fails only when the library itself is broken: a bug, not input.
EvpMdCtx new_digest(const EVP_MD* md) {
  EvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest initialisation failed");
  }
  return ctx;
}

template <std::size_t N>
std::array<std::uint8_t, N> one_shot(const EVP_MD* md, std::string_view data) {
  std::array<std::uint8_t, N> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  assert(len == N);
  return out;
}

// Table-driven reflected CRC-32 for the given polynomial.
struct CrcTable {
  std::array<std::uint32_t, 256> entries{};
  explicit constexpr CrcTable(std::uint32_t poly) {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1U) ? (poly ^ (c >> 1U)) : (c >> 1U);
      entries[i] = c;
    }
  }
};
constexpr CrcTable kCrc32Table(0xEDB88320U);
constexpr CrcTable kCrc32cTable(0x82F63B78U);

std::uint32_t crc_update(const CrcTable& table, std::string_view data, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char byte : data) crc = table.entries[(crc ^ byte) & 0xFFU] ^ (crc >> 8U);
  return ~crc;
}

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Sha256Digest sha256(std::string_view data) { return one_shot<32>(EVP_sha256(), data); }
Md5Digest md5(std::string_view data) { return one_shot<16>(EVP_md5(), data); }

Sha256Digest hmac_sha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  assert(len == out.size());
  return out;
}

std::uint32_t crc32(std::string_view data, std::uint32_t crc) {
  return crc_update(kCrc32Table, data, crc);
}
std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
  return crc_update(kCrc32cTable, data, crc);
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string be32_bytes(std::uint32_t value) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[3 - i] = static_cast<char>((value >> (8 * i)) & 0xFFU);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t n = (std::uint32_t(std::uint8_t(bytes[i])) << 16U) |
                      (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8U) |
                      std::uint8_t(bytes[i + 2]);
    out += kBase64Alphabet[(n >> 18U) & 63U];
    out += kBase64Alphabet[(n >> 12U) & 63U];
    out += kBase64Alphabet[(n >> 6U) & 63U];
    out += kBase64Alphabet[n & 63U];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16U;
    if (rest == 2) n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8U;
    out += kBase64Alphabet[(n >> 18U) & 63U];
    out += kBase64Alphabet[(n >> 12U) & 63U];
    out += rest == 2 ? kBase64Alphabet[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = base64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const std::uint32_t n = (std::uint32_t(v[0]) << 18U) | (std::uint32_t(v[1]) << 12U) |
                            (std::uint32_t(v[2]) << 6U) | std::uint32_t(v[3]);
    out += static_cast<char>((n >> 16U) & 0xFFU);
    if (pad < 2) out += static_cast<char>((n >> 8U) & 0xFFU);
    if (pad < 1) out += static_cast<char>(n & 0xFFU);
  }
  return out;
}

Result<std::string> random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return fail(ErrorCode::kInternal, "RAND_bytes failed: the random generator is not seeded");
  }
  return to_hex(raw);
}

struct Sha256Hasher::Impl {
  EvpMdCtx ctx = new_digest(EVP_sha256());
};
Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {}
Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;
void Sha256Hasher::update(std::string_view data) {
  EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size());
}
Sha256Digest Sha256Hasher::finish() {
  Sha256Digest out{};
  EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), nullptr);
  return out;
}

struct Md5Hasher::Impl {
  EvpMdCtx ctx = new_digest(EVP_md5());
};
Md5Hasher::Md5Hasher() : impl_(std::make_unique<Impl>()) {}
Md5Hasher::~Md5Hasher() = default;
Md5Hasher::Md5Hasher(Md5Hasher&&) noexcept = default;
Md5Hasher& Md5Hasher::operator=(Md5Hasher&&) noexcept = default;
void Md5Hasher::update(std::string_view data) {
  EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size());
}
Md5Digest Md5Hasher::finish() {
  Md5Digest out{};
  EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), nullptr);
  return out;
}

}  // namespace imgflow::core
