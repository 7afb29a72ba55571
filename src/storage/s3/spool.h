#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "http/http_client.h"

namespace imgflow::storage::s3 {

// A response body buffer: in memory up to `memory_limit` bytes, then in an anonymous temporary
// file, so a large GET does not sit in RAM. Written once (as an http::BodySink), then read.
// Not thread-safe.
class Spool final : public http::BodySink {
 public:
  explicit Spool(std::size_t memory_limit) : memory_limit_(memory_limit) {}

  core::Status write(std::string_view chunk) override;
  // Drops everything written (before a retry).
  void clear();
  std::uint64_t size() const { return size_; }

  // Copies up to `n` bytes at `offset` into `buf`; returns how many (0 at the end).
  core::Result<std::size_t> read_at(std::uint64_t offset, char* buf, std::size_t n);
  // The first `cap` bytes as a string (error and XML bodies).
  core::Result<std::string> text(std::size_t cap);

 private:
  struct FileClose {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };

  std::size_t memory_limit_;
  std::string memory_;
  std::unique_ptr<std::FILE, FileClose> file_;
  std::uint64_t size_ = 0;
};

}  // namespace imgflow::storage::s3
