#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/digest.h"
#include "sigv4/credential_scope.h"

namespace imgflow::sigv4 {

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
core::Sha256Digest derive_signing_key(std::string_view secret_access_key,
                                      const CredentialScope& scope);

// hex(HMAC(signing_key, string_to_sign)).
std::string sign_string(const core::Sha256Digest& signing_key, std::string_view string_to_sign);

// Remembers derived keys per (secret, scope): a key changes once a day per region and service,
// while deriving it costs four HMACs per request. Bounded: when full it is simply cleared
// (keys are cheap to rebuild, and an attacker cycling access keys cannot grow it).
// Safe to call from any thread.
class SigningKeyCache {
 public:
  explicit SigningKeyCache(std::size_t capacity = 1024) : capacity_(capacity) {}

  core::Sha256Digest get(std::string_view secret_access_key, const CredentialScope& scope);

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  // Keyed by scope and a digest of the secret, so the map never holds a secret in clear.
  std::unordered_map<std::string, core::Sha256Digest> keys_;
};

}  // namespace imgflow::sigv4
