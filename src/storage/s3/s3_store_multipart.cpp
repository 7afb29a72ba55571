// S3Store: the multipart upload operations.

#include <string>

#include "sigv4/encoding.h"
#include "storage/s3/s3_call.h"
#include "storage/s3/s3_codec.h"
#include "storage/s3/s3_error.h"
#include "storage/s3/s3_store.h"
#include "storage/s3/spool.h"
#include "storage/s3/xml_reader.h"
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
            xml_escape(strip_quotes(p.etag)) + "\"</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  return body;
}

}  // namespace

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
        {"x-amz-checksum-" + sigv4::to_lower(to_string(options.checksum->algorithm)),
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
  Call call{.method = "POST", .bucket = std::string(bucket), .key = std::string(key)};
  call.query = {{"uploadId", std::string(upload_id)}};
  call.embedded_error = true;  // S3 may answer 200 and then report an error in the body
  if (options.if_none_match_star) call.headers.push_back({"If-None-Match", "*"});
  const std::string body = complete_body(parts);
  call.body = body;
  auto doc = execute_xml(call, "CompleteMultipartUploadResult");
  if (!doc) return core::fail(doc.error());
  auto info = head(bucket, key);  // the result has no size or metadata
  if (!info) return core::fail(info.error());
  info->etag = strip_quotes(doc->child_text("ETag"));
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
    for (const XmlElement* p : doc->all("Part")) {
      PartInfo part;
      const auto number = parse_u64(p->child_text("PartNumber"));
      const auto size = parse_u64(p->child_text("Size"));
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

}  // namespace imgflow::storage::s3
