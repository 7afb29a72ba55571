#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "gateway/credentials.h"

// How the local tools (`imgflow dlq`, `imgflow presign`) reach a running `imgflow serve` as its
// admin: the pair and the address it left in its data dir.
namespace imgflow::cli {

// The admin pair: IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY, else the data dir's
// credentials file. kNotFound says which to set when neither has one.
core::Result<gateway::KeyPair> admin_credentials(const std::filesystem::path& data_dir);

// The address `imgflow serve` wrote to `path` (DATA_DIR/endpoint); nullopt when there is none.
// Admin credentials are sent to it, so a file that someone else could have written (a symlink,
// another owner, group- or world-writable) is refused.
core::Result<std::optional<std::string>> read_endpoint_file(const std::filesystem::path& path);

// "http://…" or "https://…" with something after the scheme.
bool is_http_url(std::string_view url);

}  // namespace imgflow::cli
