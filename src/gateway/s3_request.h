#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/s3_error.h"
#include "http/request_head.h"
#include "tl/expected.hpp"

namespace imgflow::gateway {

// Every S3 operation the router recognises. kNotImplemented ones are recognised so that they get
// a 501 rather than being mistaken for another operation (e.g. PUT ?tagging is not a PutObject).
enum class Operation {
  kListBuckets,
  kCreateBucket,
  kDeleteBucket,
  kHeadBucket,
  kGetBucketLocation,
  kGetBucketAcl,
  kListObjectsV2,
  kListObjects,
  kListObjectVersions,
  kDeleteObjects,
  kPostObject,
  kPutObject,
  kCopyObject,
  kGetObject,
  kHeadObject,
  kDeleteObject,
  kGetObjectAcl,
  kCreateMultipartUpload,
  kUploadPart,
  kUploadPartCopy,
  kCompleteMultipartUpload,
  kAbortMultipartUpload,
  kListParts,
  kListMultipartUploads,
  kOperational,     // /_imgflow/health|ready|metrics: open to all
  kAdmin,           // any other /_imgflow/ path (e.g. dlq): operator actions, admin only
  kNotImplemented,  // a real S3 operation this gateway does not offer
};

std::string_view to_string(Operation op);

// True for operations that write an object (or part) from the request body.
bool writes_body(Operation op);

// An HTTP request parsed once into what the handlers need. Built only by parse_s3_request().
struct S3Request {
  Operation op = Operation::kNotImplemented;
  std::string method;
  std::string bucket;  // empty for service-level requests
  std::string key;     // percent-decoded; empty for bucket-level requests
  std::vector<http::QueryParam> query;
  const http::RequestHead* wire = nullptr;  // the raw request (headers, for auth); outlives this

  std::optional<std::string_view> header(std::string_view lower_name) const;
  std::optional<std::string_view> param(std::string_view name) const;
  bool has_param(std::string_view name) const { return param(name).has_value(); }
  // The raw resource path, for error documents.
  std::string resource() const;
};

// A Content-Type parsed as RFC 9110 (section 8.3.1) defines it: type "/" subtype, then
// parameters after ';'. Type, subtype and parameter names are case-insensitive and kept here in
// lower case; parameter values as sent (a quoted-string unquoted).
struct MediaType {
  std::string type;
  std::string subtype;
  std::vector<std::pair<std::string, std::string>> parameters;
};

// nullopt unless `text` is exactly one media type: not a list ("image/jpeg, text/html"), not a
// bare type ("image/"), no stray bytes. Surrounding whitespace is ignored.
std::optional<MediaType> parse_media_type(std::string_view text);

// An unsigned aws-chunked body (STREAMING-UNSIGNED-PAYLOAD-TRAILER), the form newer SDKs send
// uploads in by default: chunks without signatures, then a trailing checksum.
struct UnsignedChunkedBody {
  std::uint64_t decoded_length = 0;  // x-amz-decoded-content-length: the payload's size
  std::string trailer;               // x-amz-trailer, lower case; empty: no trailing checksum
};

// How the body of a request without a signature is framed: nullopt when it is the payload as
// sent. aws-chunked (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER, or Content-Encoding:
// aws-chunked without that header, as SDKs send it unsigned) is decoded. Errors: InvalidRequest
// for the chunk-signed forms (STREAMING-AWS4-HMAC-SHA256-PAYLOAD...), which have no signature to
// be checked against; MissingContentLength without a valid x-amz-decoded-content-length.
tl::expected<std::optional<UnsignedChunkedBody>, S3Error> parse_unsigned_chunked(
    const http::RequestHead& wire);

// The bucket named by a virtual-hosted-style Host ("photos.localhost:9000" with suffix
// "localhost" → "photos"); empty when the host is not <bucket>.<suffix> or suffix is empty.
std::string virtual_host_bucket(std::string_view host, std::string_view suffix);

// Routes a wire request to an operation. `host_bucket` (from virtual_host_bucket) selects
// virtual-hosted style; empty means path style, /<bucket>/<key>. Errors: MethodNotAllowed,
// InvalidURI.
tl::expected<S3Request, S3Error> parse_s3_request(const http::RequestHead& wire,
                                                  std::string_view host_bucket = "");

}  // namespace imgflow::gateway
