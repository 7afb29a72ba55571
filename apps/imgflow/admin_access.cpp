#include "admin_access.h"

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

}  // namespace imgflow::cli
