#pragma once

// Internal to the gateway module: what the S3 operation handlers share. Each operation takes
// the parsed, authenticated and authorised request and returns a response or an S3 error; only
// handler.cpp calls them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/body_source.h"
#include "gateway/handler.h"
#include "gateway/policy.h"
#include "gateway/s3_error.h"
#include "gateway/s3_request.h"
#include "gateway/xml.h"
#include "http/request_head.h"
#include "sigv4/verifier.h"
#include "storage/object_store.h"
#include "tl/expected.hpp"

namespace imgflow::gateway {

// What authentication established about the requester.
struct Caller {
  Principal principal = Principal::kAnonymous;
  std::string access_key_id;
  std::optional<sigv4::VerifiedRequest> verified;
  std::optional<UnsignedChunkedBody> unsigned_chunked;  // anonymous aws-chunked body
};

// Per-request state shared by the operation handlers.
struct Call {
  const HttpRequest& http;
  const S3Request& s3;
  const HandlerContext& ctx;
  const Caller& caller;
  AuthenticatedBody& body;  // the request body, readable only as far as its signature vouches
};

using OpResult = tl::expected<Response, S3Error>;

// ---- Shared helpers (operation.cpp) ----------------------------------------------------------

tl::unexpected<S3Error> err(std::string_view code, std::string message);
std::string quoted(std::string_view etag);    // ETags go on the wire in quotes
std::string unquoted(std::string_view etag);  // and are compared without them
// Whether an If-Match / If-None-Match list ("\"a\", \"b\"", or "*") names `etag`.
bool etag_list_matches(std::string_view header, std::string_view etag);
Response xml_response(std::string xml, int status = 200);
// A store error, but first the authentication failure of the body if that caused it.
S3Error body_error(const Call& call, const core::Error& error);
std::map<std::string, std::string> user_metadata(const http::RequestHead& wire);
// The x-amz-checksum-* header, if any; InvalidRequest for algorithms the store lacks.
tl::expected<std::optional<storage::Checksum>, S3Error> request_checksum(const S3Request& r);
// x-amz-decoded-content-length for aws-chunked bodies, else Content-Length.
std::optional<std::uint64_t> payload_length(const Call& call);
std::string content_type_of(const S3Request& r);
// The If-Match header of a write, for PutOptions/CompleteOptions::if_match.
std::optional<std::string> if_match_of(const S3Request& r);

// What every new object is checked for before its body is read: reserved metadata from anyone
// but the function role and the admin; from an anonymous uploader also a key and a content type
// the pipeline can process (policy.h).
std::optional<S3Error> check_new_object(Principal principal, const GatewayOptions& options,
                                        std::string_view key, std::string_view content_type,
                                        const std::map<std::string, std::string>& metadata);
// The anonymous door's size rule for a body (an object or a part): declared, and at most
// AnonymousUploads::max_bytes.
std::optional<S3Error> check_anonymous_size(const Call& call);
// The store's error for a write; a precondition failure the gateway added itself (an anonymous
// upload may not replace an object) says so rather than naming a header the client never sent.
S3Error write_error(const Call& call, Principal principal, const core::Error& error);
// The PreconditionFailed of an anonymous upload to a key that exists.
S3Error existing_key_error();
// Who started a multipart upload: the access key, or "anonymous <address>" (the unit the
// anonymous upload limits count by).
std::string initiator_of(const Call& call);

// x-amz-copy-source: "[/]bucket/key[?versionId=...]", URL-encoded → (bucket, key), once the
// caller may read it (copying reads the source: the caller needs that right too).
tl::expected<std::pair<std::string, std::string>, S3Error> copy_source(const Call& call);
// Whether the request has x-amz-copy-source-if-* conditions.
bool has_copy_source_conditions(const S3Request& r);
// The x-amz-copy-source-if-* conditions against the source version: PreconditionFailed when
// one fails.
std::optional<S3Error> check_copy_source_conditions(const S3Request& r,
                                                    const storage::ObjectInfo& source);

// ?encoding-type=url: keys in a listing's answer percent-encoded (for keys XML cannot carry).
struct KeyEncoding {
  bool url = false;
  std::string operator()(std::string_view key) const;
};
// The request's encoding-type; anything but absent or "url" is InvalidArgument, as S3 answers.
tl::expected<KeyEncoding, S3Error> key_encoding_of(const S3Request& r);

// The owner S3 documents name: of every bucket and object here (ACLs are disabled).
inline constexpr std::string_view kOwnerId = "imgflow";
void write_owner(XmlWriter& xml);

// The answer to a copy (CopyObject: "CopyObjectResult"; UploadPartCopy: "CopyPartResult"): the
// copy's LastModified and ETag.
Response copy_result(std::string_view root, core::Clock::TimePoint last_modified,
                     std::string_view etag);
// The ObjectCreated event to record with a write into `bucket`; none outside the source bucket.
std::optional<storage::EventToRecord> event_for(const Call& call, std::string_view bucket,
                                                std::string_view event_name);
void add_object_headers(Response& r, const storage::ObjectInfo& info);
// A small XML request body (size-capped), checked against Content-MD5 when sent.
tl::expected<std::string, S3Error> read_xml_body(const Call& call);

// ---- Operations ------------------------------------------------------------------------------

// bucket_operations.cpp
OpResult list_buckets(const Call& call);
OpResult create_bucket(const Call& call);
OpResult delete_bucket(const Call& call);
OpResult get_bucket_acl(const Call& call);
OpResult list_object_versions(const Call& call);
OpResult head_bucket(const Call& call);
OpResult get_bucket_location(const Call& call);
OpResult list_objects(const Call& call, bool v2);
OpResult delete_objects(const Call& call);

// object_operations.cpp
OpResult put_object(const Call& call);
OpResult get_or_head_object(const Call& call, bool head);
OpResult delete_object(const Call& call);
OpResult copy_object(const Call& call);
OpResult get_object_acl(const Call& call);
// The AccessControlPolicy of a bucket or object with ACLs disabled: the owner, FULL_CONTROL.
Response acl_response();

// multipart_operations.cpp
OpResult create_multipart(const Call& call);
OpResult upload_part(const Call& call);
OpResult upload_part_copy(const Call& call);
OpResult complete_multipart(const Call& call);
OpResult abort_multipart(const Call& call);
OpResult list_parts(const Call& call);
OpResult list_multipart_uploads(const Call& call);

// post_object.cpp: browser POST upload (multipart/form-data, POST policy or anonymous).
OpResult post_object(const Call& call);

}  // namespace imgflow::gateway
