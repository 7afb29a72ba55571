#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "sigv4/verifier.h"

namespace imgflow::gateway {

struct KeyPair {
  std::string access_key_id;
  std::string secret_access_key;
};

// The embedded mode's two credential pairs (the anonymous principal needs none).
struct Credentials {
  KeyPair admin;
  KeyPair function;  // the role the image function uses: GET source, PUT destination
};

// A fresh pair from the kernel CSPRNG (getrandom(2)): a 20-character upper-case id starting
// with "IF" and a 40-character base64-alphabet secret, shaped like AWS keys so tools accept them.
core::Result<KeyPair> generate_key_pair();

struct LoadedCredentials {
  Credentials credentials;
  bool created = false;  // true when the file was written now: print the secrets once
};

// Reads `path` (key=value lines) or, when it does not exist, generates both pairs and writes it
// with mode 0600 (via a temp file and rename). `admin_override`, from IMGFLOW_ACCESS_KEY_ID and
// IMGFLOW_SECRET_ACCESS_KEY, replaces the admin pair in memory and is never written (the file's
// admin pair is the fallback for starts without the variables). A file
// readable by group or others is refused (kPermissionDenied), as ssh does with keys.
// Errors: kInternal (I/O), kCorrupt (unparsable file), kPermissionDenied.
core::Result<LoadedCredentials> load_or_create_credentials(
    const std::filesystem::path& path, const std::optional<KeyPair>& admin_override);

// The admin pair from IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY: nullopt when neither
// is set, kInvalidArgument when only one is (half a key pair is a configuration mistake).
core::Result<std::optional<KeyPair>> admin_from_environment();

// A sigv4 lookup over the two pairs: principal "admin" or "function". The returned function
// keeps its own copy of the keys.
sigv4::CredentialsLookup make_lookup(const Credentials& credentials);

}  // namespace imgflow::gateway
