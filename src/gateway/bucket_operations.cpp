#include "core/codec.h"
#include "events/event_record.h"
#include "gateway/http_date.h"
#include "gateway/operation.h"
#include "gateway/xml.h"

namespace imgflow::gateway {
namespace {

tl::expected<int, S3Error> max_keys_of(const S3Request& r) {
  auto text = r.param("max-keys");
  if (!text) return storage::kMaxListKeys;
  auto value = core::parse_u64(*text);
  if (!value) return err("InvalidArgument", "max-keys must be a non-negative integer");
  return static_cast<int>(std::min<std::uint64_t>(*value, storage::kMaxListKeys));
}

// What every object listing reads alike: max-keys, prefix, delimiter.
tl::expected<storage::ListOptions, S3Error> list_options_of(const S3Request& r) {
  auto max_keys = max_keys_of(r);
  if (!max_keys) return tl::unexpected(max_keys.error());
  storage::ListOptions options;
  options.prefix = std::string(r.param("prefix").value_or(""));
  options.delimiter = std::string(r.param("delimiter").value_or(""));
  options.max_keys = *max_keys;
  return options;
}

// Where a marker-paged listing (V1, versions) continues: after `marker`, and past every key
// under it when it is one of the listing's common prefixes, which the last page ended with; a
// bare marker would list that prefix again.
std::string continue_after(std::string_view marker, const storage::ListOptions& options) {
  const bool common_prefix = !options.delimiter.empty() && marker.starts_with(options.prefix) &&
                             marker.size() > options.prefix.size() &&
                             marker.ends_with(options.delimiter);
  // 0xFF never occurs in UTF-8, so it sorts after every key under the prefix.
  return common_prefix ? std::string(marker) + '\xFF' : std::string(marker);
}

// The last key or common prefix of a page: where the next one starts.
std::string last_entry(const storage::ListResult& listed) {
  std::string last = listed.objects.empty() ? "" : listed.objects.back().key;
  if (!listed.common_prefixes.empty() && listed.common_prefixes.back() > last) {
    last = listed.common_prefixes.back();
  }
  return last;
}

}  // namespace

OpResult list_buckets(const Call& call) {
  auto buckets = call.ctx.store.list_buckets();
  if (!buckets) return tl::unexpected(from_core_error(buckets.error()));
  XmlWriter xml;
  xml.open("ListAllMyBucketsResult", kS3Namespace);
  write_owner(xml);
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

OpResult delete_bucket(const Call& call) {
  if (!may_delete_bucket(call.s3.bucket, call.ctx.options.roles)) {
    return err("AccessDenied", "The bucket " + call.s3.bucket +
                                   " is where this server's pipeline reads or writes images; "
                                   "it cannot be deleted while the server uses it");
  }
  if (auto done = call.ctx.store.delete_bucket(call.s3.bucket); !done) {
    return tl::unexpected(from_core_error(done.error()));
  }
  Response r;
  r.status = 204;
  return r;
}

OpResult get_bucket_acl(const Call& call) {
  if (auto info = call.ctx.store.head_bucket(call.s3.bucket); !info) {
    return tl::unexpected(from_core_error(info.error()));
  }
  return acl_response();
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
  const auto encoding = key_encoding_of(r);
  if (!encoding) return tl::unexpected(encoding.error());
  const KeyEncoding& enc = *encoding;
  auto listing = list_options_of(r);
  if (!listing) return tl::unexpected(listing.error());
  storage::ListOptions& options = *listing;
  if (v2) {
    options.start_after = std::string(r.param("start-after").value_or(""));
    options.continuation_token = std::string(r.param("continuation-token").value_or(""));
  } else {
    options.start_after = continue_after(r.param("marker").value_or(""), options);
  }
  auto listed = call.ctx.store.list(r.bucket, options);
  if (!listed) return tl::unexpected(from_core_error(listed.error()));

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
    xml.element("Marker", enc(r.param("marker").value_or("")));
    // V1 has no token: the next marker is the last key or prefix returned.
    if (listed->is_truncated) xml.element("NextMarker", enc(last_entry(*listed)));
  }
  xml.element("MaxKeys", std::to_string(options.max_keys));
  if (!options.delimiter.empty()) xml.element("Delimiter", enc(options.delimiter));
  if (enc.url) xml.element("EncodingType", "url");
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

namespace {

// ListObjectVersions' markers: a key marker, and a version id marker that (with a key marker)
// can only be "null", the one version id of an unversioned bucket.
tl::expected<std::string, S3Error> versions_start_after(const S3Request& r,
                                                        const storage::ListOptions& options) {
  const std::string_view key_marker = r.param("key-marker").value_or("");
  const std::string_view version_marker = r.param("version-id-marker").value_or("");
  if (!version_marker.empty() && key_marker.empty()) {
    return err("InvalidArgument", "A version-id marker cannot be specified without a key marker.");
  }
  if (!version_marker.empty() && version_marker != "null") {
    return err("InvalidArgument", "Invalid version id specified");
  }
  // Each key has one version, so the versions of key-marker older than "null" are none: both
  // markers continue after the key.
  return continue_after(key_marker, options);
}

void write_version(XmlWriter& xml, const storage::ObjectInfo& o, const std::string& key) {
  xml.open("Version");
  xml.element("Key", key);
  xml.element("VersionId", "null");
  xml.element("IsLatest", "true");
  xml.element("LastModified", format_iso8601(o.last_modified));
  xml.element("ETag", quoted(o.etag));
  xml.element("Size", std::to_string(o.size));
  xml.element("StorageClass", "STANDARD");
  write_owner(xml);
  xml.close("Version");
}

}  // namespace

// An unversioned bucket's objects as S3 lists them: one version each, with the id "null", and
// no delete markers.
OpResult list_object_versions(const Call& call) {
  const S3Request& r = call.s3;
  const auto encoding = key_encoding_of(r);
  if (!encoding) return tl::unexpected(encoding.error());
  const KeyEncoding& enc = *encoding;
  auto listing = list_options_of(r);
  if (!listing) return tl::unexpected(listing.error());
  storage::ListOptions& options = *listing;
  auto start_after = versions_start_after(r, options);
  if (!start_after) return tl::unexpected(start_after.error());
  options.start_after = std::move(*start_after);
  auto listed = call.ctx.store.list(r.bucket, options);
  if (!listed) return tl::unexpected(from_core_error(listed.error()));

  XmlWriter xml;
  xml.open("ListVersionsResult", kS3Namespace);
  xml.element("Name", r.bucket);
  xml.element("Prefix", enc(options.prefix));
  xml.element("KeyMarker", enc(r.param("key-marker").value_or("")));
  xml.element("VersionIdMarker", r.param("version-id-marker").value_or(""));
  if (listed->is_truncated) {
    const std::string next = last_entry(*listed);
    xml.element("NextKeyMarker", enc(next));
    // After a common prefix there is no version to name: the key marker alone continues.
    const bool after_object = !listed->objects.empty() && listed->objects.back().key == next;
    if (after_object) xml.element("NextVersionIdMarker", "null");
  }
  xml.element("MaxKeys", std::to_string(options.max_keys));
  if (!options.delimiter.empty()) xml.element("Delimiter", enc(options.delimiter));
  if (enc.url) xml.element("EncodingType", "url");
  xml.element("IsTruncated", listed->is_truncated ? "true" : "false");
  for (const auto& o : listed->objects) write_version(xml, o, enc(o.key));
  for (const auto& p : listed->common_prefixes) {
    xml.open("CommonPrefixes");
    xml.element("Prefix", enc(p));
    xml.close("CommonPrefixes");
  }
  xml.close("ListVersionsResult");
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
  storage::DeleteOptions options;
  options.event = event_for(call, call.s3.bucket, events::kObjectRemovedDelete);
  XmlWriter xml;
  xml.open("DeleteResult", kS3Namespace);
  for (const auto& key : request->keys) {
    auto done = call.ctx.store.delete_object(call.s3.bucket, key, options);
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
