#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "gateway/s3_error.h"
#include "gateway/s3_request.h"

namespace imgflow::gateway {

// The three principals of embedded mode, mirroring IAM (ARCHITECTURE.md "Least privilege").
enum class Principal { kAnonymous, kFunction, kAdmin };

std::string_view to_string(Principal principal);
// "admin" / "function" as stored in sigv4::SecretKey::principal; anything else is anonymous.
Principal principal_from(std::string_view name);

struct BucketRoles {
  std::string source = "uploads";         // anonymous uploads land here; events come from here
  std::string destination = "processed";  // private; written only by the function role
  // The function's output key prefix ("" = none): anonymous keys leave room for it.
  std::string destination_prefix;
  // The recipe scans uploads (scan:): the function deletes an infected one from the source.
  bool scanning = false;
  // Where the function moves infected uploads (scan: on_infected: quarantine), readable by the
  // admin alone; "" = none.
  std::string quarantine;
};

// The anonymous door into the source bucket (docs/security.md, "Anonymous uploads").
struct AnonymousUploads {
  bool enabled = true;  // false: uploads need a presigned URL or a signed POST policy
  // Per object, over all the parts of a multipart upload: the recipe's max_input_bytes.
  std::uint64_t max_bytes = 50ULL << 20;
  // An existing key is somebody's image: a stranger may not replace it (and its variants).
  bool may_overwrite = false;
  // Multipart uploads in progress at once per client address: each may hold max_bytes.
  int max_multipart_uploads_per_client = 16;
  // An anonymous multipart upload not completed by then is deleted, parts and all.
  std::chrono::seconds multipart_lifetime{3600};
};

// Objects anyone may read without credentials (serve --public-read, off by default), so that a
// reverse proxy or CDN can front the outputs: GetObject and HeadObject of keys under `prefix`
// in `bucket`, which serve allows to be the destination only (uploads are unscanned and
// unprocessed; the quarantine is evidence). Never a listing, never a write.
struct PublicRead {
  std::string bucket;  // "" = off
  std::string prefix;  // "" = every key of the bucket
};

// "BUCKET" or "BUCKET/PREFIX" as --public-read takes it; kInvalidArgument for a bucket name S3
// would refuse.
core::Result<PublicRead> parse_public_read(std::string_view text);

// Whether an anonymous `op` on `bucket`/`key` is a public read.
bool is_public_read(Operation op, std::string_view bucket, std::string_view key,
                    const PublicRead& public_read);

// Whether `principal` may run `op` on `bucket`. Deny by default: only the listed grants allow.
//   admin:     everything.
//   function:  GetObject/HeadObject on source; PutObject and multipart writes on destination,
//              plus GetObject/HeadObject there (the handler reads its own manifest.json to stay
//              idempotent) and DeleteObject there (an ObjectRemoved event removes the variants
//              the manifest lists). When the recipe scans: DeleteObject on source (an infected
//              upload is removed) and PutObject alone on the quarantine bucket.
//   anonymous: PutObject, PostObject and the multipart upload calls (create, upload part,
//              complete, abort) into source only, unless anonymous uploads are off. Size,
//              key, content type and metadata are checked by the handler once the request is
//              parsed (check_anonymous_object).
// Operational endpoints (health, ready, metrics) are open to all; the other /_imgflow/ paths
// (kAdmin) are the admin's alone. Pure; thread-safe.
bool is_allowed(Principal principal, Operation op, std::string_view bucket,
                const BucketRoles& roles, const AnonymousUploads& anonymous);

// The AccessDenied message for a request is_allowed() refused: what to do instead when a rule
// explains it (anonymous uploads turned off), else S3's plain "Access Denied".
std::string denial_message(Principal principal, Operation op, std::string_view bucket,
                           const BucketRoles& roles, const AnonymousUploads& anonymous);

// Whether `principal`'s writes may replace an existing object. An anonymous upload may not unless
// AnonymousUploads::may_overwrite: the object, and the variants made from it, are somebody
// else's. (The gateway makes such writes conditional, as If-None-Match: * does.)
bool may_replace_objects(Principal principal, const AnonymousUploads& anonymous);

// The source and destination buckets cannot be deleted: every upload (or every output) would
// fail until a restart created them again.
bool may_delete_bucket(std::string_view bucket, const BucketRoles& roles);

// ---- What an object may carry -----------------------------------------------------------------

// x-amz-meta-imgflow-* marks an object as the pipeline's own output, and the loop guard skips
// every such object (function::kStampPrefix; gateway cannot depend on function).
inline constexpr std::string_view kReservedMetadataPrefix = "imgflow-";

// Whether `principal` may write x-amz-meta-imgflow-*. The function role stamps its outputs with
// it; the admin may too (restoring stamped outputs from a backup, or marking an object for the
// pipeline to skip) and can overwrite anything anyway. From anyone else it could only make the
// pipeline skip an upload without a trace.
bool may_write_reserved_metadata(Principal principal);

// AccessDenied when `metadata` (x-amz-meta-* names, prefix removed, lower case) holds a
// reserved name `principal` may not write.
std::optional<S3Error> check_metadata(Principal principal,
                                      const std::map<std::string, std::string>& metadata);

// The longest key an anonymous upload may have.
//
// The pipeline names every output after its source: "<destination prefix>/<source key>/<file>",
// where <file> is "manifest.json" or "<variant>.<ext>", and an S3 key holds at most 1,024
// bytes. A longer source key is stored, then dead-lettered when its first output cannot be
// written. kOutputFileReserve keeps room for the '/' and the longest file name any recipe can
// produce, so the gateway needs no knowledge of the recipe: a variant name is at most 64 bytes
// (the recipe refuses longer), the extension at most 4 ("jpeg", "webp", "avif"), so
// "/<variant>.<ext>" is at most 70 bytes and "/manifest.json" 14.
inline constexpr std::size_t kOutputFileReserve = 1 + 64 + 1 + 4;
std::size_t max_anonymous_key_bytes(std::string_view destination_prefix);

// Why `key` cannot name an anonymous upload, or nullopt: KeyTooLongError beyond
// max_anonymous_key_bytes(), InvalidArgument for a NUL, CR, LF or other control character
// (C0, DEL, and C1 as UTF-8), which no honest upload has and which split headers and forge log
// lines downstream.
std::optional<S3Error> check_anonymous_key(std::string_view key, const BucketRoles& roles);

// Whether an anonymous upload may declare `type`: core::image_media_types() (JPEG,
// PNG, WebP, GIF, TIFF, HEIF/HEIC, AVIF; it sniffs the bytes anyway, this keeps everything else
// out of the source bucket), and application/octet-stream, which clients send (or the gateway
// assumes, with no Content-Type) when they cannot tell: a lie is no easier with it than with
// image/jpeg, and the pipeline refuses bytes that are not an image it reads.
bool is_anonymous_upload_type(const MediaType& type);

// Why `content_type` cannot be declared by an anonymous upload, or nullopt: InvalidArgument when
// it is not one media type, AccessDenied when is_anonymous_upload_type() refuses it.
std::optional<S3Error> check_anonymous_content_type(std::string_view content_type);

}  // namespace imgflow::gateway
