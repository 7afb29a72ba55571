#include "storage/faulty_store.h"

#include <algorithm>
#include <utility>

namespace imgflow::storage {
namespace {

// Ends the body after `limit` bytes.
class TruncatedSource final : public ByteSource {
 public:
  TruncatedSource(ByteSource& inner, std::uint64_t limit) : inner_(inner), left_(limit) {}
  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    if (left_ == 0) return std::size_t{0};
    auto got = inner_.read(buf, static_cast<std::size_t>(std::min<std::uint64_t>(n, left_)));
    if (got) left_ -= *got;
    return got;
  }

 private:
  ByteSource& inner_;
  std::uint64_t left_;
};

// Serves `limit` bytes, then fails.
class TruncatedReader final : public ObjectReader {
 public:
  TruncatedReader(std::unique_ptr<ObjectReader> inner, std::uint64_t limit, core::ErrorCode code)
      : ObjectReader(inner->info(), inner->first(), inner->length(), inner->partial()),
        inner_(std::move(inner)),
        left_(limit),
        code_(code) {}
  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    if (left_ == 0) {
      return core::fail(code_, "injected fault: the body was cut short");
    }
    auto got = inner_->read(buf, static_cast<std::size_t>(std::min<std::uint64_t>(n, left_)));
    if (got) left_ -= *got;
    return got;
  }

 private:
  std::unique_ptr<ObjectReader> inner_;
  std::uint64_t left_;
  core::ErrorCode code_;
};

}  // namespace

FaultyStore::FaultyStore(ObjectStore& inner, FaultPlan plan)
    : inner_(inner), plan_(plan), rng_(plan.seed) {}

void FaultyStore::set_plan(FaultPlan plan) {
  std::lock_guard lock(mu_);
  plan_ = plan;
  rng_.seed(plan.seed);
  calls_ = 0;
}

FaultPlan FaultyStore::plan_snapshot() {
  std::lock_guard lock(mu_);
  return plan_;
}

std::optional<core::Error> FaultyStore::fault(std::string_view operation) {
  std::lock_guard lock(mu_);
  const std::uint64_t n = ++calls_;
  bool fail = plan_.fail_nth_call > 0 && n == static_cast<std::uint64_t>(plan_.fail_nth_call);
  if (!fail && plan_.fail_fraction > 0.0) {
    fail = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < plan_.fail_fraction;
  }
  if (!fail) return std::nullopt;
  ++injected_;
  return core::Error{plan_.code, "injected fault in " + std::string(operation) + " (call " +
                                     std::to_string(n) + ")"};
}

core::Status FaultyStore::create_bucket(std::string_view bucket) {
  if (auto e = fault("create_bucket")) return core::fail(*e);
  return inner_.create_bucket(bucket);
}

core::Status FaultyStore::delete_bucket(std::string_view bucket) {
  if (auto e = fault("delete_bucket")) return core::fail(*e);
  return inner_.delete_bucket(bucket);
}

core::Result<BucketInfo> FaultyStore::head_bucket(std::string_view bucket) {
  if (auto e = fault("head_bucket")) return core::fail(*e);
  return inner_.head_bucket(bucket);
}

core::Result<std::vector<BucketInfo>> FaultyStore::list_buckets() {
  if (auto e = fault("list_buckets")) return core::fail(*e);
  return inner_.list_buckets();
}

core::Result<ObjectInfo> FaultyStore::put(std::string_view bucket, std::string_view key,
                                          ByteSource& body, const PutOptions& options) {
  if (auto e = fault("put")) return core::fail(*e);
  if (auto limit = plan_snapshot().truncate_puts_at) {
    TruncatedSource truncated(body, *limit);
    return inner_.put(bucket, key, truncated, options);
  }
  return inner_.put(bucket, key, body, options);
}

core::Result<std::unique_ptr<ObjectReader>> FaultyStore::open(std::string_view bucket,
                                                              std::string_view key,
                                                              const GetOptions& options) {
  if (auto e = fault("open")) return core::fail(*e);
  auto reader = inner_.open(bucket, key, options);
  const FaultPlan plan = plan_snapshot();
  if (!reader || !plan.truncate_reads_at) return reader;
  return std::unique_ptr<ObjectReader>(
      std::make_unique<TruncatedReader>(std::move(*reader), *plan.truncate_reads_at, plan.code));
}

core::Result<ObjectInfo> FaultyStore::head(std::string_view bucket, std::string_view key) {
  if (auto e = fault("head")) return core::fail(*e);
  return inner_.head(bucket, key);
}

core::Status FaultyStore::delete_object(std::string_view bucket, std::string_view key,
                                        const DeleteOptions& options) {
  if (auto e = fault("delete_object")) return core::fail(*e);
  return inner_.delete_object(bucket, key, options);
}

core::Result<ListResult> FaultyStore::list(std::string_view bucket, const ListOptions& options) {
  if (auto e = fault("list")) return core::fail(*e);
  return inner_.list(bucket, options);
}

core::Result<ObjectInfo> FaultyStore::copy(std::string_view src_bucket, std::string_view src_key,
                                           std::string_view dst_bucket, std::string_view dst_key,
                                           const CopyOptions& options) {
  if (auto e = fault("copy")) return core::fail(*e);
  return inner_.copy(src_bucket, src_key, dst_bucket, dst_key, options);
}

core::Result<std::string> FaultyStore::create_multipart_upload(std::string_view bucket,
                                                               std::string_view key,
                                                               const MultipartOptions& options) {
  if (auto e = fault("create_multipart_upload")) return core::fail(*e);
  return inner_.create_multipart_upload(bucket, key, options);
}

core::Result<PartInfo> FaultyStore::upload_part(std::string_view bucket, std::string_view key,
                                                std::string_view upload_id, int part_number,
                                                ByteSource& body, const PartOptions& options) {
  if (auto e = fault("upload_part")) return core::fail(*e);
  if (auto limit = plan_snapshot().truncate_puts_at) {
    TruncatedSource truncated(body, *limit);
    return inner_.upload_part(bucket, key, upload_id, part_number, truncated, options);
  }
  return inner_.upload_part(bucket, key, upload_id, part_number, body, options);
}

core::Result<ObjectInfo> FaultyStore::complete_multipart_upload(
    std::string_view bucket, std::string_view key, std::string_view upload_id,
    const std::vector<CompletedPart>& parts, const CompleteOptions& options) {
  if (auto e = fault("complete_multipart_upload")) return core::fail(*e);
  return inner_.complete_multipart_upload(bucket, key, upload_id, parts, options);
}

core::Status FaultyStore::abort_multipart_upload(std::string_view bucket, std::string_view key,
                                                 std::string_view upload_id) {
  if (auto e = fault("abort_multipart_upload")) return core::fail(*e);
  return inner_.abort_multipart_upload(bucket, key, upload_id);
}

core::Result<std::vector<PartInfo>> FaultyStore::list_parts(std::string_view bucket,
                                                            std::string_view key,
                                                            std::string_view upload_id) {
  if (auto e = fault("list_parts")) return core::fail(*e);
  return inner_.list_parts(bucket, key, upload_id);
}

core::Result<ListUploadsResult> FaultyStore::list_multipart_uploads(
    std::string_view bucket, const ListUploadsOptions& options) {
  if (auto e = fault("list_multipart_uploads")) return core::fail(*e);
  return inner_.list_multipart_uploads(bucket, options);
}

}  // namespace imgflow::storage
