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
  // Temporary credentials: requests must carry this X-Amz-Security-Token ("" = none). The
  // credentials file may give the function pair one (function_session_token=), as a host that
  // hands out short-lived keys (Lambda's execution role) would.
  std::string session_token;
};

// The embedded mode's two credential pairs (the anonymous principal needs none).
struct Credentials {
  KeyPair admin;
  KeyPair function;  // the role the image function uses: GET source, PUT destination
};

// A fresh pair from the kernel CSPRNG (getrandom(2)): a 20-character upper-case id starting
// with "IF" and a 40-character base64-alphabet secret, shaped like AWS keys so tools accept them.
core::Result<KeyPair> generate_key_pair();

// What the data dir's credentials file holds: the function pair always, the admin pair unless
// the admin comes from the environment.
struct StoredCredentials {
  std::optional<KeyPair> admin;
  KeyPair function;
};

// Reads `path`; nullopt if it does not exist. The file must be a regular file (not a symlink)
// owned by this user and readable by nobody else, as ssh insists for keys: kPermissionDenied
// otherwise. kCorrupt if it does not parse, kInternal for I/O errors.
core::Result<std::optional<StoredCredentials>> read_credentials(const std::filesystem::path& path);

struct LoadedCredentials {
  Credentials credentials;          // in force: the admin from the environment if it was given
  bool admin_generated = false;     // written to the file now: show it once
  bool function_generated = false;  // written to the file now: show it once
};

// Reads `path` (as read_credentials) and generates what is missing: the function pair when there
// is no file, and the admin pair when neither the file nor `admin_override` (from
// IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY) has one. `admin_override` is used in
// memory and never written. New pairs are written with write_private_file. Errors as
// read_credentials.
core::Result<LoadedCredentials> load_or_create_credentials(
    const std::filesystem::path& path, const std::optional<KeyPair>& admin_override);

// Writes `data` to `path` through a temp file created 0600 with O_EXCL | O_NOFOLLOW (a stale temp
// is unlinked first, never followed), fsync and rename: readers see the old file or the whole new
// one, and nobody else can read or redirect it meanwhile. kInternal on I/O errors.
core::Status write_private_file(const std::filesystem::path& path, std::string_view data);

// Reads a file written by write_private_file, after the same checks as read_credentials:
// kPermissionDenied for a symlink, another owner or group/other access; kCorrupt past
// `max_bytes`.
core::Result<std::string> read_private_file(const std::filesystem::path& path,
                                            std::size_t max_bytes);

// The admin pair from IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY: nullopt when neither
// is set, kInvalidArgument when only one is (half a key pair is a configuration mistake).
core::Result<std::optional<KeyPair>> admin_from_environment();

// A sigv4 lookup over the two pairs: principal "admin" or "function". The returned function
// keeps its own copy of the keys.
sigv4::CredentialsLookup make_lookup(const Credentials& credentials);

}  // namespace imgflow::gateway
