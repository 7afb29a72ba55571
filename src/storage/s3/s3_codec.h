#pragma once

// Helpers shared by the S3Store operations: response headers to ObjectInfo, request headers
// from options, S3 date formats. Internal to storage/s3.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "http/http_client.h"
#include "storage/object_store.h"

namespace imgflow::storage::s3 {

// kCorrupt "unexpected S3 response: <what>".
core::Error corrupt_response(std::string_view what);

// Validates a bucket name and key before anything is sent (the same rules as every store).
core::Status check_names(std::string_view bucket, std::string_view key);

// "x-amz-checksum-crc32" and friends.
std::string checksum_header(ChecksumAlgorithm algorithm);

// "\"abc\"" → "abc"; other text unchanged.
std::string strip_quotes(std::string_view etag);
// "abc" → "\"abc\"" for an If-Match header; "*" stays "*".
std::string quoted_etag(std::string_view etag);

// An RFC 7231 IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"); nullopt otherwise.
std::optional<core::Clock::TimePoint> parse_http_date(std::string_view text);
// "2009-10-12T17:50:30.000Z" (S3 XML timestamps); nullopt otherwise.
std::optional<core::Clock::TimePoint> parse_xml_time(std::string_view text);

// The metadata of an object from GET/HEAD response headers (ETag, Content-Length, Content-Type,
// Cache-Control, Last-Modified, x-amz-meta-*, x-amz-checksum-*).
ObjectInfo info_from_headers(std::string_view key, const http::Response& response);

// Content-Type, Cache-Control and x-amz-meta-* request headers.
void add_metadata_headers(std::vector<http::Header>& headers, std::string_view content_type,
                          std::string_view cache_control,
                          const std::map<std::string, std::string>& user_metadata);

// Appends bytes of `source` to `out` until `out` holds `limit` bytes or the source ends. Reads
// straight into `out`, so a part-sized buffer is filled without a second copy.
core::Status read_up_to(ByteSource& source, std::size_t limit, std::string& out);

// "bytes=0-99", "bytes=100-", "bytes=-500".
std::string range_header(const ByteRange& range);

// "bytes 0-99/1234" → {first, last, total}.
struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t total = 0;
};
std::optional<ContentRange> parse_content_range(std::string_view value);

}  // namespace imgflow::storage::s3
