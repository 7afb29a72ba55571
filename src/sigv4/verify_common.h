#pragma once

// Checks shared by the header, presigned and POST policy verifiers. Internal to sigv4.

#include <optional>
#include <string_view>

#include "sigv4/verifier.h"

namespace imgflow::sigv4::detail {

// Region and service of a credential scope against the server's; `malformed` is the code for
// the form being verified (header, query or POST).
AuthResult<void> check_scope(const CredentialScope& scope, const VerifierOptions& options,
                             AuthErrorCode malformed);

// Looks the key up and checks its session token and expiry. `token` is what the request carried.
AuthResult<SecretKey> find_secret(const CredentialsLookup& lookup, std::string_view access_key_id,
                                  std::optional<std::string_view> token, TimePoint now);

core::Sha256Digest signing_key_for(const SecretKey& secret, const CredentialScope& scope,
                                   const VerifierOptions& options);

}  // namespace imgflow::sigv4::detail
