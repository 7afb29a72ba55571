#pragma once

// Helpers for storage tests.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/result.h"
#include "storage/object_store.h"

namespace imgflow::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/imgflow-storage-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Deterministic bytes of any size, different for each seed.
inline std::string make_bytes(std::size_t size, unsigned seed = 1) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761U + 1;
  for (auto& c : out) {
    x ^= x << 13U;
    x ^= x >> 17U;
    x ^= x << 5U;
    c = static_cast<char>(x & 0xFFU);
  }
  return out;
}

// Hands out a string in fixed-size chunks, so stores see a body arrive in pieces. With
// `fail_at`, reads fail (kUnavailable) once that many bytes were handed out: a client that
// went away mid-body.
class ChunkedSource final : public ByteSource {
 public:
  ChunkedSource(std::string_view data, std::size_t chunk, std::size_t fail_at = SIZE_MAX)
      : data_(data), chunk_(chunk), fail_at_(fail_at) {}
  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    if (pos_ >= fail_at_) return core::fail(core::ErrorCode::kUnavailable, "client went away");
    const std::size_t count = std::min({n, chunk_, fail_at_ - pos_, data_.size() - pos_});
    std::copy_n(data_.data() + pos_, count, buf);
    pos_ += count;
    return count;
  }

 private:
  std::string_view data_;
  std::size_t chunk_;
  std::size_t fail_at_;
  std::size_t pos_ = 0;
};

}  // namespace imgflow::storage::testing

// EXPECT that a Result holds an error with the given storage ErrorDetail.
#define EXPECT_DETAIL(result, detail)                                                         \
  do {                                                                                        \
    const auto& r_ = (result);                                                                \
    ASSERT_FALSE(r_.has_value()) << "expected " << ::imgflow::storage::to_string(detail);     \
    EXPECT_EQ(::imgflow::storage::detail_of(r_.error()), (detail)) << r_.error().to_string(); \
  } while (0)

#define ASSERT_OK(result)                                  \
  do {                                                     \
    const auto& r_ = (result);                             \
    ASSERT_TRUE(r_.has_value()) << r_.error().to_string(); \
  } while (0)
