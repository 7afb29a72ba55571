#pragma once

#include "gateway/policy.h"
#include "storage/object_store.h"

namespace imgflow::gateway {

// An ObjectStore through which one principal can do exactly what the gateway's policy
// (is_allowed) lets it do over HTTP, and nothing else: a refused call fails with
// kPermissionDenied (reason "AccessDenied") before the store sees it. `imgflow serve` gives its
// in-process handler the function role's view, so a handler bug cannot write into the source
// bucket or read a bucket the role has no grant on, exactly as an external worker holding the
// function's keys cannot. A copy needs a read of its source and a write of its target. The
// store must outlive this; thread-safe if it is.
class ScopedStore final : public storage::ObjectStore {
 public:
  ScopedStore(storage::ObjectStore& store, Principal principal, BucketRoles roles);

  core::Status create_bucket(std::string_view bucket) override;
  core::Status delete_bucket(std::string_view bucket) override;
  core::Result<storage::BucketInfo> head_bucket(std::string_view bucket) override;
  core::Result<std::vector<storage::BucketInfo>> list_buckets() override;

  using ObjectStore::put;
  core::Result<storage::ObjectInfo> put(std::string_view bucket, std::string_view key,
                                        storage::ByteSource& body,
                                        const storage::PutOptions& options) override;
  core::Result<std::unique_ptr<storage::ObjectReader>> open(
      std::string_view bucket, std::string_view key, const storage::GetOptions& options) override;
  core::Result<storage::ObjectInfo> head(std::string_view bucket, std::string_view key) override;
  using storage::ObjectStore::delete_object;
  core::Status delete_object(std::string_view bucket, std::string_view key,
                             const storage::DeleteOptions& options) override;
  core::Result<storage::ListResult> list(std::string_view bucket,
                                         const storage::ListOptions& options) override;
  core::Result<storage::ObjectInfo> copy(std::string_view src_bucket, std::string_view src_key,
                                         std::string_view dst_bucket, std::string_view dst_key,
                                         const storage::CopyOptions& options) override;

  core::Result<std::string> create_multipart_upload(
      std::string_view bucket, std::string_view key,
      const storage::MultipartOptions& options) override;
  core::Result<storage::PartInfo> upload_part(std::string_view bucket, std::string_view key,
                                              std::string_view upload_id, int part_number,
                                              storage::ByteSource& body,
                                              const storage::PartOptions& options) override;
  core::Result<storage::ObjectInfo> complete_multipart_upload(
      std::string_view bucket, std::string_view key, std::string_view upload_id,
      const std::vector<storage::CompletedPart>& parts,
      const storage::CompleteOptions& options) override;
  core::Status abort_multipart_upload(std::string_view bucket, std::string_view key,
                                      std::string_view upload_id) override;
  core::Result<std::vector<storage::PartInfo>> list_parts(std::string_view bucket,
                                                          std::string_view key,
                                                          std::string_view upload_id) override;
  core::Result<storage::ListUploadsResult> list_multipart_uploads(
      std::string_view bucket, const storage::ListUploadsOptions& options) override;

 private:
  // Ok when the policy allows `op` on `bucket`; else the AccessDenied error.
  core::Status check(Operation op, std::string_view bucket) const;

  storage::ObjectStore& store_;
  const Principal principal_;
  const BucketRoles roles_;
};

}  // namespace imgflow::gateway
