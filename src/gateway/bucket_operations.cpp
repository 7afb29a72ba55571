#include "gateway/http_date.h"
#include "gateway/operation.h"
#include "gateway/xml.h"
#include "sigv4/encoding.h"

namespace imgflow::gateway {
namespace {

tl::expected<int, S3Error> max_keys_of(const S3Request& r) {
  auto text = r.param("max-keys");
  if (!text) return storage::kMaxListKeys;
  auto value = parse_u64(*text);
  if (!value) return err("InvalidArgument", "max-keys must be a non-negative integer");
  return static_cast<int>(std::min<std::uint64_t>(*value, storage::kMaxListKeys));
}

}  // namespace

OpResult list_buckets(const Call& call) {
  auto buckets = call.ctx.store.list_buckets();
  if (!buckets) return tl::unexpected(from_core_error(buckets.error()));
  XmlWriter xml;
  xml.open("ListAllMyBucketsResult", kS3Namespace);
  xml.open("Owner");
  xml.element("ID", "imgflow");
  xml.element("DisplayName", "imgflow");
  xml.close("Owner");
  xml.open("Buckets");
  for (const auto& b : *buckets) {
    xml.open("Bucket");
    xml.element("Name", b.name);
    xml.element("CreationDate", format_iso8601(b.created));
    xml.close("Bucket");
  }
  xml.close("Buckets");
  xml.close("ListAllMyBucketsResult");
  return xml_response(xml.take());
}

OpResult create_bucket(const Call& call) {
  if (auto done = call.ctx.store.create_bucket(call.s3.bucket); !done) {
    return tl::unexpected(from_core_error(done.error()));
  }
  Response r;
  r.set("Location", "/" + call.s3.bucket);
  return r;
}

OpResult head_bucket(const Call& call) {
  if (auto info = call.ctx.store.head_bucket(call.s3.bucket); !info) {
    return tl::unexpected(from_core_error(info.error()));
  }
  return Response{};
}

OpResult get_bucket_location(const Call& call) {
  if (auto info = call.ctx.store.head_bucket(call.s3.bucket); !info) {
    return tl::unexpected(from_core_error(info.error()));
  }
  XmlWriter xml;
  xml.open("LocationConstraint", kS3Namespace);
  // us-east-1 is spelled as an empty constraint, as S3 does.
  xml.close("LocationConstraint");
  std::string body = xml.take();
  if (!call.ctx.options.region.empty() && call.ctx.options.region != "us-east-1") {
    const std::string close = "</LocationConstraint>";
    body.insert(body.size() - close.size(), xml_escape(call.ctx.options.region));
  }
  return xml_response(std::move(body));
}

OpResult list_objects(const Call& call, bool v2) {
  const S3Request& r = call.s3;
  const bool url = r.param("encoding-type") == "url";
  if (auto enc = r.param("encoding-type"); enc && !url) {
    return err("InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  auto max_keys = max_keys_of(r);
  if (!max_keys) return tl::unexpected(max_keys.error());
  storage::ListOptions options;
  options.prefix = std::string(r.param("prefix").value_or(""));
  options.delimiter = std::string(r.param("delimiter").value_or(""));
  options.max_keys = *max_keys;
  if (v2) {
    options.start_after = std::string(r.param("start-after").value_or(""));
    options.continuation_token = std::string(r.param("continuation-token").value_or(""));
  } else {
    options.start_after = std::string(r.param("marker").value_or(""));
  }
  auto listed = call.ctx.store.list(r.bucket, options);
  if (!listed) return tl::unexpected(from_core_error(listed.error()));
  const auto enc = [url](std::string_view text) {
    return url ? sigv4::uri_encode(text, true) : std::string(text);
  };

  XmlWriter xml;
  xml.open("ListBucketResult", kS3Namespace);
  xml.element("Name", r.bucket);
  xml.element("Prefix", enc(options.prefix));
  if (v2) {
    xml.element("KeyCount", std::to_string(listed->key_count));
    if (!options.continuation_token.empty()) {
      xml.element("ContinuationToken", options.continuation_token);
    }
    if (listed->is_truncated) xml.element("NextContinuationToken", listed->next_continuation_token);
    if (!options.start_after.empty()) xml.element("StartAfter", enc(options.start_after));
  } else {
    xml.element("Marker", enc(options.start_after));
    if (listed->is_truncated) {
      // V1 has no token: the next marker is the last key or prefix returned.
      std::string last = listed->objects.empty() ? "" : listed->objects.back().key;
      if (!listed->common_prefixes.empty() && listed->common_prefixes.back() > last) {
        last = listed->common_prefixes.back();
      }
      xml.element("NextMarker", enc(last));
    }
  }
  xml.element("MaxKeys", std::to_string(options.max_keys));
  if (!options.delimiter.empty()) xml.element("Delimiter", enc(options.delimiter));
  if (url) xml.element("EncodingType", "url");
  xml.element("IsTruncated", listed->is_truncated ? "true" : "false");
  for (const auto& o : listed->objects) {
    xml.open("Contents");
    xml.element("Key", enc(o.key));
    xml.element("LastModified", format_iso8601(o.last_modified));
    xml.element("ETag", quoted(o.etag));
    xml.element("Size", std::to_string(o.size));
    xml.element("StorageClass", "STANDARD");
    xml.close("Contents");
  }
  for (const auto& p : listed->common_prefixes) {
    xml.open("CommonPrefixes");
    xml.element("Prefix", enc(p));
    xml.close("CommonPrefixes");
  }
  xml.close("ListBucketResult");
  return xml_response(xml.take());
}

OpResult delete_objects(const Call& call) {
  auto text = read_xml_body(call);
  if (!text) return tl::unexpected(text.error());
  auto request = parse_delete_objects(*text);
  if (!request) {
    return err("MalformedXML",
               "The XML you provided was not well-formed: " + request.error().message);
  }
  XmlWriter xml;
  xml.open("DeleteResult", kS3Namespace);
  for (const auto& key : request->keys) {
    auto done = call.ctx.store.delete_object(call.s3.bucket, key);
    if (done) {
      if (request->quiet) continue;
      xml.open("Deleted");
      xml.element("Key", key);
      xml.close("Deleted");
    } else {
      const S3Error e = from_core_error(done.error());
      xml.open("Error");
      xml.element("Key", key);
      xml.element("Code", e.code);
      xml.element("Message", e.message);
      xml.close("Error");
    }
  }
  xml.close("DeleteResult");
  return xml_response(xml.take());
}

}  // namespace imgflow::gateway
