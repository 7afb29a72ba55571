#include "storage/s3/spool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace imgflow::storage::s3 {
namespace {

core::Error io_error(std::string_view what) {
  return {core::ErrorCode::kInternal,
          "response spool: " + std::string(what) + ": " + std::strerror(errno)};
}

}  // namespace

core::Status Spool::write(std::string_view chunk) {
  if (!file_ && memory_.size() + chunk.size() > memory_limit_) {
    file_.reset(std::tmpfile());
    if (!file_) return core::fail(io_error("cannot create a temporary file"));
    if (std::fwrite(memory_.data(), 1, memory_.size(), file_.get()) != memory_.size()) {
      return core::fail(io_error("write failed"));
    }
    memory_.clear();
    memory_.shrink_to_fit();
  }
  if (file_) {
    if (std::fwrite(chunk.data(), 1, chunk.size(), file_.get()) != chunk.size()) {
      return core::fail(io_error("write failed"));
    }
  } else {
    memory_.append(chunk);
  }
  size_ += chunk.size();
  return {};
}

void Spool::clear() {
  memory_.clear();
  file_.reset();
  size_ = 0;
}

core::Result<std::size_t> Spool::read_at(std::uint64_t offset, char* buf, std::size_t n) {
  if (offset >= size_) return std::size_t{0};
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size_ - offset));
  if (!file_) {
    std::memcpy(buf, memory_.data() + offset, n);
    return n;
  }
  if (std::fseek(file_.get(), static_cast<long>(offset), SEEK_SET) != 0) {
    return core::fail(io_error("seek failed"));
  }
  const std::size_t got = std::fread(buf, 1, n, file_.get());
  if (got != n) return core::fail(io_error("read failed"));
  return got;
}

core::Result<std::string> Spool::text(std::size_t cap) {
  std::string out(static_cast<std::size_t>(std::min<std::uint64_t>(cap, size_)), '\0');
  auto got = read_at(0, out.data(), out.size());
  if (!got) return core::fail(got.error());
  out.resize(*got);
  return out;
}

}  // namespace imgflow::storage::s3
