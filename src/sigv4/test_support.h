#pragma once

// Shared fixtures for the sigv4 tests: one key pair, a fixed time, a lookup over it.

#include <optional>
#include <string_view>

#include "core/clock.h"
#include "sigv4/amz_date.h"
#include "sigv4/signer.h"
#include "sigv4/verifier.h"

namespace imgflow::sigv4::testing_support {

inline constexpr std::string_view kAccessKey = "AKIAIOSFODNN7EXAMPLE";
inline constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

inline TimePoint t0() { return *parse_amz_date("20130524T000000Z"); }

inline std::optional<SecretKey> lookup_fn(std::string_view id) {
  if (id != kAccessKey) return std::nullopt;
  return SecretKey{std::string(kSecret), "admin", "", std::nullopt};
}
inline const CredentialsLookup kLookup = lookup_fn;

inline SigningParams params_at(TimePoint time, std::string_view secret = kSecret) {
  SigningParams p;
  p.credentials = {std::string(kAccessKey), std::string(secret), ""};
  p.time = time;
  return p;
}

}  // namespace imgflow::sigv4::testing_support
