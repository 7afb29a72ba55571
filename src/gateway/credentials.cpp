#include "gateway/credentials.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace imgflow::gateway {
namespace {

namespace fs = std::filesystem;

core::Status fill_random(unsigned char* out, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = getrandom(out + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return core::fail(core::ErrorCode::kInternal,
                        std::string("getrandom: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(got);
  }
  return {};
}

// Picks characters without modulo bias: bytes at or above the largest multiple are redrawn.
core::Result<std::string> random_string(std::string_view alphabet, std::size_t length) {
  std::string out;
  const unsigned limit = 256 - (256 % alphabet.size());
  while (out.size() < length) {
    unsigned char buf[64];
    if (auto ok = fill_random(buf, sizeof buf); !ok) return core::fail(ok.error());
    for (const unsigned char b : buf) {
      if (b < limit && out.size() < length) out += alphabet[b % alphabet.size()];
    }
  }
  return out;
}

constexpr std::string_view kIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kSecretAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

core::Result<StoredCredentials> parse_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return core::fail(core::ErrorCode::kInternal, path.string() + ": cannot read");
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return core::fail(core::ErrorCode::kCorrupt, path.string() + ": expected key=value lines");
    }
    values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  StoredCredentials stored;
  stored.function = {values["function_access_key_id"], values["function_secret_access_key"],
                     values["function_session_token"]};
  const KeyPair admin{values["admin_access_key_id"], values["admin_secret_access_key"], ""};
  if (stored.function.access_key_id.empty() || stored.function.secret_access_key.empty() ||
      admin.access_key_id.empty() != admin.secret_access_key.empty()) {
    return core::fail(core::ErrorCode::kCorrupt,
                      path.string() +
                          ": missing function_* keys or half an admin_* pair; delete the file to "
                          "generate new credentials");
  }
  if (!admin.access_key_id.empty()) stored.admin = admin;
  return stored;
}

// Only a regular file of ours that nobody else can read: not a symlink another user planted,
// not a copy left group-readable.
core::Status check_private_file(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return core::fail(core::ErrorCode::kInternal, path.string() + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return core::fail(core::ErrorCode::kPermissionDenied,
                      path.string() + " is not a regular file (a symlink?); remove it");
  }
  if (st.st_uid != ::geteuid()) {
    return core::fail(core::ErrorCode::kPermissionDenied,
                      path.string() + " belongs to another user; remove it or run as its owner");
  }
  if ((st.st_mode & 077) != 0) {
    return core::fail(core::ErrorCode::kPermissionDenied,
                      path.string() + " is readable by others; run chmod 600 on it");
  }
  return {};
}

core::Status write_file(const fs::path& path, const StoredCredentials& c) {
  std::ostringstream text;
  text << "# imgflow credentials: keep this file private (mode 0600).\n";
  if (c.admin) {
    text << "admin_access_key_id=" << c.admin->access_key_id << "\n"
         << "admin_secret_access_key=" << c.admin->secret_access_key << "\n";
  }
  text << "function_access_key_id=" << c.function.access_key_id << "\n"
       << "function_secret_access_key=" << c.function.secret_access_key << "\n";
  if (!c.function.session_token.empty()) {
    text << "function_session_token=" << c.function.session_token << "\n";
  }
  return write_private_file(path, text.str());
}

}  // namespace

core::Status write_private_file(const fs::path& path, std::string_view data) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return core::fail(core::ErrorCode::kInternal,
                      path.parent_path().string() + ": " + ec.message());
  }
  const fs::path temp = path.string() + ".tmp";
  // A stale temp (a crash mid-write) is removed, never followed; the new one is created 0600
  // from the start, exclusively and without following links, so no one else can read the
  // contents or redirect the write, not even briefly.
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return core::fail(core::ErrorCode::kInternal, temp.string() + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return core::fail(core::ErrorCode::kInternal, temp.string() + ": write failed");
  fs::rename(temp, path, ec);
  if (ec) return core::fail(core::ErrorCode::kInternal, path.string() + ": " + ec.message());
  return {};
}

core::Result<std::string> read_private_file(const fs::path& path, std::size_t max_bytes) {
  if (auto ok = check_private_file(path); !ok) return core::fail(ok.error());
  std::ifstream in(path, std::ios::binary);
  std::string data(max_bytes + 1, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (in.bad()) return core::fail(core::ErrorCode::kInternal, path.string() + ": cannot read");
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > max_bytes) {
    return core::fail(core::ErrorCode::kCorrupt, path.string() + ": larger than expected");
  }
  return data;
}

core::Result<std::optional<StoredCredentials>> read_credentials(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<StoredCredentials>();
    return core::fail(core::ErrorCode::kInternal, path.string() + ": " + std::strerror(errno));
  }
  if (auto ok = check_private_file(path); !ok) return core::fail(ok.error());
  auto parsed = parse_file(path);
  if (!parsed) return core::fail(parsed.error());
  return std::optional<StoredCredentials>(std::move(*parsed));
}

core::Result<KeyPair> generate_key_pair() {
  auto id = random_string(kIdAlphabet, 18);
  if (!id) return core::fail(id.error());
  auto secret = random_string(kSecretAlphabet, 40);
  if (!secret) return core::fail(secret.error());
  return KeyPair{"IF" + *id, *secret, ""};
}

core::Result<LoadedCredentials> load_or_create_credentials(
    const fs::path& path, const std::optional<KeyPair>& admin_override) {
  auto stored = read_credentials(path);
  if (!stored) return core::fail(stored.error());
  StoredCredentials file = stored->value_or(StoredCredentials{});
  LoadedCredentials loaded;
  if (!*stored) {
    auto function = generate_key_pair();
    if (!function) return core::fail(function.error());
    file.function = *function;
    loaded.function_generated = true;
  }
  // Only what is in force is written: an admin from the environment stays out of the file, and
  // no generated admin pair sits there unused (it would be refused while the variables are set).
  if (!admin_override && !file.admin) {
    auto admin = generate_key_pair();
    if (!admin) return core::fail(admin.error());
    file.admin = *admin;
    loaded.admin_generated = true;
  }
  if (loaded.function_generated || loaded.admin_generated) {
    if (auto ok = write_file(path, file); !ok) return core::fail(ok.error());
  }
  loaded.credentials = {admin_override ? *admin_override : *file.admin, file.function};
  return loaded;
}

sigv4::CredentialsLookup make_lookup(const Credentials& credentials) {
  return [c = credentials](std::string_view id) -> std::optional<sigv4::SecretKey> {
    if (id == c.admin.access_key_id) {
      return sigv4::SecretKey{c.admin.secret_access_key, "admin", "", std::nullopt};
    }
    if (id == c.function.access_key_id) {
      return sigv4::SecretKey{c.function.secret_access_key, "function", c.function.session_token,
                              std::nullopt};
    }
    return std::nullopt;
  };
}

core::Result<std::optional<KeyPair>> admin_from_environment() {
  const char* id = std::getenv("IMGFLOW_ACCESS_KEY_ID");
  const char* secret = std::getenv("IMGFLOW_SECRET_ACCESS_KEY");
  const bool has_id = id != nullptr && *id != '\0';
  const bool has_secret = secret != nullptr && *secret != '\0';
  if (has_id != has_secret) {
    return core::fail(core::ErrorCode::kInvalidArgument,
                      "set both IMGFLOW_ACCESS_KEY_ID and IMGFLOW_SECRET_ACCESS_KEY, or neither");
  }
  if (!has_id) return std::optional<KeyPair>{};
  return std::optional<KeyPair>{KeyPair{id, secret, ""}};
}

}  // namespace imgflow::gateway
