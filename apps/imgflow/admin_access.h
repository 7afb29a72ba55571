#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "gateway/credentials.h"
#include "sigv4/signer.h"
#include "storage/s3/s3_address.h"

// How the local tools (`imgflow dlq`, `imgflow presign`, `imgflow reprocess`) reach a running
// `imgflow serve` as its admin (the pair and the address it left in its data dir), or another S3
// endpoint with the credentials of the environment.
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

// An environment variable's value; nullopt when unset or empty.
std::optional<std::string> environment(const char* name);

// Where a command's S3 requests go and what signs them.
struct S3Access {
  std::string url;  // the endpoint's URL; "" = AWS S3 in `region`
  storage::s3::S3Endpoint endpoint;
  bool path_style = false;  // AWS: virtual-hosted; any other S3: path-style
  sigv4::Credentials credentials;
  std::string region;
};

// Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) when set,
// else imgflow's admin (admin_credentials). Endpoint: `endpoint`, else AWS_ENDPOINT_URL_S3, else
// AWS_ENDPOINT_URL; with none, the server running on `data_dir` when signing as imgflow's admin,
// else AWS S3. Region: `region`, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
core::Result<S3Access> s3_access(const std::string& endpoint, const std::string& region,
                                 const std::filesystem::path& data_dir);

// True when s3_access would sign as imgflow's admin for the server on the data dir: no endpoint
// is named (flag or environment) and no AWS key pair is set.
bool names_no_s3(const std::string& endpoint);

}  // namespace imgflow::cli
