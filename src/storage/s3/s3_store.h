#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "http/http_client.h"
#include "sigv4/signer.h"
#include "storage/object_store.h"
#include "storage/s3/s3_address.h"

namespace imgflow::core {
struct XmlElement;
}  // namespace imgflow::core

namespace imgflow::storage::s3 {
class Spool;
}  // namespace imgflow::storage::s3

namespace imgflow::storage::internal {
class BodyDigest;
}  // namespace imgflow::storage::internal

namespace imgflow::storage::s3 {

// How failed requests are retried: exponential backoff with full jitter (a random delay in
// [0, min(max_delay, base_delay * 2^retry)]), as the AWS SDKs do.
struct RetryPolicy {
  int max_attempts = 4;                        // the first try included; 1 disables retries
  std::chrono::milliseconds base_delay{100};   // doubles with every retry
  std::chrono::milliseconds max_delay{5'000};  // caps a single wait
};

struct S3Config {
  // "scheme://host[:port]". Empty: "https://s3.<region>.amazonaws.com". MinIO, Ceph RGW or the
  // embedded gateway: e.g. "http://127.0.0.1:9000" with path_style.
  std::string endpoint;
  std::string region = "us-east-1";  // the SigV4 signing region
  // true: <endpoint>/<bucket>/<key> (MinIO, Ceph, the gateway); false: virtual-hosted
  // <bucket>.<host>/<key> (AWS). Buckets with '.' always use path style (TLS wildcard certs).
  bool path_style = false;
  // nullopt: read AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN at create().
  std::optional<sigv4::Credentials> credentials;
  RetryPolicy retry;
  // A put() body up to this size goes up in one PUT, read into memory first so it is signed
  // with its real SHA-256 and can be retried. A larger body goes up as a multipart upload of
  // multipart_part_size parts, each signed and retried the same way: memory holds one part,
  // nothing spools to disk, and the length need not be known in advance. An UploadPart body
  // over this size streams with UNSIGNED-PAYLOAD, needs its content_length and is not retried.
  std::size_t max_buffered_body = 8 << 20;
  // The part size of a large put(). S3 refuses parts under 5 MiB (but the last) when the upload
  // completes; 10,000 parts of 8 MiB reach far past the 5 GiB a put() may hold.
  std::size_t multipart_part_size = 8 << 20;
  // GET bodies up to this size stay in memory; larger ones spool to a temporary file.
  std::size_t max_memory_response = 8 << 20;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{300'000};  // one attempt, body included
  // The X-Ray trace id to send as X-Amzn-Trace-Id ("" or unset: none). On Lambda it is the
  // invocation's, so Lambda's recursive-loop detection can follow a write back to its trigger.
  std::function<std::string()> trace_id;
};

// Reads credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional)
// AWS_SESSION_TOKEN. kInvalidArgument when the key pair is not set.
core::Result<sigv4::Credentials> credentials_from_environment();

// ObjectStore over the S3 REST API (AWS S3, MinIO, Ceph RGW, the embedded gateway), every
// request signed with SigV4. Idempotent requests (everything but CreateMultipartUpload, and
// PUT/UploadPart only when their body was buffered) are retried per RetryPolicy on transport
// errors (kUnavailable, kTimeout), HTTP 5xx/429 and SlowDown-like codes. A retry cannot know
// whether the failed attempt reached the server: a retried create-only put (If-None-Match: *)
// may report kPreconditionFailed for its own first write. S3 error bodies map to storage errors
// (see s3_error.h), so detail_of() works as with the other stores.
//
// Differences from the local stores: the event of PutOptions, CopyOptions and DeleteOptions is
// ignored (S3 raises its own notifications); ObjectInfo::sequencer is empty; put() reports
// last_modified as the local clock's time (S3 does not return it); head_bucket() does not know
// the creation time.
// S3 has no API for MultipartOptions' initiator, max_uploads_per_initiator and expires, nor for
// PartOptions::max_upload_bytes: they are not sent (a bucket lifecycle rule expires uploads).
// A put() over max_buffered_body is a multipart upload: its ETag is the multipart "<md5>-<N>"
// form, and Content-MD5 and x-amz-checksum-* are checked here, before the upload completes (a
// mismatch aborts it).
// Safe to call from any thread (the HttpClient must be too); readers returned by open() are not.
class S3Store final : public ObjectStore {
 public:
  // Waits between retries; tests pass a recorder instead of sleeping.
  using Sleep = std::function<void(std::chrono::milliseconds)>;

  // kInvalidArgument for a malformed endpoint or missing credentials. `client` and `clock` must
  // outlive the store.
  static core::Result<std::unique_ptr<S3Store>> create(
      S3Config config, http::HttpClient& client,
      const core::Clock& clock = core::SystemClock::instance(), Sleep sleep = {});

  core::Status create_bucket(std::string_view bucket) override;
  core::Status delete_bucket(std::string_view bucket) override;
  core::Result<BucketInfo> head_bucket(std::string_view bucket) override;
  core::Result<std::vector<BucketInfo>> list_buckets() override;

  using ObjectStore::put;
  core::Result<ObjectInfo> put(std::string_view bucket, std::string_view key, ByteSource& body,
                               const PutOptions& options) override;
  core::Result<std::unique_ptr<ObjectReader>> open(std::string_view bucket, std::string_view key,
                                                   const GetOptions& options) override;
  core::Result<ObjectInfo> head(std::string_view bucket, std::string_view key) override;
  using ObjectStore::delete_object;
  core::Status delete_object(std::string_view bucket, std::string_view key,
                             const DeleteOptions& options) override;
  core::Result<ListResult> list(std::string_view bucket, const ListOptions& options) override;
  core::Result<ObjectInfo> copy(std::string_view src_bucket, std::string_view src_key,
                                std::string_view dst_bucket, std::string_view dst_key,
                                const CopyOptions& options) override;

  core::Result<std::string> create_multipart_upload(std::string_view bucket, std::string_view key,
                                                    const MultipartOptions& options) override;
  core::Result<PartInfo> upload_part(std::string_view bucket, std::string_view key,
                                     std::string_view upload_id, int part_number, ByteSource& body,
                                     const PartOptions& options) override;
  core::Result<ObjectInfo> complete_multipart_upload(std::string_view bucket, std::string_view key,
                                                     std::string_view upload_id,
                                                     const std::vector<CompletedPart>& parts,
                                                     const CompleteOptions& options) override;
  core::Status abort_multipart_upload(std::string_view bucket, std::string_view key,
                                      std::string_view upload_id) override;
  core::Result<std::vector<PartInfo>> list_parts(std::string_view bucket, std::string_view key,
                                                 std::string_view upload_id) override;
  core::Result<ListUploadsResult> list_multipart_uploads(
      std::string_view bucket, const ListUploadsOptions& options) override;

 private:
  struct Call;  // one S3 operation, before signing (s3_store.cpp)
  S3Store(S3Config config, S3Endpoint endpoint, sigv4::Credentials credentials,
          http::HttpClient& client, const core::Clock& clock, Sleep sleep);

  // Signs and sends `call`, retrying per policy; the response body lands in `body`.
  core::Result<http::Response> execute(const Call& call, Spool& body);
  // execute() for calls answered with a small XML document; returns its root.
  core::Result<core::XmlElement> execute_xml(const Call& call, std::string_view root);
  core::Result<http::Request> build(const Call& call, std::string_view payload_hash) const;
  std::chrono::milliseconds backoff(int retry);
  // A put() body over max_buffered_body, of which `first` was already read: a multipart upload,
  // aborted unless it completes.
  core::Result<ObjectInfo> put_multipart(std::string_view bucket, std::string_view key,
                                         ByteSource& rest, std::string first,
                                         const PutOptions& options);
  // Reads the rest of the body in multipart_part_size parts (after `pending`, bytes already
  // read) and sends each, feeding `digest`. kEntityTooLarge past kMaxObjectSize.
  core::Result<std::vector<CompletedPart>> send_parts(std::string_view bucket, std::string_view key,
                                                      std::string_view upload_id, ByteSource& rest,
                                                      std::string pending,
                                                      internal::BodyDigest& digest);
  // One part from memory (signed, retryable); returns its ETag without quotes.
  core::Result<std::string> send_part(std::string_view bucket, std::string_view key,
                                      std::string_view upload_id, int part_number,
                                      std::string_view bytes);
  // CompleteMultipartUpload; returns the object's ETag without quotes.
  core::Result<std::string> complete(std::string_view bucket, std::string_view key,
                                     std::string_view upload_id,
                                     const std::vector<CompletedPart>& parts,
                                     const CompleteOptions& options);
  // What put() reports: the options it was given, with the size and ETag of the write.
  ObjectInfo put_result(std::string_view key, std::uint64_t size, std::string etag,
                        const PutOptions& options) const;
  // The body of an UploadPart: buffered when small (signed, retryable), else streamed.
  core::Status attach_body(Call& call, ByteSource& body, std::optional<std::uint64_t> length,
                           std::string& buffer);

  S3Config config_;
  S3Endpoint endpoint_;
  sigv4::Credentials credentials_;
  http::HttpClient& client_;
  const core::Clock& clock_;
  Sleep sleep_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace imgflow::storage::s3
