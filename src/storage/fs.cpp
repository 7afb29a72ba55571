#include "storage/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace imgflow::storage::fs {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

core::Error errno_error(int err, std::string_view what, const std::filesystem::path& path) {
  core::ErrorCode code = core::ErrorCode::kInternal;
  if (err == ENOSPC || err == EDQUOT) code = core::ErrorCode::kUnavailable;
  if (err == ENOENT) code = core::ErrorCode::kNotFound;
  return core::Error{code, std::string(what) + " " + path.string() + ": " + std::strerror(err)};
}

core::Result<Fd> open_file(const std::filesystem::path& path, int flags, int mode) {
  while (true) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return Fd(fd);
    if (errno != EINTR) return core::fail(errno_error(errno, "open", path));
  }
}

core::Status write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::fail(errno_error(errno, "write", path));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

core::Result<std::size_t> pread_some(int fd, char* buf, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return core::fail(errno_error(errno, "read", "object file"));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

core::Status fsync_fd(int fd, const std::filesystem::path& path) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return core::fail(errno_error(errno, "fsync", path));
  }
  return {};
}

void start_writeback(int fd, std::uint64_t offset, std::uint64_t length) {
  (void)::sync_file_range(fd, static_cast<off64_t>(offset), static_cast<off64_t>(length),
                          SYNC_FILE_RANGE_WRITE);
}

core::Status fsync_dir(const std::filesystem::path& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) return core::fail(fd.error());
  return fsync_fd(fd->get(), dir);
}

core::Status make_dirs_durable(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return core::fail(errno_error(ENOTDIR, "mkdir", dir));
  }
  const auto parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    if (auto status = make_dirs_durable(parent); !status) return status;
  }
  // Private: objects are readable through the gateway's policy only, never on disk by others.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return core::fail(errno_error(errno, "mkdir", dir));
  }
  return parent.empty() ? core::Status() : fsync_dir(parent);
}

}  // namespace imgflow::storage::fs
