#include "gateway/s3_request.h"

#include <array>

#include "sigv4/encoding.h"

namespace imgflow::gateway {
namespace {

constexpr std::string_view kOperationalBucket = "_imgflow";

// Sub-resources of buckets and objects that are real S3 APIs this gateway does not offer.
constexpr std::array<std::string_view, 18> kUnsupportedSubresources = {
    "acl",       "tagging",    "versioning", "versions",     "policy",      "cors",
    "lifecycle", "website",    "logging",    "notification", "replication", "encryption",
    "retention", "legal-hold", "torrent",    "restore",      "select",      "object-lock"};

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
  if (r.method == "DELETE") return Operation::kNotImplemented;  // DeleteBucket
  return Operation::kNotImplemented;
}

Operation route_object(const S3Request& r) {
  const bool upload_id = r.has_param("uploadId");
  if (r.method == "PUT") {
    if (r.has_param("partNumber") && upload_id) {
      return r.header("x-amz-copy-source") ? Operation::kNotImplemented : Operation::kUploadPart;
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

}  // namespace

std::string_view to_string(Operation op) {
  switch (op) {
    case Operation::kListBuckets:
      return "ListBuckets";
    case Operation::kCreateBucket:
      return "CreateBucket";
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
  return sigv4::header_value(*wire, lower_name);
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
  const std::string lower = sigv4::to_lower(host);
  const std::string dotted = "." + sigv4::to_lower(suffix);
  if (lower.size() <= dotted.size() || !lower.ends_with(dotted)) return "";
  return lower.substr(0, lower.size() - dotted.size());
}

tl::expected<S3Request, S3Error> parse_s3_request(const sigv4::Request& wire,
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
  r.query = sigv4::parse_query(wire.query);
  // Path-style addressing: /<bucket>/<key>. The key keeps every byte after the bucket's slash
  // (including further slashes and "..": keys are names, never paths, in the store).
  const std::string_view path = std::string_view(wire.path).substr(1);
  if (!host_bucket.empty()) {
    // Virtual-hosted style: the bucket is in the Host header and the whole path is the key.
    r.bucket = std::string(host_bucket);
    r.key = sigv4::percent_decode(path, false);
  } else {
    const std::size_t slash = path.find('/');
    r.bucket = sigv4::percent_decode(path.substr(0, slash), false);
    if (slash != std::string_view::npos) {
      r.key = sigv4::percent_decode(path.substr(slash + 1), false);
    }
  }

  if (r.bucket == kOperationalBucket) {
    const bool open = r.key == "health" || r.key == "ready" || r.key == "metrics";
    r.op = open ? Operation::kOperational : Operation::kAdmin;
    return r;
  }
  for (const auto sub : kUnsupportedSubresources) {
    if (r.has_param(sub)) {
      r.op = Operation::kNotImplemented;
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
