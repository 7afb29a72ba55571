#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/result.h"
#include "storage/outbox.h"

namespace imgflow::storage {

// ---- Limits (the S3 ones) ------------------------------------------------------------------

inline constexpr std::size_t kMaxKeyBytes = 1024;            // longer keys: KeyTooLongError
inline constexpr int kMaxListKeys = 1000;                    // max-keys above this is clamped
inline constexpr int kMaxPartNumber = 10000;                 // part numbers are 1..10000
inline constexpr std::uint64_t kMinPartSize = 5ULL << 20;    // every part but the last
inline constexpr std::uint64_t kMaxObjectSize = 5ULL << 30;  // one PUT, one part, one copy
// Completed multipart uploads a store remembers, so that a retried completion succeeds again
// (see complete_multipart_upload): enough for retries, small enough to never matter.
inline constexpr std::size_t kRememberedCompletions = 1000;

// ---- Errors ----------------------------------------------------------------------------------

// The S3 error an operation failed with, for the gateway to map to an HTTP status and error
// XML; core::ErrorCode stays the coarse kind every other module branches on. Storage errors
// carry its name in Error::reason; read it back with detail_of().
enum class ErrorDetail {
  kNone,                     // not a storage error, or no S3 specific code
  kNoSuchBucket,             // kNotFound
  kNoSuchKey,                // kNotFound
  kNoSuchUpload,             // kNotFound
  kBucketAlreadyOwnedByYou,  // kAlreadyExists
  kBucketNotEmpty,           // kFailedPrecondition: delete_bucket of a bucket in use
  kInvalidBucketName,        // kInvalidArgument
  kKeyTooLongError,          // kInvalidArgument
  kInvalidArgument,          // kInvalidArgument: a malformed parameter (key, max-keys, token...)
  kInvalidRequest,           // kInvalidArgument: e.g. a malformed x-amz-checksum-* value
  kInvalidDigest,            // kInvalidArgument: Content-MD5 is not base64 of 16 bytes
  kBadDigest,                // kInvalidArgument: Content-MD5 or x-amz-checksum-* mismatch
  kIncompleteBody,           // kInvalidArgument: fewer/more bytes than the declared length
  kEntityTooLarge,           // kTooLarge
  kEntityTooSmall,           // kInvalidArgument: a non-last part under 5 MiB
  kInvalidPart,              // kInvalidArgument: unknown part or ETag mismatch
  kInvalidPartOrder,         // kInvalidArgument: parts not in ascending order
  kInvalidRange,             // kInvalidArgument: HTTP 416
  kPreconditionFailed,       // kFailedPrecondition: If-None-Match: * and the key exists
  kSlowDown,                 // kUnavailable: MultipartOptions::max_uploads_per_initiator
};

// The S3 error code name, e.g. "BadDigest".
std::string_view to_string(ErrorDetail detail);
// The core code a detail maps to (see the enum comments).
core::ErrorCode code_of(ErrorDetail detail);
// An Error with code_of(detail), reason to_string(detail) and `message`.
core::Error make_error(ErrorDetail detail, std::string_view message);

// S3's bucket naming rules: 3..63 of [a-z0-9.-], starting and ending with a letter or digit,
// no "..", not an IPv4 address. Error: kInvalidBucketName, quoting the name.
core::Status validate_bucket_name(std::string_view bucket);
// Recovers the detail of an error made by make_error(); kNone for any other error.
ErrorDetail detail_of(const core::Error& error);

// ---- Streams ---------------------------------------------------------------------------------

// A pull source of body bytes. read() fills up to `n` bytes and returns how many; 0 means
// end of stream. An error aborts the operation that is reading.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual core::Result<std::size_t> read(char* buf, std::size_t n) = 0;
};

// A ByteSource over bytes the caller keeps alive. Each read hands out at most `max_read` bytes:
// tests and fuzz targets use a small one so that whatever a reader looks for (a delimiter, a
// chunk header) straddles reads in every way.
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view data,
                        std::size_t max_read = std::numeric_limits<std::size_t>::max())
      : data_(data), max_read_(max_read) {}
  core::Result<std::size_t> read(char* buf, std::size_t n) override;

 private:
  std::string_view data_;
  std::size_t max_read_;
  std::size_t pos_ = 0;
};

// A push target for body bytes. An error stops the transfer and is returned to the caller.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual core::Status write(std::string_view chunk) = 0;
};

// Appends everything to a string the caller owns.
class StringSink final : public ByteSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  core::Status write(std::string_view chunk) override {
    out_.append(chunk);
    return {};
  }

 private:
  std::string& out_;
};

// ---- Values ----------------------------------------------------------------------------------

enum class ChecksumAlgorithm { kCrc32, kCrc32c, kSha256 };
// "CRC32", "CRC32C", "SHA256" (as in x-amz-checksum-algorithm).
std::string_view to_string(ChecksumAlgorithm algorithm);

// An x-amz-checksum-<algorithm> value: base64 of the big-endian CRC or of the SHA-256 digest.
struct Checksum {
  ChecksumAlgorithm algorithm = ChecksumAlgorithm::kCrc32;
  std::string base64;
  bool operator==(const Checksum&) const = default;
};

struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  // Hex MD5 of the bytes, or "<hex md5 of part md5s>-<N>" for a multipart object. Stored and
  // returned WITHOUT the quotes S3 puts around it on the wire; the gateway adds them.
  std::string etag;
  std::string content_type;
  std::map<std::string, std::string> user_metadata;  // x-amz-meta-* names, prefix removed
  std::string cache_control;                         // empty: not set
  std::optional<Checksum> checksum;                  // when the PUT sent one
  core::Clock::TimePoint last_modified;
  // 16 upper-case hex digits from a store-wide counter: a later write of any key has a greater
  // sequencer, so events of one key can be ordered (the S3 event "sequencer" field).
  std::string sequencer;
};

struct BucketInfo {
  std::string name;
  core::Clock::TimePoint created;
};

struct PutOptions {
  std::string content_type = "application/octet-stream";  // S3 stores whatever the client sent
  std::map<std::string, std::string> user_metadata;
  std::string cache_control;
  // The Content-MD5 header as sent (base64 of 16 bytes). Malformed: kInvalidDigest before the
  // body is read; mismatch: kBadDigest and nothing is stored.
  std::optional<std::string> content_md5;
  // An x-amz-checksum-* header. Malformed value: kInvalidRequest; mismatch: kBadDigest.
  std::optional<Checksum> checksum;
  // The Content-Length, when known: a body of another length fails with kIncompleteBody.
  std::optional<std::uint64_t> content_length;
  // If-None-Match: * — create only; kPreconditionFailed if the key exists when the write
  // commits (the check is atomic with the commit).
  bool if_none_match_star = false;
  // If-Match — replace only this version: an ETag without quotes, or "*" for any version.
  // kNoSuchKey if the key is absent, kPreconditionFailed if its ETag differs when the write
  // commits (atomic with the commit, as above).
  std::optional<std::string> if_match;
  // Recorded in the outbox in the same transaction as the object (see outbox.h).
  std::optional<EventToRecord> event;
};

// A byte range as the Range header says it; resolved against the object size by the store.
struct ByteRange {
  std::optional<std::uint64_t> first;  // absent: a suffix range of the last `last` bytes
  std::optional<std::uint64_t> last;   // inclusive; absent with `first`: to the end

  static ByteRange from(std::uint64_t first, std::optional<std::uint64_t> last = std::nullopt) {
    return {first, last};
  }
  static ByteRange suffix(std::uint64_t length) { return {std::nullopt, length}; }
};

// Parses a Range header value of one range: "bytes=0-99", "bytes=100-", "bytes=-500".
// nullopt for anything else (several ranges, other units, first > last): as S3 does, the
// caller then ignores the header and serves the whole object.
std::optional<ByteRange> parse_range_header(std::string_view value);

struct GetOptions {
  std::optional<ByteRange> range;  // unsatisfiable: kInvalidRange
};

// An open object version: its metadata and a stream of the requested bytes. The bytes are those
// of the version that was current at open(), even if the key is overwritten or deleted while
// reading. Not thread-safe; use from one thread at a time.
class ObjectReader : public ByteSource {
 public:
  const ObjectInfo& info() const { return info_; }
  std::uint64_t first() const { return first_; }    // offset of the first byte served
  std::uint64_t length() const { return length_; }  // bytes that read() will yield in total
  bool partial() const { return partial_; }         // a Range was applied (HTTP 206)

 protected:
  ObjectReader(ObjectInfo info, std::uint64_t first, std::uint64_t length, bool partial)
      : info_(std::move(info)), first_(first), length_(length), partial_(partial) {}

 private:
  ObjectInfo info_;
  std::uint64_t first_;
  std::uint64_t length_;
  bool partial_;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;           // empty: no grouping into common prefixes
  std::string start_after;         // ignored when continuation_token is set
  std::string continuation_token;  // from a previous ListResult; opaque
  int max_keys = kMaxListKeys;     // 0..1000, larger values are clamped; negative: kInvalidArgument
};

struct ListResult {
  std::vector<ObjectInfo> objects;           // in UTF-8 binary key order
  std::vector<std::string> common_prefixes;  // in order; each counts as one key
  bool is_truncated = false;
  std::string next_continuation_token;  // set when is_truncated
  int key_count = 0;                    // objects + common prefixes
};

struct CopyOptions {
  // false: the copy keeps the source's content type, metadata and cache-control (COPY);
  // true: it takes the values below (REPLACE).
  bool replace_metadata = false;
  std::string content_type = "application/octet-stream";
  std::map<std::string, std::string> user_metadata;
  std::string cache_control;
  bool if_none_match_star = false;
  std::optional<EventToRecord> event;
};

struct MultipartOptions {
  std::string content_type = "application/octet-stream";
  std::map<std::string, std::string> user_metadata;
  std::string cache_control;
  // Who started the upload (an access key id, "anonymous 192.0.2.7", ...): what
  // max_uploads_per_initiator counts by. Listed back in UploadInfo::initiator.
  std::string initiator;
  // kSlowDown when `initiator` already has this many uploads in progress in the bucket, checked
  // atomically with the create; 0: no limit.
  int max_uploads_per_initiator = 0;
  // The upload ends at this time as if aborted: calls with its id fail with kNoSuchUpload, and
  // the store deletes it with its parts (when uploads are next created or listed, when its
  // bucket is deleted, and at open). nullopt: it waits for completion or abort.
  std::optional<core::Clock::TimePoint> expires;
};

struct PartOptions {
  std::optional<std::string> content_md5;  // as PutOptions
  std::optional<Checksum> checksum;        // validated, not stored
  std::optional<std::uint64_t> content_length;
  // All the upload's parts together (this one replacing any earlier part of its number) may
  // hold at most this many bytes: kEntityTooLarge otherwise, from content_length before the body
  // is read and again when the part is stored. nullopt: only kMaxObjectSize per part.
  std::optional<std::uint64_t> max_upload_bytes;
};

struct PartInfo {
  int part_number = 0;
  std::uint64_t size = 0;
  std::string etag;  // hex MD5, no quotes
  core::Clock::TimePoint last_modified;
};

struct CompletedPart {
  int part_number = 0;
  std::string etag;  // as the client sent it; surrounding quotes are ignored
};

struct UploadInfo {
  std::string key;
  std::string upload_id;
  core::Clock::TimePoint initiated;
  std::string initiator;  // MultipartOptions::initiator
};

// ListMultipartUploads, as S3 pages it: uploads sort by key, then by upload id.
struct ListUploadsOptions {
  std::string prefix;
  // Non-empty: the uploads of keys that hold it after the prefix are rolled up into one common
  // prefix each (the key up to and including the delimiter), which counts as one entry of the
  // page; a key_marker that is such a prefix continues after all of its uploads.
  std::string delimiter;
  // Only uploads of keys after key_marker; with upload_id_marker, also the uploads of key_marker
  // itself whose id sorts after it. upload_id_marker without key_marker is ignored.
  std::string key_marker;
  std::string upload_id_marker;
  int max_uploads = kMaxListKeys;  // 0..1000, larger values are clamped; negative: kInvalidArgument
};

struct ListUploadsResult {
  std::vector<UploadInfo> uploads;
  std::vector<std::string> common_prefixes;  // in order
  bool is_truncated = false;
  // Set when is_truncated: the markers that continue after the last entry listed (for a common
  // prefix: the prefix, and no upload id marker).
  std::string next_key_marker;
  std::string next_upload_id_marker;
};

struct CompleteOptions {
  bool if_none_match_star = false;      // as PutOptions
  std::optional<std::string> if_match;  // as PutOptions
  std::optional<EventToRecord> event;
};

struct DeleteOptions {
  // Recorded in the outbox in the same transaction as the delete, when there was an object to
  // delete (an absent key deletes nothing and records nothing). The stores without an outbox
  // ignore it, as for PutOptions::event.
  std::optional<EventToRecord> event;
};

// ---- The interface ---------------------------------------------------------------------------

// An S3-shaped object store. Implementations: MemoryStore (tests), LocalStore (embedded mode,
// crash-safe), FaultyStore (fault injection around another store), S3Store (later).
//
// Common errors: kNoSuchBucket for a missing bucket; kInvalidBucketName; kKeyTooLongError for a
// key over 1,024 bytes, kInvalidArgument for an empty key or one that is not valid UTF-8;
// kInternal / kUnavailable for disk or database failures. Every method is safe to call from
// any thread; a write is atomic: readers see the old or the new version, never a mix.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // kBucketAlreadyOwnedByYou if it exists; kInvalidBucketName also for the names S3 reserves
  // (internal::validate_new_bucket_name).
  virtual core::Status create_bucket(std::string_view bucket) = 0;
  // Removes an empty bucket. kBucketNotEmpty while it holds an object or a multipart upload in
  // progress; kNoSuchBucket.
  virtual core::Status delete_bucket(std::string_view bucket) = 0;
  virtual core::Result<BucketInfo> head_bucket(std::string_view bucket) = 0;
  // Sorted by name.
  virtual core::Result<std::vector<BucketInfo>> list_buckets() = 0;

  // Stores the whole body of `body` as the new version of `key` and returns its metadata.
  // Nothing is visible (and no event is recorded) unless the call returns OK. Errors: see
  // PutOptions, plus kEntityTooLarge over kMaxObjectSize and any error `body` returns.
  virtual core::Result<ObjectInfo> put(std::string_view bucket, std::string_view key,
                                       ByteSource& body, const PutOptions& options) = 0;
  core::Result<ObjectInfo> put(std::string_view bucket, std::string_view key, std::string_view body,
                               const PutOptions& options = {});

  // Opens the current version for reading. kNoSuchKey if absent; kInvalidRange.
  virtual core::Result<std::unique_ptr<ObjectReader>> open(std::string_view bucket,
                                                           std::string_view key,
                                                           const GetOptions& options = {}) = 0;
  // open() and copy everything to `sink`; returns the reader's metadata (length via range).
  core::Result<ObjectInfo> get(std::string_view bucket, std::string_view key, ByteSink& sink,
                               const GetOptions& options = {});
  // The whole (or ranged) body as a string; for small objects and tests.
  core::Result<std::string> get_string(std::string_view bucket, std::string_view key,
                                       const GetOptions& options = {});

  // kNoSuchKey if absent.
  virtual core::Result<ObjectInfo> head(std::string_view bucket, std::string_view key) = 0;

  // Idempotent: deleting an absent key is OK (the bucket must exist).
  virtual core::Status delete_object(std::string_view bucket, std::string_view key,
                                     const DeleteOptions& options) = 0;
  core::Status delete_object(std::string_view bucket, std::string_view key);

  // ListObjectsV2. kInvalidArgument for a negative max_keys or a bad continuation token.
  virtual core::Result<ListResult> list(std::string_view bucket, const ListOptions& options) = 0;

  // Server-side copy; the new version gets a fresh ETag (MD5 of the bytes), sequencer and
  // last-modified. Copying a key onto itself without replace_metadata: kInvalidRequest.
  virtual core::Result<ObjectInfo> copy(std::string_view src_bucket, std::string_view src_key,
                                        std::string_view dst_bucket, std::string_view dst_key,
                                        const CopyOptions& options) = 0;

  // Multipart upload. An upload id is unique to the store; every call that takes one fails with
  // kNoSuchUpload unless it was created for that bucket and key and is neither completed nor
  // aborted.
  virtual core::Result<std::string> create_multipart_upload(std::string_view bucket,
                                                            std::string_view key,
                                                            const MultipartOptions& options) = 0;
  // Stores (or replaces) one part, number 1..10000 (else kInvalidArgument).
  virtual core::Result<PartInfo> upload_part(std::string_view bucket, std::string_view key,
                                             std::string_view upload_id, int part_number,
                                             ByteSource& body, const PartOptions& options) = 0;
  // Joins the listed parts into the object. `parts` must be strictly ascending
  // (kInvalidPartOrder), each known with a matching ETag (kInvalidPart), every part but the last
  // at least kMinPartSize (kEntityTooSmall). The ETag is hex(md5(md5(part1) ... md5(partN)))-N.
  // Parts not listed are discarded.
  //
  // Clients retry a completion whose response was lost. Completing an upload that was already
  // completed (same bucket, key and id) returns the object as that completion made it (key,
  // size, ETag, last-modified, sequencer) without writing, checking conditions or recording an
  // event, as long as it is among the last kRememberedCompletions completions; else
  // kNoSuchUpload.
  virtual core::Result<ObjectInfo> complete_multipart_upload(
      std::string_view bucket, std::string_view key, std::string_view upload_id,
      const std::vector<CompletedPart>& parts, const CompleteOptions& options) = 0;
  virtual core::Status abort_multipart_upload(std::string_view bucket, std::string_view key,
                                              std::string_view upload_id) = 0;
  // All uploaded parts in part-number order.
  virtual core::Result<std::vector<PartInfo>> list_parts(std::string_view bucket,
                                                         std::string_view key,
                                                         std::string_view upload_id) = 0;
  // The uploads of `bucket` that are neither completed nor aborted. kInvalidArgument for a
  // negative max_uploads.
  virtual core::Result<ListUploadsResult> list_multipart_uploads(
      std::string_view bucket, const ListUploadsOptions& options) = 0;
};

}  // namespace imgflow::storage
