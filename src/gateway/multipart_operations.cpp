#include "gateway/http_date.h"
#include "gateway/operation.h"
#include "gateway/xml.h"
#include "sigv4/encoding.h"

namespace imgflow::gateway {

OpResult create_multipart(const Call& call) {
  storage::MultipartOptions options;
  options.content_type = content_type_of(call.s3);
  options.user_metadata = user_metadata(*call.s3.wire);
  options.cache_control = std::string(call.s3.header("cache-control").value_or(""));
  auto id = call.ctx.store.create_multipart_upload(call.s3.bucket, call.s3.key, options);
  if (!id) return tl::unexpected(from_core_error(id.error()));
  XmlWriter xml;
  xml.open("InitiateMultipartUploadResult", true);
  xml.element("Bucket", call.s3.bucket);
  xml.element("Key", call.s3.key);
  xml.element("UploadId", *id);
  xml.close("InitiateMultipartUploadResult");
  return xml_response(xml.take());
}

OpResult upload_part(const Call& call) {
  const auto number = parse_u64(call.s3.param("partNumber").value_or(""));
  if (!number || *number < 1 || *number > storage::kMaxPartNumber) {
    return err("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
  }
  auto checksum = request_checksum(call.s3);
  if (!checksum) return tl::unexpected(checksum.error());
  storage::PartOptions options;
  if (auto md5 = call.s3.header("content-md5")) options.content_md5 = std::string(*md5);
  options.checksum = *checksum;
  options.content_length = payload_length(call);
  auto part = call.ctx.store.upload_part(call.s3.bucket, call.s3.key, *call.s3.param("uploadId"),
                                         static_cast<int>(*number), call.body, options);
  if (!part) return tl::unexpected(body_error(call, part.error()));
  Response r;
  r.set("ETag", quoted(part->etag));
  if (*checksum) {
    r.set("x-amz-checksum-" + sigv4::to_lower(storage::to_string((*checksum)->algorithm)),
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
  storage::CompleteOptions options;
  options.if_none_match_star = call.s3.header("if-none-match") == "*";
  options.event = event_for(call, call.s3.bucket, "ObjectCreated:CompleteMultipartUpload");
  auto info = call.ctx.store.complete_multipart_upload(call.s3.bucket, call.s3.key,
                                                       *call.s3.param("uploadId"), *parts, options);
  if (!info) return tl::unexpected(from_core_error(info.error()));
  XmlWriter xml;
  xml.open("CompleteMultipartUploadResult", true);
  xml.element("Location", "http://" + call.http.host + "/" + call.s3.bucket + "/" +
                              sigv4::uri_encode(call.s3.key, true));
  xml.element("Bucket", call.s3.bucket);
  xml.element("Key", call.s3.key);
  xml.element("ETag", quoted(info->etag));
  xml.close("CompleteMultipartUploadResult");
  return xml_response(xml.take());
}

OpResult abort_multipart(const Call& call) {
  auto done = call.ctx.store.abort_multipart_upload(call.s3.bucket, call.s3.key,
                                                    *call.s3.param("uploadId"));
  if (!done) return tl::unexpected(from_core_error(done.error()));
  Response r;
  r.status = 204;
  return r;
}

OpResult list_parts(const Call& call) {
  const std::string upload_id(*call.s3.param("uploadId"));
  auto parts = call.ctx.store.list_parts(call.s3.bucket, call.s3.key, upload_id);
  if (!parts) return tl::unexpected(from_core_error(parts.error()));
  XmlWriter xml;
  xml.open("ListPartsResult", true);
  xml.element("Bucket", call.s3.bucket);
  xml.element("Key", call.s3.key);
  xml.element("UploadId", upload_id);
  xml.element("PartNumberMarker", "0");
  xml.element("NextPartNumberMarker",
              parts->empty() ? "0" : std::to_string(parts->back().part_number));
  xml.element("MaxParts", std::to_string(storage::kMaxPartNumber));
  xml.element("IsTruncated", "false");
  for (const auto& p : *parts) {
    xml.open("Part");
    xml.element("PartNumber", std::to_string(p.part_number));
    xml.element("LastModified", format_iso8601(p.last_modified));
    xml.element("ETag", quoted(p.etag));
    xml.element("Size", std::to_string(p.size));
    xml.close("Part");
  }
  xml.close("ListPartsResult");
  return xml_response(xml.take());
}

}  // namespace imgflow::gateway
