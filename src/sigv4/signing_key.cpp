#include "sigv4/signing_key.h"

namespace imgflow::sigv4 {
namespace {

std::string_view view(const core::Sha256Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

}  // namespace

core::Sha256Digest derive_signing_key(std::string_view secret_access_key,
                                      const CredentialScope& scope) {
  const std::string seed = "AWS4" + std::string(secret_access_key);
  const core::Sha256Digest date_key = core::hmac_sha256(seed, scope.date);
  const core::Sha256Digest region_key = core::hmac_sha256(view(date_key), scope.region);
  const core::Sha256Digest service_key = core::hmac_sha256(view(region_key), scope.service);
  return core::hmac_sha256(view(service_key), kTerminator);
}

std::string sign_string(const core::Sha256Digest& signing_key, std::string_view string_to_sign) {
  return core::to_hex(core::hmac_sha256(view(signing_key), string_to_sign));
}

core::Sha256Digest SigningKeyCache::get(std::string_view secret_access_key,
                                        const CredentialScope& scope) {
  std::string cache_key = scope.to_string();
  cache_key.push_back('\n');
  cache_key.append(view(core::sha256(secret_access_key)));
  {
    std::lock_guard lock(mutex_);
    if (auto it = keys_.find(cache_key); it != keys_.end()) return it->second;
  }
  // Derived outside the lock: two threads may both derive the same key, which is harmless.
  const core::Sha256Digest key = derive_signing_key(secret_access_key, scope);
  std::lock_guard lock(mutex_);
  if (keys_.size() >= capacity_) keys_.clear();
  keys_.emplace(std::move(cache_key), key);
  return key;
}

}  // namespace imgflow::sigv4
