#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>

#include "core/error.h"
#include "storage/object_store.h"

namespace imgflow::storage {

// Which faults FaultyStore injects. The default plan injects none.
struct FaultPlan {
  int fail_nth_call = 0;       // the Nth call (1-based, counted since set_plan) fails; 0: never
  double fail_fraction = 0.0;  // each call fails with this probability (seeded, reproducible)
  std::uint64_t seed = 1;
  core::ErrorCode code = core::ErrorCode::kUnavailable;  // what injected failures return
  // Readers opened through the store fail with `code` after this many bytes: a body cut short,
  // as by a dropped connection.
  std::optional<std::uint64_t> truncate_reads_at = std::nullopt;
  // put / upload_part see only this many bytes of the body: a client that stopped sending.
  std::optional<std::uint64_t> truncate_puts_at = std::nullopt;
};

// An ObjectStore that forwards to another and injects failures (CONVENTIONS #6). A failed call
// has no effect on the inner store. Safe to call from any thread if the inner store is.
class FaultyStore final : public ObjectStore {
 public:
  // `inner` must outlive this wrapper.
  explicit FaultyStore(ObjectStore& inner, FaultPlan plan = {});

  // Replaces the plan and restarts the call count.
  void set_plan(FaultPlan plan);
  std::uint64_t calls() const { return calls_.load(); }
  std::uint64_t injected_failures() const { return injected_.load(); }

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
  // Counts the call; returns the injected error if this one should fail.
  std::optional<core::Error> fault(std::string_view operation);
  FaultPlan plan_snapshot();

  ObjectStore& inner_;
  std::mutex mu_;
  FaultPlan plan_;
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> injected_{0};
};

}  // namespace imgflow::storage
