#include "gateway/scoped_store.h"

#include <string>
#include <utility>

namespace imgflow::gateway {

ScopedStore::ScopedStore(storage::ObjectStore& store, Principal principal, BucketRoles roles)
    : store_(store), principal_(principal), roles_(std::move(roles)) {}

core::Status ScopedStore::check(Operation op, std::string_view bucket) const {
  // Anonymous uploads are the HTTP door's business; a scoped store is for signed roles.
  const AnonymousUploads no_anonymous_door{.enabled = false};
  if (is_allowed(principal_, op, bucket, roles_, no_anonymous_door)) return {};
  return core::fail(core::Error{core::ErrorCode::kPermissionDenied,
                                "the " + std::string(to_string(principal_)) + " role may not " +
                                    std::string(to_string(op)) + " in bucket " +
                                    std::string(bucket),
                                "AccessDenied"});
}

core::Status ScopedStore::create_bucket(std::string_view bucket) {
  if (auto ok = check(Operation::kCreateBucket, bucket); !ok) return ok;
  return store_.create_bucket(bucket);
}

core::Status ScopedStore::delete_bucket(std::string_view bucket) {
  if (auto ok = check(Operation::kDeleteBucket, bucket); !ok) return ok;
  return store_.delete_bucket(bucket);
}

core::Result<storage::BucketInfo> ScopedStore::head_bucket(std::string_view bucket) {
  if (auto ok = check(Operation::kHeadBucket, bucket); !ok) return core::fail(ok.error());
  return store_.head_bucket(bucket);
}

core::Result<std::vector<storage::BucketInfo>> ScopedStore::list_buckets() {
  if (auto ok = check(Operation::kListBuckets, ""); !ok) return core::fail(ok.error());
  return store_.list_buckets();
}

core::Result<storage::ObjectInfo> ScopedStore::put(std::string_view bucket, std::string_view key,
                                                   storage::ByteSource& body,
                                                   const storage::PutOptions& options) {
  if (auto ok = check(Operation::kPutObject, bucket); !ok) return core::fail(ok.error());
  return store_.put(bucket, key, body, options);
}

core::Result<std::unique_ptr<storage::ObjectReader>> ScopedStore::open(
    std::string_view bucket, std::string_view key, const storage::GetOptions& options) {
  if (auto ok = check(Operation::kGetObject, bucket); !ok) return core::fail(ok.error());
  return store_.open(bucket, key, options);
}

core::Result<storage::ObjectInfo> ScopedStore::head(std::string_view bucket, std::string_view key) {
  if (auto ok = check(Operation::kHeadObject, bucket); !ok) return core::fail(ok.error());
  return store_.head(bucket, key);
}

core::Status ScopedStore::delete_object(std::string_view bucket, std::string_view key,
                                        const storage::DeleteOptions& options) {
  if (auto ok = check(Operation::kDeleteObject, bucket); !ok) return ok;
  return store_.delete_object(bucket, key, options);
}

core::Result<storage::ListResult> ScopedStore::list(std::string_view bucket,
                                                    const storage::ListOptions& options) {
  if (auto ok = check(Operation::kListObjectsV2, bucket); !ok) return core::fail(ok.error());
  return store_.list(bucket, options);
}

core::Result<storage::ObjectInfo> ScopedStore::copy(std::string_view src_bucket,
                                                    std::string_view src_key,
                                                    std::string_view dst_bucket,
                                                    std::string_view dst_key,
                                                    const storage::CopyOptions& options) {
  if (auto ok = check(Operation::kGetObject, src_bucket); !ok) return core::fail(ok.error());
  if (auto ok = check(Operation::kPutObject, dst_bucket); !ok) return core::fail(ok.error());
  return store_.copy(src_bucket, src_key, dst_bucket, dst_key, options);
}

core::Result<std::string> ScopedStore::create_multipart_upload(
    std::string_view bucket, std::string_view key, const storage::MultipartOptions& options) {
  if (auto ok = check(Operation::kCreateMultipartUpload, bucket); !ok) {
    return core::fail(ok.error());
  }
  return store_.create_multipart_upload(bucket, key, options);
}

core::Result<storage::PartInfo> ScopedStore::upload_part(std::string_view bucket,
                                                         std::string_view key,
                                                         std::string_view upload_id,
                                                         int part_number, storage::ByteSource& body,
                                                         const storage::PartOptions& options) {
  if (auto ok = check(Operation::kUploadPart, bucket); !ok) return core::fail(ok.error());
  return store_.upload_part(bucket, key, upload_id, part_number, body, options);
}

core::Result<storage::ObjectInfo> ScopedStore::complete_multipart_upload(
    std::string_view bucket, std::string_view key, std::string_view upload_id,
    const std::vector<storage::CompletedPart>& parts, const storage::CompleteOptions& options) {
  if (auto ok = check(Operation::kCompleteMultipartUpload, bucket); !ok) {
    return core::fail(ok.error());
  }
  return store_.complete_multipart_upload(bucket, key, upload_id, parts, options);
}

core::Status ScopedStore::abort_multipart_upload(std::string_view bucket, std::string_view key,
                                                 std::string_view upload_id) {
  if (auto ok = check(Operation::kAbortMultipartUpload, bucket); !ok) return ok;
  return store_.abort_multipart_upload(bucket, key, upload_id);
}

core::Result<std::vector<storage::PartInfo>> ScopedStore::list_parts(std::string_view bucket,
                                                                     std::string_view key,
                                                                     std::string_view upload_id) {
  if (auto ok = check(Operation::kListParts, bucket); !ok) return core::fail(ok.error());
  return store_.list_parts(bucket, key, upload_id);
}

core::Result<storage::ListUploadsResult> ScopedStore::list_multipart_uploads(
    std::string_view bucket, const storage::ListUploadsOptions& options) {
  if (auto ok = check(Operation::kListMultipartUploads, bucket); !ok) {
    return core::fail(ok.error());
  }
  return store_.list_multipart_uploads(bucket, options);
}

}  // namespace imgflow::gateway
