#include <algorithm>
#include <vector>

#include "core/codec.h"
#include "events/event_record.h"
#include "gateway/http_date.h"
#include "gateway/operation.h"
#include "gateway/xml.h"

namespace imgflow::gateway {

namespace {

// An anonymous upload may not replace an object: refused here already, before any part is sent
// (the completion checks again, atomically, as If-None-Match: * does).
std::optional<S3Error> check_key_is_free(const Call& call) {
  if (may_replace_objects(call.caller.principal, call.ctx.options.anonymous)) return std::nullopt;
  auto existing = call.ctx.store.head(call.s3.bucket, call.s3.key);
  if (existing) return existing_key_error();
  if (storage::detail_of(existing.error()) == storage::ErrorDetail::kNoSuchKey) return std::nullopt;
  return from_core_error(existing.error());
}

// Who started the upload, and for an anonymous one the limits it lives under.
void set_initiator(const Call& call, storage::MultipartOptions& options) {
  options.initiator = initiator_of(call);
  if (call.caller.principal != Principal::kAnonymous) return;
  const AnonymousUploads& anonymous = call.ctx.options.anonymous;
  options.max_uploads_per_initiator = anonymous.max_multipart_uploads_per_client;
  options.expires = call.ctx.clock.now() + anonymous.multipart_lifetime;
}

}  // namespace

OpResult create_multipart(const Call& call) {
  storage::MultipartOptions options;
  options.content_type = content_type_of(call.s3);
  options.user_metadata = user_metadata(*call.s3.wire);
  if (auto denied = check_new_object(call.caller.principal, call.ctx.options, call.s3.key,
                                     options.content_type, options.user_metadata)) {
    return tl::unexpected(*denied);
  }
  if (auto denied = check_key_is_free(call)) return tl::unexpected(*denied);
  options.cache_control = std::string(call.s3.header("cache-control").value_or(""));
  set_initiator(call, options);
  auto id = call.ctx.store.create_multipart_upload(call.s3.bucket, call.s3.key, options);
  if (!id) return tl::unexpected(from_core_error(id.error()));
  XmlWriter xml;
  xml.open("InitiateMultipartUploadResult", kS3Namespace);
  xml.element("Bucket", call.s3.bucket);
  xml.element("Key", call.s3.key);
  xml.element("UploadId", *id);
  xml.close("InitiateMultipartUploadResult");
  return xml_response(xml.take());
}

namespace {

tl::expected<int, S3Error> part_number_of(const S3Request& r) {
  const auto number = core::parse_u64(r.param("partNumber").value_or(""));
  if (!number || *number < 1 || *number > storage::kMaxPartNumber) {
    return err("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
  }
  return static_cast<int>(*number);
}

// An anonymous upload holds at most the anonymous size limit over all its parts.
std::optional<std::uint64_t> upload_budget(const Call& call) {
  if (call.caller.principal != Principal::kAnonymous) return std::nullopt;
  return call.ctx.options.anonymous.max_bytes;
}

}  // namespace

OpResult upload_part(const Call& call) {
  const auto number = part_number_of(call.s3);
  if (!number) return tl::unexpected(number.error());
  if (auto denied = check_anonymous_size(call)) return tl::unexpected(*denied);
  auto checksum = request_checksum(call.s3);
  if (!checksum) return tl::unexpected(checksum.error());
  storage::PartOptions options;
  if (auto md5 = call.s3.header("content-md5")) options.content_md5 = std::string(*md5);
  options.checksum = *checksum;
  options.content_length = payload_length(call);
  options.max_upload_bytes = upload_budget(call);
  auto part = call.ctx.store.upload_part(call.s3.bucket, call.s3.key, *call.s3.param("uploadId"),
                                         *number, call.body, options);
  if (!part) return tl::unexpected(body_error(call, part.error()));
  Response r;
  r.set("ETag", quoted(part->etag));
  if (*checksum) {
    r.set("x-amz-checksum-" + core::to_lower(storage::to_string((*checksum)->algorithm)),
          (*checksum)->base64);
  }
  return r;
}

OpResult complete_multipart(const Call& call) {
  auto text = read_xml_body(call);
  if (!text) return tl::unexpected(text.error());
  auto parts = parse_complete_multipart(*text);
  if (!parts) {
    return err("MalformedXML",
               "The XML you provided was not well-formed: " + parts.error().message);
  }
  const Principal principal = call.caller.principal;
  storage::CompleteOptions options;
  options.if_none_match_star = call.s3.header("if-none-match") == "*" ||
                               !may_replace_objects(principal, call.ctx.options.anonymous);
  options.if_match = if_match_of(call.s3);
  options.event = event_for(call, call.s3.bucket, events::kObjectCreatedCompleteMultipartUpload);
  auto info = call.ctx.store.complete_multipart_upload(call.s3.bucket, call.s3.key,
                                                       *call.s3.param("uploadId"), *parts, options);
  if (!info) return tl::unexpected(write_error(call, principal, info.error()));
  XmlWriter xml;
  xml.open("CompleteMultipartUploadResult", kS3Namespace);
  xml.element("Location", "http://" + call.http.host + "/" + call.s3.bucket + "/" +
                              core::uri_encode(call.s3.key, true));
  xml.element("Bucket", call.s3.bucket);
  xml.element("Key", call.s3.key);
  xml.element("ETag", quoted(info->etag));
  xml.close("CompleteMultipartUploadResult");
  return xml_response(xml.take());
}

namespace {

// x-amz-copy-source-range: "bytes=first-last", both offsets given, first <= last.
tl::expected<std::optional<storage::ByteRange>, S3Error> copy_source_range(const S3Request& r) {
  auto text = r.header("x-amz-copy-source-range");
  if (!text) return std::optional<storage::ByteRange>();
  std::string_view spec = *text;
  const std::size_t dash = spec.find('-');
  std::optional<std::uint64_t> first;
  std::optional<std::uint64_t> last;
  if (spec.starts_with("bytes=") && dash != std::string_view::npos) {
    first = core::parse_u64(spec.substr(6, dash - 6));
    last = core::parse_u64(spec.substr(dash + 1));
  }
  if (!first || !last || *first > *last) {
    return err("InvalidArgument",
               "The x-amz-copy-source-range value must be of the form bytes=first-last where "
               "first and last are the zero-based offsets of the first and last bytes to copy");
  }
  return std::optional(storage::ByteRange::from(*first, *last));
}

tl::unexpected<S3Error> range_outside(std::uint64_t size) {
  return err("InvalidArgument",
             "Range specified is not valid for source object of size: " + std::to_string(size));
}

// Opens the bytes to copy: the source version (checked against the x-amz-copy-source-if-*
// conditions) and, with x-amz-copy-source-range, only that range, which must lie inside it.
tl::expected<std::unique_ptr<storage::ObjectReader>, S3Error> open_copy_source(
    const Call& call, const std::string& bucket, const std::string& key) {
  auto range = copy_source_range(call.s3);
  if (!range) return tl::unexpected(range.error());
  storage::GetOptions get;
  get.range = *range;
  auto reader = call.ctx.store.open(bucket, key, get);
  if (!reader) {
    if (storage::detail_of(reader.error()) != storage::ErrorDetail::kInvalidRange) {
      return tl::unexpected(from_core_error(reader.error()));
    }
    auto info = call.ctx.store.head(bucket, key);  // for the size the message names
    return range_outside(info ? info->size : 0);
  }
  const storage::ObjectInfo& info = (*reader)->info();
  if (*range && *(*range)->last >= info.size) return range_outside(info.size);
  if (auto failed = check_copy_source_conditions(call.s3, info)) return tl::unexpected(*failed);
  return std::move(*reader);
}

}  // namespace

OpResult upload_part_copy(const Call& call) {
  const auto number = part_number_of(call.s3);
  if (!number) return tl::unexpected(number.error());
  auto source = copy_source(call);
  if (!source) return tl::unexpected(source.error());
  const auto& [src_bucket, src_key] = *source;
  auto reader = open_copy_source(call, src_bucket, src_key);
  if (!reader) return tl::unexpected(reader.error());
  storage::PartOptions options;
  options.content_length = (*reader)->length();
  options.max_upload_bytes = upload_budget(call);
  auto part = call.ctx.store.upload_part(call.s3.bucket, call.s3.key, *call.s3.param("uploadId"),
                                         *number, **reader, options);
  if (!part) return tl::unexpected(from_core_error(part.error()));
  return copy_result("CopyPartResult", part->last_modified, part->etag);
}

OpResult abort_multipart(const Call& call) {
  auto done = call.ctx.store.abort_multipart_upload(call.s3.bucket, call.s3.key,
                                                    *call.s3.param("uploadId"));
  if (!done) return tl::unexpected(from_core_error(done.error()));
  Response r;
  r.status = 204;
  return r;
}

namespace {

// A non-negative integer query parameter, or `fallback` when absent; larger values are clamped
// to `cap` (as S3 clamps max-parts and max-uploads).
tl::expected<int, S3Error> count_param(const S3Request& r, std::string_view name, int fallback,
                                       int cap) {
  auto text = r.param(name);
  if (!text) return fallback;
  auto value = core::parse_u64(*text);
  if (!value) {
    return err("InvalidArgument", std::string(name) + " must be a non-negative integer");
  }
  return static_cast<int>(std::min<std::uint64_t>(*value, static_cast<std::uint64_t>(cap)));
}

struct PartsPage {
  std::vector<storage::PartInfo> parts;
  bool is_truncated = false;
};

// The parts after `marker`, at most `max_parts` of them; the store lists all of an upload's
// parts (at most 10,000, small rows), so paging them here is enough.
PartsPage page_parts(std::vector<storage::PartInfo> all, int marker, int max_parts) {
  PartsPage page;
  for (auto& p : all) {
    if (p.part_number <= marker) continue;
    if (static_cast<int>(page.parts.size()) == max_parts) {
      page.is_truncated = true;
      break;
    }
    page.parts.push_back(std::move(p));
  }
  return page;
}

void write_part(XmlWriter& xml, const storage::PartInfo& p) {
  xml.open("Part");
  xml.element("PartNumber", std::to_string(p.part_number));
  xml.element("LastModified", format_iso8601(p.last_modified));
  xml.element("ETag", quoted(p.etag));
  xml.element("Size", std::to_string(p.size));
  xml.close("Part");
}

}  // namespace

OpResult list_parts(const Call& call) {
  const std::string upload_id(*call.s3.param("uploadId"));
  auto max_parts = count_param(call.s3, "max-parts", storage::kMaxListKeys, storage::kMaxListKeys);
  if (!max_parts) return tl::unexpected(max_parts.error());
  auto marker = count_param(call.s3, "part-number-marker", 0, storage::kMaxPartNumber);
  if (!marker) return tl::unexpected(marker.error());
  auto parts = call.ctx.store.list_parts(call.s3.bucket, call.s3.key, upload_id);
  if (!parts) return tl::unexpected(from_core_error(parts.error()));
  const PartsPage page = page_parts(std::move(*parts), *marker, *max_parts);
  XmlWriter xml;
  xml.open("ListPartsResult", kS3Namespace);
  xml.element("Bucket", call.s3.bucket);
  xml.element("Key", call.s3.key);
  xml.element("UploadId", upload_id);
  xml.element("StorageClass", "STANDARD");
  xml.element("PartNumberMarker", std::to_string(*marker));
  // Continue after the last part listed; an empty page continues where it started.
  xml.element("NextPartNumberMarker",
              std::to_string(page.parts.empty() ? *marker : page.parts.back().part_number));
  xml.element("MaxParts", std::to_string(*max_parts));
  xml.element("IsTruncated", page.is_truncated ? "true" : "false");
  for (const auto& p : page.parts) write_part(xml, p);
  xml.close("ListPartsResult");
  return xml_response(xml.take());
}

OpResult list_multipart_uploads(const Call& call) {
  const S3Request& r = call.s3;
  const auto encoding = key_encoding_of(r);
  if (!encoding) return tl::unexpected(encoding.error());
  const KeyEncoding& enc = *encoding;
  auto max_uploads = count_param(r, "max-uploads", storage::kMaxListKeys, storage::kMaxListKeys);
  if (!max_uploads) return tl::unexpected(max_uploads.error());
  storage::ListUploadsOptions options;
  options.prefix = std::string(r.param("prefix").value_or(""));
  options.delimiter = std::string(r.param("delimiter").value_or(""));
  options.key_marker = std::string(r.param("key-marker").value_or(""));
  options.upload_id_marker = std::string(r.param("upload-id-marker").value_or(""));
  options.max_uploads = *max_uploads;
  auto listed = call.ctx.store.list_multipart_uploads(r.bucket, options);
  if (!listed) return tl::unexpected(from_core_error(listed.error()));
  XmlWriter xml;
  xml.open("ListMultipartUploadsResult", kS3Namespace);
  xml.element("Bucket", r.bucket);
  xml.element("KeyMarker", enc(options.key_marker));
  xml.element("UploadIdMarker", options.upload_id_marker);
  if (listed->is_truncated) {
    xml.element("NextKeyMarker", enc(listed->next_key_marker));
    xml.element("NextUploadIdMarker", listed->next_upload_id_marker);
  }
  xml.element("Prefix", enc(options.prefix));
  if (!options.delimiter.empty()) xml.element("Delimiter", enc(options.delimiter));
  if (enc.url) xml.element("EncodingType", "url");
  xml.element("MaxUploads", std::to_string(options.max_uploads));
  xml.element("IsTruncated", listed->is_truncated ? "true" : "false");
  for (const auto& u : listed->uploads) {
    xml.open("Upload");
    xml.element("Key", enc(u.key));
    xml.element("UploadId", u.upload_id);
    xml.element("StorageClass", "STANDARD");
    xml.element("Initiated", format_iso8601(u.initiated));
    xml.close("Upload");
  }
  for (const auto& p : listed->common_prefixes) {
    xml.open("CommonPrefixes");
    xml.element("Prefix", enc(p));
    xml.close("CommonPrefixes");
  }
  xml.close("ListMultipartUploadsResult");
  return xml_response(xml.take());
}

}  // namespace imgflow::gateway
