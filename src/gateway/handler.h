#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "gateway/policy.h"
#include "http/request_head.h"
#include "sigv4/verifier.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

// The request as the HTTP server hands it over: the wire request untouched (SigV4 needs the
// raw path, query and headers), plus what only the connection knows.
struct HttpRequest {
  http::RequestHead wire;
  std::string remote_ip;
  std::string request_id;  // also sent back as x-amz-request-id
  std::string host;        // Host header, for Location values
};

// A typed response. Either `body` (small: XML, text) or `object` (streamed by the server after
// the headers) carries the payload; for HEAD, `content_length` announces a length without one.
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::unique_ptr<storage::ObjectReader> object;
  // A body of unknown length (server-sent events): sent as it is read, with no Content-Length,
  // until read() returns 0, the client goes away or the server stops; the connection then
  // closes.
  std::unique_ptr<storage::ByteSource> stream;
  std::optional<std::uint64_t> content_length;  // overrides the computed length (HEAD)
  // For the access log and metrics only.
  std::string operation;
  std::string principal;  // empty: anonymous
  std::string error_code;
  bool upload = false;  // an object was created in the source bucket (its event is recorded)

  void set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
  std::optional<std::string_view> header(std::string_view name) const;
};

struct GatewayOptions {
  BucketRoles roles;
  // The region SigV4 scopes must name; "" accepts whichever region a client signs with (a
  // client configured for eu-west-1 then works unchanged), and answers us-east-1 for locations.
  std::string region = "us-east-1";
  // The open door into the source bucket: what strangers may upload, and how much.
  AnonymousUploads anonymous;
  // Browser origins allowed by CORS ("*" for any); empty disables CORS.
  std::vector<std::string> cors_origins;
  PublicRead public_read;  // objects anyone may GET or HEAD; off by default
  // Hosts "<bucket>.<suffix>" select virtual-hosted-style addressing; empty: path style only.
  std::string virtual_host_suffix = "localhost";
};

// An operator action under /_imgflow/ (any path but health, ready and metrics), made by an
// authenticated admin. The gateway knows nothing of what the paths mean.
struct AdminRequest {
  std::string method;
  std::string path;  // below /_imgflow/, e.g. "dlq/17/redrive"
};

// The action's JSON answer (200), or an error whose code the gateway turns into the status:
// kInvalidArgument 400, kPermissionDenied 403, kNotFound 404, kUnsupported 405 (the method),
// kUnavailable 503, anything else 500; the body is then {"error":MESSAGE}.
using AdminAction = std::function<core::Result<std::string>(const AdminRequest&)>;

// Everything a request needs besides itself. References must outlive the call.
struct HandlerContext {
  storage::ObjectStore& store;
  const sigv4::CredentialsLookup& credentials;
  const core::Clock& clock;
  const GatewayOptions& options;
  std::function<std::string()> metrics_text;  // Prometheus text for /_imgflow/metrics
  std::function<bool()> ready;                // /_imgflow/ready: 200 when true, else 503
  AdminAction admin;                          // unset: no admin paths (404)
  // GET /_imgflow/events (the admin's): a live stream (Response::stream); it returns nullptr when
  // no more streams may open (503). Unset: 404.
  std::function<std::unique_ptr<storage::ByteSource>()> event_stream{};
};

// The protocol: authenticates, authorises, runs the S3 operation against the store and returns
// the response. Reads the request body from `body` only when the operation has one, and only
// after authentication and authorisation succeeded (so a 100-continue is sent only then).
// Never throws; every failure is an S3 error response. Thread-safe if the store is.
Response handle(const HttpRequest& request, storage::ByteSource& body, const HandlerContext& ctx);

// A probe: a GET or HEAD of /_imgflow/health, ready or metrics, without a body. Probes are
// never charged to an address's request rate, so a monitor does not read a throttled 503 as the
// server being down.
bool is_probe(const HttpRequest& request);

// Whether a request may run on a connection from the reserve (AdmissionLimits): a probe, or a
// SigV4-signed request (an Authorization header or a presigned query). Told from the header
// alone, before any signature is checked: handle() refuses a forged one before reading a body.
bool is_privileged(const HttpRequest& request);

// The outbox payload recorded with an ObjectCreated event: who uploaded, from where, which
// request. A small JSON object; src/events copies it into the S3 event record.
std::string event_payload(std::string_view principal, std::string_view access_key_id,
                          std::string_view source_ip, std::string_view request_id);

}  // namespace imgflow::gateway
