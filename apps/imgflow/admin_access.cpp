#include "admin_access.h"

#include <cstdlib>

namespace imgflow::cli {

namespace fs = std::filesystem;

core::Result<gateway::KeyPair> admin_credentials(const fs::path& data_dir) {
  auto from_env = gateway::admin_from_environment();
  if (!from_env) return core::fail(from_env.error());
  if (*from_env) return **from_env;
  const fs::path file = data_dir / "credentials";
  auto stored = gateway::read_credentials(file);
  if (!stored) return core::fail(stored.error());
  if (!*stored) {
    return core::fail(core::ErrorCode::kNotFound,
                      "no admin credentials: set IMGFLOW_ACCESS_KEY_ID and "
                      "IMGFLOW_SECRET_ACCESS_KEY, or point --data-dir at the server's data dir (" +
                          file.string() + " does not exist)");
  }
  if (!(*stored)->admin) {
    return core::fail(core::ErrorCode::kNotFound,
                      "the server's admin comes from IMGFLOW_ACCESS_KEY_ID and "
                      "IMGFLOW_SECRET_ACCESS_KEY (" +
                          file.string() + " holds no admin pair): set them here too");
  }
  return *(*stored)->admin;
}

core::Result<std::optional<std::string>> read_endpoint_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return std::optional<std::string>();
  auto text = gateway::read_private_file(path, 4096);
  if (!text) return core::fail(text.error());
  std::string line = text->substr(0, text->find('\n'));
  if (line.empty()) return std::optional<std::string>();
  return std::optional<std::string>(line);
}

bool is_http_url(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.starts_with(scheme) && url.size() > scheme.size()) return true;
  }
  return false;
}

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

namespace {

std::string endpoint_named(const std::string& endpoint) {
  if (!endpoint.empty()) return endpoint;
  return environment("AWS_ENDPOINT_URL_S3").value_or(environment("AWS_ENDPOINT_URL").value_or(""));
}

bool has_aws_key_pair() {
  return environment("AWS_ACCESS_KEY_ID") && environment("AWS_SECRET_ACCESS_KEY");
}

}  // namespace

bool names_no_s3(const std::string& endpoint) {
  return endpoint_named(endpoint).empty() && !has_aws_key_pair();
}

core::Result<S3Access> s3_access(const std::string& endpoint, const std::string& region,
                                 const fs::path& data_dir) {
  S3Access access;
  access.region = !region.empty()
                      ? region
                      : environment("AWS_REGION")
                            .value_or(environment("AWS_DEFAULT_REGION").value_or("us-east-1"));
  if (has_aws_key_pair()) {
    access.credentials = {*environment("AWS_ACCESS_KEY_ID"), *environment("AWS_SECRET_ACCESS_KEY"),
                          environment("AWS_SESSION_TOKEN").value_or("")};
  } else {
    auto admin = admin_credentials(data_dir);
    if (!admin) {
      return core::fail(admin.error().code,
                        "no credentials to sign with: set AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY, or " +
                            admin.error().message);
    }
    access.credentials = {admin->access_key_id, admin->secret_access_key, ""};
  }
  access.url = endpoint_named(endpoint);
  if (access.url.empty() && !has_aws_key_pair()) {  // the imgflow admin signs for its server
    auto found = read_endpoint_file(data_dir / "endpoint");
    if (!found) return core::fail(found.error());
    if (!*found) {
      return core::fail(core::ErrorCode::kNotFound, "no server: imgflow serve is not running on " +
                                                        data_dir.string() +
                                                        "; pass --endpoint URL");
    }
    access.url = **found;
  }
  auto parsed = storage::s3::parse_s3_endpoint(access.url, access.region);
  if (!parsed) return core::fail(parsed.error());
  access.endpoint = std::move(*parsed);
  access.path_style = !access.url.empty();
  return access;
}

}  // namespace imgflow::cli
