#pragma once

// POSIX file helpers for LocalStore. Internal to storage.

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/result.h"

namespace imgflow::storage::fs {

// Owns one file descriptor. Move-only; closes on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// An Error for a failed system call: ENOSPC and EDQUOT are kUnavailable (space may be freed),
// ENOENT kNotFound, the rest kInternal. The message names the operation and the path.
core::Error errno_error(int err, std::string_view what, const std::filesystem::path& path);

core::Result<Fd> open_file(const std::filesystem::path& path, int flags, int mode = 0644);
core::Status write_all(int fd, std::string_view data, const std::filesystem::path& path);
// Reads up to `n` bytes at `offset`; fewer only at end of file.
core::Result<std::size_t> pread_some(int fd, char* buf, std::size_t n, std::uint64_t offset);
core::Status fsync_fd(int fd, const std::filesystem::path& path);
// Starts writing back a range of a file without waiting (Linux sync_file_range), so that disk
// I/O overlaps with reading and hashing the rest of the body and the final fsync waits less.
// Best effort: durability still comes from fsync_fd.
void start_writeback(int fd, std::uint64_t offset, std::uint64_t length);
// fsync of a directory makes the names created or renamed in it durable.
core::Status fsync_dir(const std::filesystem::path& dir);
// Creates `dir` and any missing parents, fsyncing each parent that gained an entry, so the new
// directories survive a crash.
core::Status make_dirs_durable(const std::filesystem::path& dir);

}  // namespace imgflow::storage::fs
