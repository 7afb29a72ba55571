#include "gateway/s3_request.h"

#include <array>
#include <charconv>

#include "core/codec.h"
#include "http/request_head.h"

namespace imgflow::gateway {
namespace {

constexpr std::string_view kOperationalBucket = "_imgflow";

// Sub-resources of buckets and objects that are real S3 APIs this gateway does not offer. Of
// "acl" and "versions" only the reads are offered (route_read_subresource).
constexpr std::array<std::string_view, 18> kUnsupportedSubresources = {
    "acl",       "tagging",    "versioning", "versions",     "policy",      "cors",
    "lifecycle", "website",    "logging",    "notification", "replication", "encryption",
    "retention", "legal-hold", "torrent",    "restore",      "select",      "object-lock"};

// GetBucketAcl, GetObjectAcl and ListObjectVersions: the reads of sub-resources that are
// otherwise not offered; kNotImplemented for anything else.
Operation route_read_subresource(const S3Request& r) {
  if (r.method == "GET" && r.has_param("acl")) {
    return r.key.empty() ? Operation::kGetBucketAcl : Operation::kGetObjectAcl;
  }
  if (r.method == "GET" && r.has_param("versions") && r.key.empty() && !r.bucket.empty()) {
    return Operation::kListObjectVersions;
  }
  return Operation::kNotImplemented;
}

Operation route_service(std::string_view method) {
  return method == "GET" ? Operation::kListBuckets : Operation::kNotImplemented;
}

Operation route_bucket(const S3Request& r) {
  if (r.method == "PUT") return Operation::kCreateBucket;
  if (r.method == "HEAD") return Operation::kHeadBucket;
  if (r.method == "GET") {
    if (r.has_param("location")) return Operation::kGetBucketLocation;
    if (r.has_param("uploads")) return Operation::kListMultipartUploads;
    if (r.param("list-type") == "2") return Operation::kListObjectsV2;
    return Operation::kListObjects;
  }
  if (r.method == "POST") {
    if (r.has_param("delete")) return Operation::kDeleteObjects;
    return Operation::kPostObject;
  }
  if (r.method == "DELETE") return Operation::kDeleteBucket;
  return Operation::kNotImplemented;
}

Operation route_object(const S3Request& r) {
  const bool upload_id = r.has_param("uploadId");
  if (r.method == "PUT") {
    if (r.has_param("partNumber") && upload_id) {
      return r.header("x-amz-copy-source") ? Operation::kUploadPartCopy : Operation::kUploadPart;
    }
    return r.header("x-amz-copy-source") ? Operation::kCopyObject : Operation::kPutObject;
  }
  if (r.method == "GET") return upload_id ? Operation::kListParts : Operation::kGetObject;
  if (r.method == "HEAD") return Operation::kHeadObject;
  if (r.method == "DELETE") {
    return upload_id ? Operation::kAbortMultipartUpload : Operation::kDeleteObject;
  }
  if (r.method == "POST") {
    if (r.has_param("uploads")) return Operation::kCreateMultipartUpload;
    if (upload_id) return Operation::kCompleteMultipartUpload;
    return Operation::kNotImplemented;
  }
  return Operation::kNotImplemented;
}

bool known_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "POST" ||
         method == "DELETE" || method == "OPTIONS";
}

// ---- Media types (RFC 9110 section 8.3.1) ------------------------------------------------------

bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

void skip_ows(std::string_view& s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
}

// The token at the front of `s`, consumed; empty when there is none.
std::string_view take_token(std::string_view& s) {
  std::size_t n = 0;
  while (n < s.size() && is_tchar(s[n])) ++n;
  const std::string_view token = s.substr(0, n);
  s.remove_prefix(n);
  return token;
}

// The quoted-string at the front of `s` (which starts with '"'), consumed and unescaped.
std::optional<std::string> take_quoted(std::string_view& s) {
  std::string out;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      s.remove_prefix(i + 1);
      return out;
    }
    if (c == '\\') {
      if (++i == s.size()) return std::nullopt;
      out += s[i];
    } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return std::nullopt;  // qdtext is HTAB, SP, visible ASCII and obs-text
    } else {
      out += static_cast<char>(c);
    }
  }
  return std::nullopt;  // no closing quote
}

// One ";" parameter at the front of `s` (after the ';' and OWS), consumed into `media`.
bool take_parameter(std::string_view& s, MediaType& media) {
  const std::string_view name = take_token(s);
  if (name.empty() || s.empty() || s.front() != '=') return false;
  s.remove_prefix(1);
  std::optional<std::string> value;
  if (!s.empty() && s.front() == '"') {
    value = take_quoted(s);
  } else if (const std::string_view token = take_token(s); !token.empty()) {
    value = std::string(token);
  }
  if (!value) return false;
  media.parameters.emplace_back(core::to_lower(name), std::move(*value));
  return true;
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Whether a Content-Encoding value lists aws-chunked ("aws-chunked", "aws-chunked,gzip", ...).
bool lists_aws_chunked(std::string_view encodings) {
  for (std::size_t pos = 0; pos <= encodings.size();) {
    std::size_t comma = encodings.find(',', pos);
    if (comma == std::string_view::npos) comma = encodings.size();
    std::string_view item = encodings.substr(pos, comma - pos);
    skip_ows(item);
    while (!item.empty() && is_ows(item.back())) item.remove_suffix(1);
    if (core::to_lower(item) == "aws-chunked") return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

std::optional<MediaType> parse_media_type(std::string_view text) {
  skip_ows(text);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  const std::string_view type = take_token(text);
  if (type.empty() || text.empty() || text.front() != '/') return std::nullopt;
  text.remove_prefix(1);
  const std::string_view subtype = take_token(text);
  if (subtype.empty()) return std::nullopt;
  MediaType media{core::to_lower(type), core::to_lower(subtype), {}};
  // parameters = *( OWS ";" OWS [ parameter ] ): anything else, such as the ',' of a list, is
  // not one media type.
  for (skip_ows(text); !text.empty(); skip_ows(text)) {
    if (text.front() != ';') return std::nullopt;
    text.remove_prefix(1);
    skip_ows(text);
    if (text.empty() || text.front() == ';') continue;
    if (!take_parameter(text, media)) return std::nullopt;
  }
  return media;
}

tl::expected<std::optional<UnsignedChunkedBody>, S3Error> parse_unsigned_chunked(
    const http::RequestHead& wire) {
  constexpr std::string_view kUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
  const auto content_sha256 = http::header_value(wire, "x-amz-content-sha256");
  if (content_sha256 && content_sha256->starts_with("STREAMING-") &&
      *content_sha256 != kUnsignedTrailer) {
    return tl::unexpected(s3_error(
        "InvalidRequest",
        "aws-chunked uploads with chunk signatures (" + std::string(content_sha256->substr(0, 64)) +
            ") must be signed; unsigned uploads may use " + std::string(kUnsignedTrailer)));
  }
  const auto encoding = http::header_value(wire, "content-encoding");
  const bool chunked = content_sha256 ? *content_sha256 == kUnsignedTrailer
                                      : encoding && lists_aws_chunked(*encoding);
  if (!chunked) return std::optional<UnsignedChunkedBody>();
  const auto decoded = http::header_value(wire, "x-amz-decoded-content-length");
  const auto length = decoded ? parse_decimal(*decoded) : std::nullopt;
  if (!length) {
    return tl::unexpected(
        s3_error("MissingContentLength",
                 "aws-chunked uploads need a valid x-amz-decoded-content-length header"));
  }
  UnsignedChunkedBody body{*length, {}};
  if (auto trailer = http::header_value(wire, "x-amz-trailer")) {
    std::string_view name = *trailer;
    skip_ows(name);
    while (!name.empty() && is_ows(name.back())) name.remove_suffix(1);
    body.trailer = core::to_lower(name);
  }
  return std::optional<UnsignedChunkedBody>(std::move(body));
}

std::string_view to_string(Operation op) {
  switch (op) {
    case Operation::kListBuckets:
      return "ListBuckets";
    case Operation::kCreateBucket:
      return "CreateBucket";
    case Operation::kDeleteBucket:
      return "DeleteBucket";
    case Operation::kGetBucketAcl:
      return "GetBucketAcl";
    case Operation::kListObjectVersions:
      return "ListObjectVersions";
    case Operation::kGetObjectAcl:
      return "GetObjectAcl";
    case Operation::kUploadPartCopy:
      return "UploadPartCopy";
    case Operation::kHeadBucket:
      return "HeadBucket";
    case Operation::kGetBucketLocation:
      return "GetBucketLocation";
    case Operation::kListObjectsV2:
      return "ListObjectsV2";
    case Operation::kListObjects:
      return "ListObjects";
    case Operation::kDeleteObjects:
      return "DeleteObjects";
    case Operation::kPostObject:
      return "PostObject";
    case Operation::kPutObject:
      return "PutObject";
    case Operation::kCopyObject:
      return "CopyObject";
    case Operation::kGetObject:
      return "GetObject";
    case Operation::kHeadObject:
      return "HeadObject";
    case Operation::kDeleteObject:
      return "DeleteObject";
    case Operation::kCreateMultipartUpload:
      return "CreateMultipartUpload";
    case Operation::kUploadPart:
      return "UploadPart";
    case Operation::kCompleteMultipartUpload:
      return "CompleteMultipartUpload";
    case Operation::kAbortMultipartUpload:
      return "AbortMultipartUpload";
    case Operation::kListParts:
      return "ListParts";
    case Operation::kListMultipartUploads:
      return "ListMultipartUploads";
    case Operation::kOperational:
      return "Operational";
    case Operation::kAdmin:
      return "Admin";
    case Operation::kNotImplemented:
      return "NotImplemented";
  }
  return "NotImplemented";
}

bool writes_body(Operation op) {
  return op == Operation::kPutObject || op == Operation::kUploadPart ||
         op == Operation::kPostObject;
}

std::optional<std::string_view> S3Request::header(std::string_view lower_name) const {
  return http::header_value(*wire, lower_name);
}

std::optional<std::string_view> S3Request::param(std::string_view name) const {
  for (const auto& p : query) {
    if (p.key == name) return std::string_view(p.value);
  }
  return std::nullopt;
}

std::string S3Request::resource() const { return wire->path; }

std::string virtual_host_bucket(std::string_view host, std::string_view suffix) {
  if (suffix.empty()) return "";
  if (const std::size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  const std::string lower = core::to_lower(host);
  const std::string dotted = "." + core::to_lower(suffix);
  if (lower.size() <= dotted.size() || !lower.ends_with(dotted)) return "";
  return lower.substr(0, lower.size() - dotted.size());
}

tl::expected<S3Request, S3Error> parse_s3_request(const http::RequestHead& wire,
                                                  std::string_view host_bucket) {
  S3Request r;
  r.wire = &wire;
  r.method = wire.method;
  if (!known_method(wire.method)) {
    return tl::unexpected(
        s3_error("MethodNotAllowed", "The specified method is not allowed against this resource."));
  }
  if (wire.path.empty() || wire.path.front() != '/') {
    return tl::unexpected(s3_error("InvalidURI", "Couldn't parse the specified URI."));
  }
  r.query = http::parse_query(wire.query);
  // Path-style addressing: /<bucket>/<key>. The key keeps every byte after the bucket's slash
  // (including further slashes and "..": keys are names, never paths, in the store).
  const std::string_view path = std::string_view(wire.path).substr(1);
  if (!host_bucket.empty()) {
    // Virtual-hosted style: the bucket is in the Host header and the whole path is the key.
    r.bucket = std::string(host_bucket);
    r.key = core::percent_decode(path, false);
  } else {
    const std::size_t slash = path.find('/');
    r.bucket = core::percent_decode(path.substr(0, slash), false);
    if (slash != std::string_view::npos) {
      r.key = core::percent_decode(path.substr(slash + 1), false);
    }
  }

  if (r.bucket == kOperationalBucket) {
    const bool open = r.key == "health" || r.key == "ready" || r.key == "metrics";
    r.op = open ? Operation::kOperational : Operation::kAdmin;
    return r;
  }
  for (const auto sub : kUnsupportedSubresources) {
    if (r.has_param(sub)) {
      r.op = route_read_subresource(r);
      return r;
    }
  }
  if (r.bucket.empty()) {
    r.op = route_service(r.method);
  } else if (r.key.empty()) {
    r.op = route_bucket(r);
  } else {
    r.op = route_object(r);
  }
  return r;
}

}  // namespace imgflow::gateway
