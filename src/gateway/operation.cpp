#include "gateway/operation.h"

#include <charconv>

#include "core/codec.h"
#include "core/digest.h"
#include "gateway/http_date.h"
#include "gateway/xml.h"
#include "http/request_head.h"

namespace imgflow::gateway {

tl::unexpected<S3Error> err(std::string_view code, std::string message) {
  return tl::unexpected(s3_error(code, std::move(message)));
}

std::string quoted(std::string_view etag) { return "\"" + std::string(etag) + "\""; }

std::string unquoted(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

Response xml_response(std::string xml, int status) {
  Response r;
  r.status = status;
  r.set("Content-Type", "application/xml");
  r.body = std::move(xml);
  return r;
}

S3Error body_error(const Call& call, const core::Error& error) {
  if (call.body.auth_error()) return from_auth_error(*call.body.auth_error());
  return from_core_error(error);
}

std::map<std::string, std::string> user_metadata(const http::RequestHead& wire) {
  std::map<std::string, std::string> meta;
  constexpr std::string_view kPrefix = "x-amz-meta-";
  for (const auto& h : wire.headers) {
    const std::string name = core::to_lower(h.name);
    if (name.starts_with(kPrefix)) meta[name.substr(kPrefix.size())] = h.value;
  }
  return meta;
}

tl::expected<std::optional<storage::Checksum>, S3Error> request_checksum(const S3Request& r) {
  using storage::ChecksumAlgorithm;
  constexpr std::pair<std::string_view, ChecksumAlgorithm> kHeaders[] = {
      {"x-amz-checksum-crc32", ChecksumAlgorithm::kCrc32},
      {"x-amz-checksum-crc32c", ChecksumAlgorithm::kCrc32c},
      {"x-amz-checksum-sha256", ChecksumAlgorithm::kSha256}};
  for (const auto& [name, algorithm] : kHeaders) {
    if (auto value = r.header(name)) return storage::Checksum{algorithm, std::string(*value)};
  }
  for (const auto name : {"x-amz-checksum-crc64nvme", "x-amz-checksum-sha1"}) {
    if (r.header(name)) return err("InvalidRequest", std::string(name) + " is not supported");
  }
  return std::optional<storage::Checksum>{};
}

// The payload length the store should expect: x-amz-decoded-content-length for aws-chunked
// bodies, else Content-Length (absent with Transfer-Encoding: chunked).
std::optional<std::uint64_t> payload_length(const Call& call) {
  if (call.caller.verified && call.caller.verified->decoded_content_length) {
    return call.caller.verified->decoded_content_length;
  }
  if (call.caller.unsigned_chunked) return call.caller.unsigned_chunked->decoded_length;
  if (auto cl = call.s3.header("content-length")) return core::parse_u64(*cl);
  return std::nullopt;
}

std::string content_type_of(const S3Request& r) {
  auto ct = r.header("content-type");
  return ct ? std::string(*ct) : "application/octet-stream";
}

std::optional<std::string> if_match_of(const S3Request& r) {
  auto value = r.header("if-match");
  if (!value) return std::nullopt;
  return unquoted(*value);
}

std::optional<S3Error> check_new_object(Principal principal, const GatewayOptions& options,
                                        std::string_view key, std::string_view content_type,
                                        const std::map<std::string, std::string>& metadata) {
  if (auto denied = check_metadata(principal, metadata)) return denied;
  if (principal != Principal::kAnonymous) return std::nullopt;
  if (auto denied = check_anonymous_key(key, options.roles)) return denied;
  return check_anonymous_content_type(content_type);
}

std::optional<S3Error> check_anonymous_size(const Call& call) {
  if (call.caller.principal != Principal::kAnonymous) return std::nullopt;
  const auto length = payload_length(call);
  if (!length) {
    return s3_error("MissingContentLength", "You must provide the Content-Length HTTP header.");
  }
  if (*length > call.ctx.options.anonymous.max_bytes) {
    return s3_error("EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size: anonymous uploads "
                    "may be at most " +
                        std::to_string(call.ctx.options.anonymous.max_bytes) + " bytes");
  }
  return std::nullopt;
}

S3Error existing_key_error() {
  return s3_error("PreconditionFailed",
                  "At least one of the pre-conditions you specified did not hold: an object with "
                  "this key already exists, and anonymous uploads cannot replace one; upload "
                  "under another key");
}

S3Error write_error(const Call& call, Principal principal, const core::Error& error) {
  if (!may_replace_objects(principal, call.ctx.options.anonymous) &&
      storage::detail_of(error) == storage::ErrorDetail::kPreconditionFailed) {
    return existing_key_error();
  }
  return body_error(call, error);
}

std::string initiator_of(const Call& call) {
  if (call.caller.principal == Principal::kAnonymous) return "anonymous " + call.http.remote_ip;
  return call.caller.access_key_id;
}

tl::expected<std::pair<std::string, std::string>, S3Error> copy_source(const Call& call) {
  std::string_view source = *call.s3.header("x-amz-copy-source");
  if (const std::size_t q = source.find('?'); q != std::string_view::npos) {
    source = source.substr(0, q);
  }
  const std::string decoded = core::percent_decode(source, false);
  std::string_view path = decoded;
  if (path.starts_with("/")) path.remove_prefix(1);
  const std::size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == path.size()) {
    return err("InvalidArgument", "Copy Source must mention the source bucket and key");
  }
  std::string bucket(path.substr(0, slash));
  if (!is_allowed(call.caller.principal, Operation::kGetObject, bucket, call.ctx.options.roles,
                  call.ctx.options.anonymous)) {
    return err("AccessDenied", "Access Denied");
  }
  return std::pair{std::move(bucket), std::string(path.substr(slash + 1))};
}

std::string KeyEncoding::operator()(std::string_view key) const {
  return url ? core::uri_encode(key, true) : std::string(key);
}

tl::expected<KeyEncoding, S3Error> key_encoding_of(const S3Request& r) {
  const auto type = r.param("encoding-type");
  if (type && *type != "url") {
    return err("InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  return KeyEncoding{type.has_value()};
}

bool has_copy_source_conditions(const S3Request& r) {
  for (const auto name :
       {"x-amz-copy-source-if-match", "x-amz-copy-source-if-none-match",
        "x-amz-copy-source-if-modified-since", "x-amz-copy-source-if-unmodified-since"}) {
    if (r.header(name)) return true;
  }
  return false;
}

std::optional<S3Error> check_copy_source_conditions(const S3Request& r,
                                                    const storage::ObjectInfo& source) {
  // As S3 (and RFC 7232) order them: a matching If-Match overrules If-Unmodified-Since, a
  // failing If-None-Match overrules If-Modified-Since.
  const auto modified = std::chrono::time_point_cast<std::chrono::seconds>(source.last_modified);
  const auto failed = [] {
    return s3_error("PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold");
  };
  const auto date = [&r](std::string_view name) {
    auto value = r.header(name);
    return value ? parse_http_date(*value) : std::nullopt;
  };
  if (auto if_match = r.header("x-amz-copy-source-if-match")) {
    if (!etag_list_matches(*if_match, source.etag)) return failed();
  } else if (auto since = date("x-amz-copy-source-if-unmodified-since");
             since && modified > *since) {
    return failed();
  }
  if (auto if_none_match = r.header("x-amz-copy-source-if-none-match")) {
    if (etag_list_matches(*if_none_match, source.etag)) return failed();
  } else if (auto since = date("x-amz-copy-source-if-modified-since");
             since && modified <= *since) {
    return failed();
  }
  return std::nullopt;
}

bool etag_list_matches(std::string_view header, std::string_view etag) {
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "*" || unquoted(item) == etag) return true;
    pos = comma + 1;
  }
  return false;
}

Response copy_result(std::string_view root, core::Clock::TimePoint last_modified,
                     std::string_view etag) {
  XmlWriter xml;
  xml.open(root, kS3Namespace);
  xml.element("LastModified", format_iso8601(last_modified));
  xml.element("ETag", quoted(etag));
  xml.close(root);
  return xml_response(xml.take());
}

void write_owner(XmlWriter& xml) {
  xml.open("Owner");
  xml.element("ID", kOwnerId);
  xml.element("DisplayName", kOwnerId);
  xml.close("Owner");
}

std::optional<storage::EventToRecord> event_for(const Call& call, std::string_view bucket,
                                                std::string_view event_name) {
  if (bucket != call.ctx.options.roles.source) return std::nullopt;
  return storage::EventToRecord{
      std::string(event_name),
      event_payload(to_string(call.caller.principal), call.caller.access_key_id,
                    call.http.remote_ip, call.http.request_id)};
}

void add_object_headers(Response& r, const storage::ObjectInfo& info) {
  r.set("ETag", quoted(info.etag));
  r.set("Last-Modified", format_http_date(info.last_modified));
  r.set("Content-Type", info.content_type);
  r.set("Accept-Ranges", "bytes");
  if (!info.cache_control.empty()) r.set("Cache-Control", info.cache_control);
  for (const auto& [name, value] : info.user_metadata) r.set("x-amz-meta-" + name, value);
  if (info.checksum) {
    r.set("x-amz-checksum-" + core::to_lower(storage::to_string(info.checksum->algorithm)),
          info.checksum->base64);
  }
}

tl::expected<std::string, S3Error> read_xml_body(const Call& call) {
  auto text = read_all(call.body, kMaxXmlBodyBytes);
  if (!text) {
    if (text.error().code == core::ErrorCode::kTooLarge) {
      return err("MalformedXML", "The XML you provided was too large");
    }
    return tl::unexpected(body_error(call, text.error()));
  }
  if (auto md5 = call.s3.header("content-md5")) {
    if (core::base64_encode(core::md5(*text)) != *md5) {
      return err("BadDigest", "The Content-MD5 you specified did not match what we received.");
    }
  }
  return std::move(*text);
}

}  // namespace imgflow::gateway
