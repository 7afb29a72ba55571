#include "core/codec.h"
#include "events/event_record.h"
#include "gateway/http_date.h"
#include "gateway/operation.h"
#include "gateway/xml.h"

namespace imgflow::gateway {
namespace {

using storage::ObjectInfo;

// ---- Preconditions (RFC 7232 order, as S3 applies them) ---------------------------------------

TimePoint whole_seconds(TimePoint t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

// nullopt: serve; else 304 or 412.
std::optional<int> precondition_status(const S3Request& r, const ObjectInfo& info) {
  const TimePoint modified = whole_seconds(info.last_modified);
  const auto if_match = r.header("if-match");
  if (if_match && !etag_list_matches(*if_match, info.etag)) return 412;
  if (!if_match) {
    if (auto since = r.header("if-unmodified-since")) {
      if (auto t = parse_http_date(*since); t && modified > *t) return 412;
    }
  }
  const auto if_none_match = r.header("if-none-match");
  if (if_none_match && etag_list_matches(*if_none_match, info.etag)) return 304;
  if (!if_none_match) {
    if (auto since = r.header("if-modified-since")) {
      if (auto t = parse_http_date(*since); t && modified <= *t) return 304;
    }
  }
  return std::nullopt;
}

OpResult precondition_response(int status, const ObjectInfo& info) {
  if (status == 412) {
    return err("PreconditionFailed",
               "At least one of the pre-conditions you specified did not hold");
  }
  Response r;
  r.status = 304;
  r.set("ETag", quoted(info.etag));
  r.set("Last-Modified", format_http_date(info.last_modified));
  return r;
}

}  // namespace

OpResult put_object(const Call& call) {
  const Principal principal = call.caller.principal;
  storage::PutOptions options;
  options.content_type = content_type_of(call.s3);
  options.user_metadata = user_metadata(*call.s3.wire);
  if (auto denied = check_new_object(principal, call.ctx.options, call.s3.key, options.content_type,
                                     options.user_metadata)) {
    return tl::unexpected(*denied);
  }
  if (auto denied = check_anonymous_size(call)) return tl::unexpected(*denied);
  auto checksum = request_checksum(call.s3);
  if (!checksum) return tl::unexpected(checksum.error());
  options.cache_control = std::string(call.s3.header("cache-control").value_or(""));
  if (auto md5 = call.s3.header("content-md5")) options.content_md5 = std::string(*md5);
  options.checksum = *checksum;
  options.content_length = payload_length(call);
  // A stranger's upload is create-only: the key may be somebody else's image.
  options.if_none_match_star = call.s3.header("if-none-match") == "*" ||
                               !may_replace_objects(principal, call.ctx.options.anonymous);
  options.if_match = if_match_of(call.s3);
  options.event = event_for(call, call.s3.bucket, events::kObjectCreatedPut);
  auto info = call.ctx.store.put(call.s3.bucket, call.s3.key, call.body, options);
  if (!info) return tl::unexpected(write_error(call, principal, info.error()));
  Response r;
  r.set("ETag", quoted(info->etag));
  if (info->checksum) {
    r.set("x-amz-checksum-" + core::to_lower(storage::to_string(info->checksum->algorithm)),
          info->checksum->base64);
  }
  return r;
}

OpResult get_or_head_object(const Call& call, bool head) {
  const S3Request& r = call.s3;
  storage::GetOptions options;
  if (auto range = r.header("range")) options.range = storage::parse_range_header(*range);
  auto reader = call.ctx.store.open(r.bucket, r.key, options);
  if (!reader) return tl::unexpected(from_core_error(reader.error()));
  const ObjectInfo& info = (*reader)->info();
  if (auto status = precondition_status(r, info)) return precondition_response(*status, info);

  Response response;
  add_object_headers(response, info);
  // Presigned GETs may override response headers (S3's response-* parameters).
  struct Override {
    std::string_view param, header;
  };
  constexpr Override kOverrides[] = {{"response-content-type", "Content-Type"},
                                     {"response-content-disposition", "Content-Disposition"},
                                     {"response-cache-control", "Cache-Control"},
                                     {"response-content-encoding", "Content-Encoding"}};
  for (const Override& o : kOverrides) {
    if (auto value = r.param(o.param)) {
      std::erase_if(response.headers, [&](const auto& h) { return h.first == o.header; });
      response.set(std::string(o.header), std::string(*value));
    }
  }
  if ((*reader)->partial()) {
    response.status = 206;
    const std::uint64_t first = (*reader)->first();
    const std::uint64_t last = first + (*reader)->length() - 1;
    response.set("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                      "/" + std::to_string(info.size));
  }
  response.content_length = (*reader)->length();
  if (!head) response.object = std::move(*reader);
  return response;
}

OpResult delete_object(const Call& call) {
  storage::DeleteOptions options;
  options.event = event_for(call, call.s3.bucket, events::kObjectRemovedDelete);
  if (auto done = call.ctx.store.delete_object(call.s3.bucket, call.s3.key, options); !done) {
    return tl::unexpected(from_core_error(done.error()));
  }
  Response r;
  r.status = 204;
  return r;
}

OpResult copy_object(const Call& call) {
  auto source = copy_source(call);
  if (!source) return tl::unexpected(source.error());
  const auto& [src_bucket, src_key] = *source;
  storage::CopyOptions options;
  options.replace_metadata = call.s3.header("x-amz-metadata-directive") == "REPLACE";
  if (options.replace_metadata) {
    options.content_type = content_type_of(call.s3);
    options.user_metadata = user_metadata(*call.s3.wire);
    options.cache_control = std::string(call.s3.header("cache-control").value_or(""));
    if (auto denied = check_metadata(call.caller.principal, options.user_metadata)) {
      return tl::unexpected(*denied);
    }
  }
  if (has_copy_source_conditions(call.s3)) {
    auto source_info = call.ctx.store.head(src_bucket, src_key);
    if (!source_info) return tl::unexpected(from_core_error(source_info.error()));
    if (auto failed = check_copy_source_conditions(call.s3, *source_info)) {
      return tl::unexpected(*failed);
    }
  }
  options.if_none_match_star = call.s3.header("if-none-match") == "*";
  options.event = event_for(call, call.s3.bucket, events::kObjectCreatedCopy);
  auto info = call.ctx.store.copy(src_bucket, src_key, call.s3.bucket, call.s3.key, options);
  if (!info) return tl::unexpected(from_core_error(info.error()));
  return copy_result("CopyObjectResult", info->last_modified, info->etag);
}

Response acl_response() {
  XmlWriter xml;
  xml.open("AccessControlPolicy", kS3Namespace);
  write_owner(xml);
  xml.open("AccessControlList");
  xml.open("Grant");
  // The writer has no attributes: the grantee's type is an attribute (xsi:type), so this one
  // element is assembled by hand from constant text.
  std::string doc = xml.take();
  doc +=
      "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
      "xsi:type=\"CanonicalUser\"><ID>" +
      xml_escape(kOwnerId) + "</ID><DisplayName>" + xml_escape(kOwnerId) +
      "</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
      "</AccessControlList></AccessControlPolicy>";
  return xml_response(std::move(doc));
}

OpResult get_object_acl(const Call& call) {
  if (auto info = call.ctx.store.head(call.s3.bucket, call.s3.key); !info) {
    return tl::unexpected(from_core_error(info.error()));
  }
  return acl_response();
}

}  // namespace imgflow::gateway
