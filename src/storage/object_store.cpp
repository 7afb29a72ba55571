#include "storage/object_store.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#include "core/codec.h"

namespace imgflow::storage {
namespace {

using core::ErrorCode;

bool is_ipv4(std::string_view name) {
  int dots = 0;
  int digits = 0;
  for (char c : name) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

struct DetailName {
  ErrorDetail detail;
  std::string_view name;
  ErrorCode code;
};

constexpr std::array<DetailName, 19> kDetails = {{
    {ErrorDetail::kNoSuchBucket, "NoSuchBucket", ErrorCode::kNotFound},
    {ErrorDetail::kNoSuchKey, "NoSuchKey", ErrorCode::kNotFound},
    {ErrorDetail::kNoSuchUpload, "NoSuchUpload", ErrorCode::kNotFound},
    {ErrorDetail::kBucketAlreadyOwnedByYou, "BucketAlreadyOwnedByYou", ErrorCode::kAlreadyExists},
    {ErrorDetail::kBucketNotEmpty, "BucketNotEmpty", ErrorCode::kFailedPrecondition},
    {ErrorDetail::kInvalidBucketName, "InvalidBucketName", ErrorCode::kInvalidArgument},
    {ErrorDetail::kKeyTooLongError, "KeyTooLongError", ErrorCode::kInvalidArgument},
    {ErrorDetail::kInvalidArgument, "InvalidArgument", ErrorCode::kInvalidArgument},
    {ErrorDetail::kInvalidRequest, "InvalidRequest", ErrorCode::kInvalidArgument},
    {ErrorDetail::kInvalidDigest, "InvalidDigest", ErrorCode::kInvalidArgument},
    {ErrorDetail::kBadDigest, "BadDigest", ErrorCode::kInvalidArgument},
    {ErrorDetail::kIncompleteBody, "IncompleteBody", ErrorCode::kInvalidArgument},
    {ErrorDetail::kEntityTooLarge, "EntityTooLarge", ErrorCode::kTooLarge},
    {ErrorDetail::kEntityTooSmall, "EntityTooSmall", ErrorCode::kInvalidArgument},
    {ErrorDetail::kInvalidPart, "InvalidPart", ErrorCode::kInvalidArgument},
    {ErrorDetail::kInvalidPartOrder, "InvalidPartOrder", ErrorCode::kInvalidArgument},
    {ErrorDetail::kInvalidRange, "InvalidRange", ErrorCode::kInvalidArgument},
    {ErrorDetail::kPreconditionFailed, "PreconditionFailed", ErrorCode::kFailedPrecondition},
    {ErrorDetail::kSlowDown, "SlowDown", ErrorCode::kUnavailable},
}};

const DetailName* find_detail(ErrorDetail detail) {
  for (const auto& d : kDetails) {
    if (d.detail == detail) return &d;
  }
  return nullptr;
}

}  // namespace

std::string_view to_string(ErrorDetail detail) {
  const auto* d = find_detail(detail);
  return d != nullptr ? d->name : "";
}

core::ErrorCode code_of(ErrorDetail detail) {
  const auto* d = find_detail(detail);
  return d != nullptr ? d->code : ErrorCode::kInternal;
}

core::Error make_error(ErrorDetail detail, std::string_view message) {
  return core::Error{code_of(detail), std::string(message), std::string(to_string(detail))};
}

ErrorDetail detail_of(const core::Error& error) {
  for (const auto& d : kDetails) {
    if (d.name == error.reason && d.code == error.code) return d.detail;
  }
  return ErrorDetail::kNone;
}

std::string_view to_string(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kCrc32:
      return "CRC32";
    case ChecksumAlgorithm::kCrc32c:
      return "CRC32C";
    case ChecksumAlgorithm::kSha256:
      return "SHA256";
  }
  return "";
}

core::Result<std::size_t> StringSource::read(char* buf, std::size_t n) {
  const std::size_t count = std::min({n, max_read_, data_.size() - pos_});
  std::memcpy(buf, data_.data() + pos_, count);
  pos_ += count;
  return count;
}

std::optional<ByteRange> parse_range_header(std::string_view value) {
  constexpr std::string_view kUnit = "bytes=";
  if (!value.starts_with(kUnit)) return std::nullopt;
  value.remove_prefix(kUnit.size());
  const auto dash = value.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto first_text = value.substr(0, dash);
  const auto last_text = value.substr(dash + 1);
  if (first_text.empty()) {
    auto length = core::parse_u64(last_text);
    if (!length) return std::nullopt;
    return ByteRange::suffix(*length);
  }
  auto first = core::parse_u64(first_text);
  if (!first) return std::nullopt;
  if (last_text.empty()) return ByteRange::from(*first);
  auto last = core::parse_u64(last_text);
  if (!last || *last < *first) return std::nullopt;
  return ByteRange::from(*first, *last);
}

core::Result<ObjectInfo> ObjectStore::put(std::string_view bucket, std::string_view key,
                                          std::string_view body, const PutOptions& options) {
  StringSource source(body);
  return put(bucket, key, source, options);
}

core::Status ObjectStore::delete_object(std::string_view bucket, std::string_view key) {
  return delete_object(bucket, key, DeleteOptions{});
}

core::Result<ObjectInfo> ObjectStore::get(std::string_view bucket, std::string_view key,
                                          ByteSink& sink, const GetOptions& options) {
  auto reader = open(bucket, key, options);
  if (!reader) return core::fail(reader.error());
  std::string buf(std::min<std::uint64_t>((*reader)->length(), 1 << 20), '\0');
  while (true) {
    auto n = (*reader)->read(buf.data(), buf.size());
    if (!n) return core::fail(n.error());
    if (*n == 0) break;
    if (auto st = sink.write(std::string_view(buf.data(), *n)); !st) return core::fail(st.error());
  }
  return (*reader)->info();
}

core::Result<std::string> ObjectStore::get_string(std::string_view bucket, std::string_view key,
                                                  const GetOptions& options) {
  std::string out;
  StringSink sink(out);
  if (auto info = get(bucket, key, sink, options); !info) return core::fail(info.error());
  return out;
}

core::Status validate_bucket_name(std::string_view bucket) {
  const bool ok = bucket.size() >= 3 && bucket.size() <= 63 && is_lower_alnum(bucket.front()) &&
                  is_lower_alnum(bucket.back()) &&
                  std::all_of(bucket.begin(), bucket.end(),
                              [](char c) { return is_lower_alnum(c) || c == '.' || c == '-'; }) &&
                  bucket.find("..") == std::string_view::npos && !is_ipv4(bucket);
  if (ok) return {};
  return core::fail(make_error(ErrorDetail::kInvalidBucketName,
                               "bucket names are 3-63 characters of a-z, 0-9, '.' and '-', "
                               "start and end with a letter or digit: '" +
                                   std::string(bucket.substr(0, 80)) + "'"));
}

}  // namespace imgflow::storage
