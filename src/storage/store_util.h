#pragma once

// Building blocks shared by the ObjectStore implementations: argument validation, body
// digests, range resolution, ListObjectsV2 paging and multipart ETags. Internal to storage.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "storage/object_store.h"

namespace imgflow::storage::internal {

// validate_bucket_name() (object_store.h) plus the names S3 reserves and refuses at creation: the
// prefixes "xn--", "sthree-" and "amzn-s3-demo-", the suffixes "-s3alias", "--ol-s3", ".mrap",
// "--x-s3" and "--table-s3". Only creation checks them, so a bucket made before keeps working.
core::Status validate_new_bucket_name(std::string_view bucket);
// Non-empty valid UTF-8 of at most kMaxKeyBytes. Errors: kKeyTooLongError, kInvalidArgument.
core::Status validate_key(std::string_view key);

// The conditions of a write (PutOptions, CompleteOptions) against the version `current` the key
// has (nullptr: absent). kPreconditionFailed for If-None-Match: * and a key that exists or an
// If-Match ETag that differs; kNoSuchKey for If-Match and a key that is absent.
struct WriteConditions {
  bool if_none_match_star = false;
  std::optional<std::string> if_match;
};
core::Status check_write_conditions(const WriteConditions& conditions, const ObjectInfo* current,
                                    std::string_view key);

// Parses Content-MD5; kInvalidDigest unless it is base64 of exactly 16 bytes.
core::Result<std::optional<core::Md5Digest>> parse_content_md5(
    const std::optional<std::string>& content_md5);
// kInvalidRequest unless the checksum value is base64 of the algorithm's digest size.
core::Status validate_checksum(const std::optional<Checksum>& checksum);

// Hashes a body as it streams by: always MD5 (the ETag), plus the requested checksum.
class BodyDigest {
 public:
  explicit BodyDigest(std::optional<ChecksumAlgorithm> algorithm);
  void update(std::string_view chunk);
  // Checks size, Content-MD5 and checksum against what was seen; consumes the hashers.
  // Errors: kIncompleteBody, kBadDigest.
  core::Status verify(const std::optional<core::Md5Digest>& expected_md5,
                      const std::optional<Checksum>& expected_checksum,
                      std::optional<std::uint64_t> content_length);
  std::uint64_t size() const { return size_; }
  // Valid after verify(): the binary MD5.
  const core::Md5Digest& md5() const { return md5_; }

 private:
  std::optional<ChecksumAlgorithm> algorithm_;
  core::Md5Hasher md5_hasher_;
  core::Sha256Hasher sha256_hasher_;
  std::uint32_t crc_ = 0;
  std::uint64_t size_ = 0;
  core::Md5Digest md5_{};
};

// Checks all of a put's headers before any byte is read, so a bad request fails fast.
struct PreparedBody {
  std::optional<core::Md5Digest> md5;
  std::optional<Checksum> checksum;
  std::optional<std::uint64_t> content_length;
};
core::Result<PreparedBody> prepare_body(const std::optional<std::string>& content_md5,
                                        const std::optional<Checksum>& checksum,
                                        std::optional<std::uint64_t> content_length);

// Reads `source` to its end in chunks of kChunkSize, feeding `digest` and `write`;
// kEntityTooLarge past `max_size`. Does not verify the digest. A body longer than one chunk
// is hashed on a second thread while the next chunk is read and written.
inline constexpr std::size_t kChunkSize = 1 << 20;
core::Status pump(ByteSource& source, BodyDigest& digest, std::uint64_t max_size,
                  const std::function<core::Status(std::string_view)>& write);

// Resolves a Range against an object of `size` bytes: {first, length}. kInvalidRange when
// unsatisfiable.
struct ResolvedRange {
  std::uint64_t first = 0;
  std::uint64_t length = 0;
  bool partial = false;
};
core::Result<ResolvedRange> resolve_range(const std::optional<ByteRange>& range,
                                          std::uint64_t size);

// ListObjectsV2 over any sorted key space. `fetch(after, lower, limit)` returns up to `limit`
// objects with key > after and key >= lower, in byte order.
using FetchObjects = std::function<core::Result<std::vector<ObjectInfo>>(
    const std::string& after, const std::string& lower, std::size_t limit)>;
core::Result<ListResult> list_objects(const ListOptions& options, const FetchObjects& fetch);

// Validates a CompleteMultipartUpload part list against the uploaded parts and returns the
// multipart ETag. Errors: kInvalidRequest (empty list), kInvalidPartOrder, kInvalidPart,
// kEntityTooSmall.
core::Result<std::string> check_completed_parts(const std::vector<CompletedPart>& parts,
                                                const std::map<int, PartInfo>& uploaded);
// hex(md5(concatenated binary md5s))-N from the parts' hex ETags.
std::string multipart_etag(const std::vector<std::string>& part_etags);

// One page of ListMultipartUploads from all of a bucket's uploads, sorted by (key, upload id).
// kInvalidArgument for a negative max_uploads.
core::Result<ListUploadsResult> page_uploads(const std::vector<UploadInfo>& sorted,
                                             const ListUploadsOptions& options);

// kEntityTooLarge when an upload's parts would hold more than `max_upload_bytes`: those in
// `uploaded` but `part_number`, plus `part_size` for that one.
core::Status check_upload_budget(const std::map<int, PartInfo>& uploaded, int part_number,
                                 std::uint64_t part_size, std::uint64_t max_upload_bytes);

// The kSlowDown error of an initiator with `open` uploads in progress (the limit).
core::Error too_many_uploads(int open);

// kInvalidArgument unless 1..kMaxPartNumber.
core::Status validate_part_number(int part_number);

// 16 upper-case hex digits, so sequencers compare as strings in numeric order.
std::string format_sequencer(std::uint64_t value);

// 32 lower-case hex characters from the kernel's random source.
std::string random_id();

}  // namespace imgflow::storage::internal
