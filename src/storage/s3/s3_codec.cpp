#include "storage/s3/s3_codec.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

#include "core/civil_time.h"
#include "core/codec.h"
#include "sigv4/amz_date.h"
#include "storage/store_util.h"

namespace imgflow::storage::s3 {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<int> parse_int(std::string_view text) {
  int v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

core::Error corrupt_response(std::string_view what) {
  return {core::ErrorCode::kCorrupt, "unexpected S3 response: " + std::string(what)};
}

core::Status check_names(std::string_view bucket, std::string_view key) {
  if (auto st = validate_bucket_name(bucket); !st) return st;
  return internal::validate_key(key);
}

std::string checksum_header(ChecksumAlgorithm algorithm) {
  return "x-amz-checksum-" + core::to_lower(to_string(algorithm));
}

std::string strip_quotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

std::string quoted_etag(std::string_view etag) {
  if (etag == "*") return "*";
  return "\"" + strip_quotes(etag) + "\"";
}

std::optional<core::Clock::TimePoint> parse_http_date(std::string_view text) {
  // "Wed, 21 Oct 2015 07:28:00 GMT": fixed offsets.
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  const auto day = parse_int(text.substr(5, 2));
  const auto year = parse_int(text.substr(12, 4));
  const auto hour = parse_int(text.substr(17, 2));
  const auto minute = parse_int(text.substr(20, 2));
  const auto second = parse_int(text.substr(23, 2));
  unsigned month = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (text.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  if (!day || !year || !hour || !minute || !second || month == 0) return std::nullopt;
  // A leap second (60) or a year outside what a TimePoint holds is no Last-Modified S3 sends.
  return core::utc_time(*year, static_cast<int>(month), *day, *hour, *minute, *second);
}

std::optional<core::Clock::TimePoint> parse_xml_time(std::string_view text) {
  return sigv4::parse_iso8601(text);
}

ObjectInfo info_from_headers(std::string_view key, const http::Response& response) {
  ObjectInfo info;
  info.key = std::string(key);
  info.etag = strip_quotes(response.header("etag").value_or(""));
  info.size = core::parse_u64(response.header("content-length").value_or("")).value_or(0);
  info.content_type = std::string(response.header("content-type").value_or(""));
  info.cache_control = std::string(response.header("cache-control").value_or(""));
  if (auto t = parse_http_date(response.header("last-modified").value_or(""))) {
    info.last_modified = *t;
  }
  constexpr std::string_view kMeta = "x-amz-meta-";
  constexpr std::array<std::pair<std::string_view, ChecksumAlgorithm>, 3> kChecksums = {{
      {"x-amz-checksum-crc32", ChecksumAlgorithm::kCrc32},
      {"x-amz-checksum-crc32c", ChecksumAlgorithm::kCrc32c},
      {"x-amz-checksum-sha256", ChecksumAlgorithm::kSha256},
  }};
  for (const auto& h : response.headers) {
    const std::string name = core::to_lower(h.name);
    if (name.starts_with(kMeta) && name.size() > kMeta.size()) {
      info.user_metadata.emplace(name.substr(kMeta.size()), h.value);
    }
    for (const auto& [header, algorithm] : kChecksums) {
      if (name == header) info.checksum = Checksum{algorithm, h.value};
    }
  }
  return info;
}

void add_metadata_headers(std::vector<http::Header>& headers, std::string_view content_type,
                          std::string_view cache_control,
                          const std::map<std::string, std::string>& user_metadata) {
  if (!content_type.empty()) headers.push_back({"Content-Type", std::string(content_type)});
  if (!cache_control.empty()) headers.push_back({"Cache-Control", std::string(cache_control)});
  for (const auto& [name, value] : user_metadata) {
    headers.push_back({"x-amz-meta-" + name, value});
  }
}

std::string range_header(const ByteRange& range) {
  if (!range.first) return "bytes=-" + std::to_string(range.last.value_or(0));
  std::string out = "bytes=" + std::to_string(*range.first) + "-";
  if (range.last) out += std::to_string(*range.last);
  return out;
}

std::optional<ContentRange> parse_content_range(std::string_view value) {
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  const auto dash = value.find('-');
  const auto slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  const auto first = core::parse_u64(value.substr(0, dash));
  const auto last = core::parse_u64(value.substr(dash + 1, slash - dash - 1));
  const auto total = core::parse_u64(value.substr(slash + 1));
  if (!first || !last || !total || *last < *first || *last >= *total) return std::nullopt;
  return ContentRange{*first, *last, *total};
}

core::Status read_up_to(ByteSource& source, std::size_t limit, std::string& out) {
  constexpr std::size_t kReadChunk = 1 << 20;  // the sources hand out at most this much anyway
  out.reserve(limit);  // once: growing step by step could double the capacity past the limit
  while (out.size() < limit) {
    const std::size_t had = out.size();
    out.resize(std::min(limit, had + kReadChunk));
    auto got = source.read(out.data() + had, out.size() - had);
    if (!got) {
      out.resize(had);
      return core::fail(got.error());
    }
    out.resize(had + *got);
    if (*got == 0) break;
  }
  return {};
}

}  // namespace imgflow::storage::s3
