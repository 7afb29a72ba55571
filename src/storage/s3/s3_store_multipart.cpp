// S3Store: the multipart upload operations.

#include <algorithm>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/xml.h"
#include "storage/s3/s3_call.h"
#include "storage/s3/s3_codec.h"
#include "storage/s3/s3_error.h"
#include "storage/s3/s3_store.h"
#include "storage/s3/spool.h"
#include "storage/store_util.h"

namespace imgflow::storage::s3 {
namespace {

using core::ErrorCode;

core::Status check_upload_id(std::string_view upload_id) {
  if (upload_id.empty())
    return core::fail(make_error(ErrorDetail::kNoSuchUpload, "empty upload id"));
  return {};
}

std::string complete_body(const std::vector<CompletedPart>& parts) {
  std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& p : parts) {
    body += "<Part><PartNumber>" + std::to_string(p.part_number) + "</PartNumber><ETag>\"" +
            core::xml_escape(strip_quotes(p.etag)) + "\"</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  return body;
}

// Aborts a multipart upload unless it completed: a put() that fails half way, for whatever
// reason, leaves no upload behind (its parts would sit on the server, listed and billed).
class AbortUnlessCompleted {
 public:
  AbortUnlessCompleted(S3Store& store, std::string_view bucket, std::string_view key,
                       std::string_view upload_id)
      : store_(store), bucket_(bucket), key_(key), upload_id_(upload_id) {}
  AbortUnlessCompleted(const AbortUnlessCompleted&) = delete;
  AbortUnlessCompleted& operator=(const AbortUnlessCompleted&) = delete;
  ~AbortUnlessCompleted() {
    // Best effort: the put() already failed with a better error than a failed abort.
    if (!completed_) (void)store_.abort_multipart_upload(bucket_, key_, upload_id_);
  }
  void completed() { completed_ = true; }

 private:
  S3Store& store_;
  std::string bucket_;
  std::string key_;
  std::string upload_id_;
  bool completed_ = false;
};

core::Status too_large() {
  return core::fail(make_error(ErrorDetail::kEntityTooLarge, "the body is over 5 GiB"));
}

}  // namespace

core::Result<ObjectInfo> S3Store::put_multipart(std::string_view bucket, std::string_view key,
                                                ByteSource& rest, std::string first,
                                                const PutOptions& options) {
  // Checked here, before any part is sent: the server only sees parts, not the whole body.
  auto expected =
      internal::prepare_body(options.content_md5, options.checksum, options.content_length);
  if (!expected) return core::fail(expected.error());
  if (options.content_length && *options.content_length > kMaxObjectSize) {
    return core::fail(too_large().error());
  }
  MultipartOptions upload_options;
  upload_options.content_type = options.content_type;
  upload_options.user_metadata = options.user_metadata;
  upload_options.cache_control = options.cache_control;
  auto upload_id = create_multipart_upload(bucket, key, upload_options);
  if (!upload_id) return core::fail(upload_id.error());
  AbortUnlessCompleted guard(*this, bucket, key, *upload_id);
  internal::BodyDigest digest(options.checksum ? std::optional(options.checksum->algorithm)
                                               : std::nullopt);
  auto parts = send_parts(bucket, key, *upload_id, rest, std::move(first), digest);
  if (!parts) return core::fail(parts.error());
  const std::uint64_t size = digest.size();
  if (auto st = digest.verify(expected->md5, expected->checksum, expected->content_length); !st) {
    return core::fail(st.error());
  }
  CompleteOptions complete_options;
  complete_options.if_none_match_star = options.if_none_match_star;
  complete_options.if_match = options.if_match;
  auto etag = complete(bucket, key, *upload_id, *parts, complete_options);
  if (!etag) return core::fail(etag.error());
  guard.completed();
  return put_result(key, size, std::move(*etag), options);
}

core::Result<std::vector<CompletedPart>> S3Store::send_parts(std::string_view bucket,
                                                             std::string_view key,
                                                             std::string_view upload_id,
                                                             ByteSource& rest, std::string pending,
                                                             internal::BodyDigest& digest) {
  const std::size_t part_size = std::max<std::size_t>(config_.multipart_part_size, 1);
  std::vector<CompletedPart> parts;
  for (int number = 1;; ++number) {
    if (auto st = read_up_to(rest, part_size, pending); !st) return core::fail(st.error());
    if (pending.empty()) break;  // the body ended on a part boundary
    const std::string_view part(pending.data(), std::min(pending.size(), part_size));
    if (number > kMaxPartNumber || digest.size() + part.size() > kMaxObjectSize) {
      return core::fail(too_large().error());
    }
    digest.update(part);
    auto etag = send_part(bucket, key, upload_id, number, part);
    if (!etag) return core::fail(etag.error());
    parts.push_back({number, std::move(*etag)});
    const bool last = pending.size() < part_size;
    pending.erase(0, part.size());  // keeps the capacity: memory stays at about one part
    if (last) break;
  }
  return parts;
}

core::Result<std::string> S3Store::send_part(std::string_view bucket, std::string_view key,
                                             std::string_view upload_id, int part_number,
                                             std::string_view bytes) {
  Call call{.method = "PUT", .bucket = std::string(bucket), .key = std::string(key)};
  call.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}};
  call.body = bytes;
  Spool spool(64 << 10);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  std::string etag = strip_quotes(response->header("etag").value_or(""));
  if (etag.empty()) return core::fail(corrupt_response("an UploadPart answer without ETag"));
  return etag;
}

core::Result<std::string> S3Store::complete(std::string_view bucket, std::string_view key,
                                            std::string_view upload_id,
                                            const std::vector<CompletedPart>& parts,
                                            const CompleteOptions& options) {
  Call call{.method = "POST", .bucket = std::string(bucket), .key = std::string(key)};
  call.query = {{"uploadId", std::string(upload_id)}};
  call.embedded_error = true;  // S3 may answer 200 and then report an error in the body
  if (options.if_none_match_star) call.headers.push_back({"If-None-Match", "*"});
  if (options.if_match) call.headers.push_back({"If-Match", quoted_etag(*options.if_match)});
  const std::string body = complete_body(parts);
  call.body = body;
  auto doc = execute_xml(call, "CompleteMultipartUploadResult");
  if (!doc) return core::fail(doc.error());
  return strip_quotes(doc->child_text("ETag"));
}

core::Result<std::string> S3Store::create_multipart_upload(std::string_view bucket,
                                                           std::string_view key,
                                                           const MultipartOptions& options) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  Call call{.method = "POST", .bucket = std::string(bucket), .key = std::string(key)};
  call.query = {{"uploads", ""}};
  call.idempotent = false;  // a retry would start a second upload
  add_metadata_headers(call.headers, options.content_type, options.cache_control,
                       options.user_metadata);
  auto doc = execute_xml(call, "InitiateMultipartUploadResult");
  if (!doc) return core::fail(doc.error());
  std::string id = doc->child_text("UploadId");
  if (id.empty()) return core::fail(corrupt_response("no UploadId"));
  return id;
}

core::Result<PartInfo> S3Store::upload_part(std::string_view bucket, std::string_view key,
                                            std::string_view upload_id, int part_number,
                                            ByteSource& body, const PartOptions& options) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  if (auto st = check_upload_id(upload_id); !st) return core::fail(st.error());
  if (part_number < 1 || part_number > kMaxPartNumber) {
    return core::fail(
        make_error(ErrorDetail::kInvalidArgument,
                   "part number must be 1..10000, got " + std::to_string(part_number)));
  }
  Call call{.method = "PUT", .bucket = std::string(bucket), .key = std::string(key)};
  call.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}};
  if (options.content_md5) call.headers.push_back({"Content-MD5", *options.content_md5});
  if (options.checksum) {
    call.headers.push_back(
        {"x-amz-checksum-" + core::to_lower(to_string(options.checksum->algorithm)),
         options.checksum->base64});
  }
  std::string buffer;
  if (auto st = attach_body(call, body, options.content_length, buffer); !st) {
    return core::fail(st.error());
  }
  Spool spool(64 << 10);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  PartInfo part;
  part.part_number = part_number;
  part.size = call.body ? call.body->size() : call.stream_length.value_or(0);
  part.etag = strip_quotes(response->header("etag").value_or(""));
  part.last_modified = clock_.now();
  return part;
}

core::Result<ObjectInfo> S3Store::complete_multipart_upload(std::string_view bucket,
                                                            std::string_view key,
                                                            std::string_view upload_id,
                                                            const std::vector<CompletedPart>& parts,
                                                            const CompleteOptions& options) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  if (auto st = check_upload_id(upload_id); !st) return core::fail(st.error());
  auto etag = complete(bucket, key, upload_id, parts, options);
  if (!etag) return core::fail(etag.error());
  auto info = head(bucket, key);  // the result has no size or metadata
  if (!info) return core::fail(info.error());
  info->etag = std::move(*etag);
  return info;
}

core::Status S3Store::abort_multipart_upload(std::string_view bucket, std::string_view key,
                                             std::string_view upload_id) {
  if (auto st = check_names(bucket, key); !st) return st;
  if (auto st = check_upload_id(upload_id); !st) return st;
  Call call{.method = "DELETE", .bucket = std::string(bucket), .key = std::string(key)};
  call.query = {{"uploadId", std::string(upload_id)}};
  Spool spool(64 << 10);
  auto response = execute(call, spool);
  if (!response) return core::fail(response.error());
  return {};
}

core::Result<std::vector<PartInfo>> S3Store::list_parts(std::string_view bucket,
                                                        std::string_view key,
                                                        std::string_view upload_id) {
  if (auto st = check_names(bucket, key); !st) return core::fail(st.error());
  if (auto st = check_upload_id(upload_id); !st) return core::fail(st.error());
  std::vector<PartInfo> parts;
  std::string marker;
  for (int page = 0; page <= kMaxPartNumber; ++page) {  // bounded: each page adds >= 1 part
    Call call{.method = "GET", .bucket = std::string(bucket), .key = std::string(key)};
    call.query = {{"uploadId", std::string(upload_id)}};
    if (!marker.empty()) call.query.emplace_back("part-number-marker", marker);
    auto doc = execute_xml(call, "ListPartsResult");
    if (!doc) return core::fail(doc.error());
    for (const core::XmlElement* p : doc->all("Part")) {
      PartInfo part;
      const auto number = core::parse_u64(p->child_text("PartNumber"));
      const auto size = core::parse_u64(p->child_text("Size"));
      if (!number || *number < 1 || *number > kMaxPartNumber || !size) {
        return core::fail(corrupt_response("a <Part> without a valid PartNumber or Size"));
      }
      part.part_number = static_cast<int>(*number);
      part.size = *size;
      part.etag = strip_quotes(p->child_text("ETag"));
      if (auto t = parse_xml_time(p->child_text("LastModified"))) part.last_modified = *t;
      parts.push_back(std::move(part));
    }
    if (doc->child_text("IsTruncated") != "true") return parts;
    const std::string next = doc->child_text("NextPartNumberMarker");
    if (next.empty() || next == marker)
      return core::fail(corrupt_response("a truncated part listing"));
    marker = next;
  }
  return core::fail(corrupt_response("the part listing does not end"));
}

core::Result<ListUploadsResult> S3Store::list_multipart_uploads(std::string_view bucket,
                                                                const ListUploadsOptions& options) {
  if (auto st = validate_bucket_name(bucket); !st) return core::fail(st.error());
  if (options.max_uploads < 0) {
    return core::fail(
        make_error(ErrorDetail::kInvalidArgument, "max-uploads must not be negative"));
  }
  Call call{.method = "GET", .target = Target::kBucket, .bucket = std::string(bucket)};
  call.query = {{"uploads", ""},
                {"encoding-type", "url"},
                {"max-uploads", std::to_string(std::min(options.max_uploads, kMaxListKeys))}};
  if (!options.prefix.empty()) call.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) call.query.emplace_back("delimiter", options.delimiter);
  if (!options.key_marker.empty()) {
    call.query.emplace_back("key-marker", options.key_marker);
    if (!options.upload_id_marker.empty()) {
      call.query.emplace_back("upload-id-marker", options.upload_id_marker);
    }
  }
  auto doc = execute_xml(call, "ListMultipartUploadsResult");
  if (!doc) return core::fail(doc.error());
  // As in list(): keys come back form-encoded only if the server honoured encoding-type.
  const bool encoded = doc->child_text("EncodingType") == "url";
  const auto text = [encoded](std::string value) {
    return encoded ? core::percent_decode(value, true) : value;
  };
  ListUploadsResult result;
  for (const core::XmlElement* u : doc->all("Upload")) {
    UploadInfo upload{text(u->child_text("Key")), u->child_text("UploadId"), {}, {}};
    if (upload.key.empty() || upload.upload_id.empty()) {
      return core::fail(corrupt_response("an <Upload> without Key or UploadId"));
    }
    if (auto t = parse_xml_time(u->child_text("Initiated"))) upload.initiated = *t;
    result.uploads.push_back(std::move(upload));
  }
  for (const core::XmlElement* p : doc->all("CommonPrefixes")) {
    result.common_prefixes.push_back(text(p->child_text("Prefix")));
  }
  result.is_truncated = doc->child_text("IsTruncated") == "true";
  result.next_key_marker = text(doc->child_text("NextKeyMarker"));
  result.next_upload_id_marker = doc->child_text("NextUploadIdMarker");
  if (result.is_truncated && result.next_key_marker.empty()) {
    return core::fail(corrupt_response("a truncated upload listing without NextKeyMarker"));
  }
  return result;
}

}  // namespace imgflow::storage::s3
