#include "gateway/handler.h"

#include "core/codec.h"
#include "core/log.h"
#include "gateway/body_source.h"
#include "gateway/cors.h"
#include "gateway/operation.h"
#include "gateway/s3_error.h"
#include "gateway/s3_request.h"
#include "http/request_head.h"

namespace imgflow::gateway {
namespace {

// ---- Authentication ---------------------------------------------------------------------------

tl::expected<Caller, S3Error> authenticate(const HttpRequest& http, const HandlerContext& ctx) {
  Caller caller;
  if (sigv4::classify(http.wire) == sigv4::AuthKind::kAnonymous) {
    // An aws-chunked body is decoded (never stored with its framing) in its unsigned form; the
    // chunk-signed forms are refused, as there is no signature to check them against.
    auto chunked = parse_unsigned_chunked(http.wire);
    if (!chunked) return tl::unexpected(chunked.error());
    caller.unsigned_chunked = std::move(*chunked);
    // A SigV2 presigned URL (older SDK defaults) must not silently become an anonymous request.
    for (const auto& p : http::parse_query(http.wire.query)) {
      if (p.key == "AWSAccessKeyId") {
        return tl::unexpected(s3_error("InvalidRequest",
                                       "The authorization mechanism you have provided is not "
                                       "supported. Please use AWS4-HMAC-SHA256."));
      }
    }
    return caller;
  }
  sigv4::VerifierOptions options;
  options.region = ctx.options.region;
  auto verified = sigv4::verify(http.wire, ctx.credentials, ctx.clock, options);
  if (!verified) return tl::unexpected(from_auth_error(verified.error()));
  caller.principal = principal_from(verified->principal);
  caller.access_key_id = verified->access_key_id;
  caller.verified = std::move(*verified);
  return caller;
}

OpResult operational(const Call& call) {
  Response r;
  r.set("Content-Type", "text/plain; charset=utf-8");
  if (call.s3.method != "GET" && call.s3.method != "HEAD") {
    return err("MethodNotAllowed", "The specified method is not allowed against this resource.");
  }
  if (call.s3.key == "health") {
    r.body = "ok\n";
  } else if (call.s3.key == "ready") {
    const bool ready = !call.ctx.ready || call.ctx.ready();
    r.status = ready ? 200 : 503;
    r.body = ready ? "ready\n" : "not ready\n";
  } else if (call.s3.key == "metrics") {
    r.headers.clear();
    r.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = call.ctx.metrics_text ? call.ctx.metrics_text() : "";
  } else {
    return err("NoSuchKey", "No such operational endpoint; try health, ready or metrics");
  }
  return r;
}

// The writes that record an ObjectCreated event when they succeed in the source bucket.
bool creates_object(Operation op) {
  return op == Operation::kPutObject || op == Operation::kPostObject ||
         op == Operation::kCopyObject || op == Operation::kCompleteMultipartUpload;
}

int admin_status(core::ErrorCode code) {
  switch (code) {
    case core::ErrorCode::kInvalidArgument:
      return 400;
    case core::ErrorCode::kPermissionDenied:
      return 403;
    case core::ErrorCode::kNotFound:
      return 404;
    case core::ErrorCode::kUnsupported:
      return 405;
    case core::ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// text/event-stream for a dashboard: the response holds the connection until either side ends.
OpResult event_stream(const Call& call) {
  Response r;
  if (call.s3.method != "GET") {
    r.status = 405;
    r.set("Allow", "GET");
    r.set("Content-Type", "application/json");
    r.body = R"({"error":"events is a stream: GET it"})";
    return r;
  }
  r.stream = call.ctx.event_stream();
  if (!r.stream) {
    r.status = 503;
    r.set("Content-Type", "application/json");
    r.set("Retry-After", "5");
    r.body = R"({"error":"too many event streams are open, or the server is stopping"})";
    return r;
  }
  r.set("Content-Type", "text/event-stream");
  r.set("Cache-Control", "no-store");
  r.set("X-Accel-Buffering", "no");  // a reverse proxy must pass each event on at once
  return r;
}

OpResult admin_action(const Call& call) {
  if (call.s3.key == "events" && call.ctx.event_stream) return event_stream(call);
  if (!call.ctx.admin) return err("NoSuchKey", "No such operational endpoint");
  auto answer = call.ctx.admin(AdminRequest{call.s3.method, call.s3.key});
  Response r;
  r.set("Content-Type", "application/json");
  if (answer) {
    r.body = std::move(*answer);
    return r;
  }
  r.status = admin_status(answer.error().code);
  r.body = "{\"error\":";
  core::append_json_string(r.body, answer.error().message);
  r.body += '}';
  return r;
}

OpResult dispatch(const Call& call) {
  switch (call.s3.op) {
    case Operation::kListBuckets:
      return list_buckets(call);
    case Operation::kCreateBucket:
      return create_bucket(call);
    case Operation::kDeleteBucket:
      return delete_bucket(call);
    case Operation::kGetBucketAcl:
      return get_bucket_acl(call);
    case Operation::kListObjectVersions:
      return list_object_versions(call);
    case Operation::kGetObjectAcl:
      return get_object_acl(call);
    case Operation::kUploadPartCopy:
      return upload_part_copy(call);
    case Operation::kHeadBucket:
      return head_bucket(call);
    case Operation::kGetBucketLocation:
      return get_bucket_location(call);
    case Operation::kListObjectsV2:
      return list_objects(call, true);
    case Operation::kListObjects:
      return list_objects(call, false);
    case Operation::kDeleteObjects:
      return delete_objects(call);
    case Operation::kPutObject:
      return put_object(call);
    case Operation::kCopyObject:
      return copy_object(call);
    case Operation::kGetObject:
      return get_or_head_object(call, false);
    case Operation::kHeadObject:
      return get_or_head_object(call, true);
    case Operation::kDeleteObject:
      return delete_object(call);
    case Operation::kCreateMultipartUpload:
      return create_multipart(call);
    case Operation::kUploadPart:
      return upload_part(call);
    case Operation::kCompleteMultipartUpload:
      return complete_multipart(call);
    case Operation::kAbortMultipartUpload:
      return abort_multipart(call);
    case Operation::kListParts:
      return list_parts(call);
    case Operation::kListMultipartUploads:
      return list_multipart_uploads(call);
    case Operation::kOperational:
      return operational(call);
    case Operation::kAdmin:
      return admin_action(call);
    case Operation::kPostObject:
      return post_object(call);
    case Operation::kNotImplemented:
      break;
  }
  return err("NotImplemented",
             "A header or query you provided implies functionality that is not implemented");
}

Response error_response(const S3Error& error, const HttpRequest& http, bool head) {
  Response r;
  r.status = error.status;
  r.error_code = error.code;
  if (!head) {
    r.set("Content-Type", "application/xml");
    r.body = error_xml(error, http.wire.path, http.request_id);
  }
  return r;
}

OpResult authorise_and_run(const HttpRequest& http, const S3Request& s3, storage::ByteSource& raw,
                           const HandlerContext& ctx, Response& log) {
  if (s3.op == Operation::kOperational || s3.op == Operation::kPostObject) {
    // Operational endpoints are open; a POST upload authenticates through its form fields
    // (post_object verifies the policy and applies the bucket policy itself).
    auto body = AuthenticatedBody::wrap(raw, std::nullopt, std::nullopt);
    const Caller anonymous;
    return dispatch(Call{http, s3, ctx, anonymous, **body});
  }
  auto caller = authenticate(http, ctx);
  if (!caller) return tl::unexpected(caller.error());
  log.principal = std::string(to_string(caller->principal));
  const GatewayOptions& options = ctx.options;
  const bool public_read = caller->principal == Principal::kAnonymous &&
                           is_public_read(s3.op, s3.bucket, s3.key, options.public_read);
  if (!public_read &&
      !is_allowed(caller->principal, s3.op, s3.bucket, options.roles, options.anonymous)) {
    return err("AccessDenied", denial_message(caller->principal, s3.op, s3.bucket, options.roles,
                                              options.anonymous));
  }
  auto body = AuthenticatedBody::wrap(raw, caller->verified, caller->unsigned_chunked);
  if (!body) return tl::unexpected(from_auth_error(body.error()));
  return dispatch(Call{http, s3, ctx, *caller, **body});
}

}  // namespace

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (core::to_lower(n) == core::to_lower(name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool is_probe(const HttpRequest& request) {
  const http::RequestHead& wire = request.wire;
  if (wire.method != "GET" && wire.method != "HEAD") return false;
  if (wire.path != "/_imgflow/health" && wire.path != "/_imgflow/ready" &&
      wire.path != "/_imgflow/metrics") {
    return false;
  }
  const auto length = http::header_value(wire, "content-length");
  return (!length || *length == "0") && !http::header_value(wire, "transfer-encoding");
}

bool is_privileged(const HttpRequest& request) {
  const sigv4::AuthKind kind = sigv4::classify(request.wire);
  return is_probe(request) || kind == sigv4::AuthKind::kHeader ||
         kind == sigv4::AuthKind::kPresigned;
}

std::string event_payload(std::string_view principal, std::string_view access_key_id,
                          std::string_view source_ip, std::string_view request_id) {
  std::string out = "{\"principal\":";
  core::append_json_string(out, principal);
  out += ",\"accessKeyId\":";
  core::append_json_string(out, access_key_id);
  out += ",\"sourceIPAddress\":";
  core::append_json_string(out, source_ip);
  out += ",\"requestId\":";
  core::append_json_string(out, request_id);
  out += '}';
  return out;
}

namespace {

// Everything but CORS: parse, authenticate, authorise, run.
Response handle_s3(const HttpRequest& request, storage::ByteSource& body,
                   const HandlerContext& ctx) {
  const bool head = request.wire.method == "HEAD";
  const std::string host_bucket =
      virtual_host_bucket(request.host, ctx.options.virtual_host_suffix);
  auto s3 = parse_s3_request(request.wire, host_bucket);
  if (!s3) return error_response(s3.error(), request, head);
  Response log;  // collects principal for the access log before the outcome is known
  log.principal = "anonymous";
  log.operation = std::string(to_string(s3->op));
  auto result = authorise_and_run(request, *s3, body, ctx, log);
  Response response = result ? std::move(*result) : error_response(result.error(), request, head);
  response.upload = result && s3->bucket == ctx.options.roles.source && creates_object(s3->op);
  response.operation = std::move(log.operation);
  // An operation that authenticates itself (POST policy) names its principal; else the caller's.
  if (response.principal.empty()) response.principal = std::move(log.principal);
  return response;
}

}  // namespace

Response handle(const HttpRequest& request, storage::ByteSource& body, const HandlerContext& ctx) {
  if (request.wire.method == "OPTIONS") {
    return cors_preflight(request.wire, ctx.options.cors_origins);
  }
  Response response = handle_s3(request, body, ctx);
  add_cors_headers(request.wire, ctx.options.cors_origins, response);
  return response;
}

}  // namespace imgflow::gateway
