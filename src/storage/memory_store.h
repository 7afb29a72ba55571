#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "storage/dead_letters.h"
#include "storage/object_store.h"
#include "storage/outbox.h"

namespace imgflow::storage {

// An ObjectStore, Outbox and DeadLetters held in memory, with the same semantics and errors as
// LocalStore. For unit tests of the modules that use storage. Safe to call from any thread (one
// mutex; bodies are read and hashed outside it). A reader keeps its version alive after an
// overwrite.
class MemoryStore final : public ObjectStore, public Outbox, public DeadLetters {
 public:
  // `clock` stamps last-modified and event times; it must outlive the store.
  explicit MemoryStore(const core::Clock& clock = core::SystemClock::instance());

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

  core::Result<std::vector<OutboxEvent>> claim(
      std::size_t max_events, std::chrono::milliseconds visibility_timeout) override;
  core::Status ack(std::int64_t id) override;
  core::Status ack(std::int64_t id, const EventToRecord& notice) override;
  core::Status nack(std::int64_t id, std::chrono::milliseconds retry_after) override;
  core::Result<std::uint64_t> count_pending() override;

  core::Status add_dead_letter(const DeadLetter& letter,
                               const std::optional<EventToRecord>& notice) override;
  core::Result<std::vector<DeadLetter>> list_dead_letters() override;
  core::Result<DeadLetter> get_dead_letter(std::int64_t id) override;
  core::Status remove_dead_letter(std::int64_t id) override;
  core::Result<std::uint64_t> count_dead_letters() override;
  core::Result<std::int64_t> redrive(std::int64_t id) override;

 private:
  using Body = std::shared_ptr<const std::string>;
  struct Object {
    ObjectInfo info;
    Body body;
  };
  struct Bucket {
    BucketInfo info;
    std::map<std::string, Object, std::less<>> objects;
  };
  struct Part {
    PartInfo info;
    Body body;
  };
  struct Upload {
    std::string bucket;
    std::string key;
    MultipartOptions options;
    std::map<int, Part> parts;
    core::Clock::TimePoint initiated;
  };
  // A completed multipart upload, remembered for retries (kRememberedCompletions).
  struct Completed {
    std::string bucket;
    std::string key;
    ObjectInfo info;
  };
  struct QueuedEvent {
    OutboxEvent event;
    core::Clock::TimePoint visible_at;
  };

  core::Result<Bucket*> bucket_locked(std::string_view bucket);
  core::Result<Upload*> upload_locked(std::string_view bucket, std::string_view key,
                                      std::string_view upload_id);
  // Forgets the uploads whose time ran out (MultipartOptions::expires).
  void expire_uploads_locked();
  // Remembers a completion for retries; forgets all but the last kRememberedCompletions.
  void remember_completed_locked(std::string_view upload_id, std::string_view bucket,
                                 const ObjectInfo& info);
  // Installs a new version of `key`: stamps sequencer and time, records the event.
  ObjectInfo commit_locked(Bucket& bucket, std::string_view key, Body body, ObjectInfo info,
                           const std::optional<EventToRecord>& event);
  // Queues `event` about `bucket`/`info`. Under mu_.
  void record_event_locked(std::string_view bucket, const ObjectInfo& info,
                           const EventToRecord& event);
  ObjectInfo about(const OutboxEvent& event) const;
  // Under mu_: an earlier event about the same object is still queued.
  bool has_earlier_locked(const OutboxEvent& event) const;

  const core::Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;
  std::map<std::string, Upload, std::less<>> uploads_;
  std::map<std::string, Completed, std::less<>> completed_;  // by upload id
  std::deque<std::string> completed_order_;                  // oldest first, for trimming
  std::map<std::int64_t, QueuedEvent> outbox_;
  std::map<std::int64_t, DeadLetter> dead_letters_;
  std::int64_t next_event_id_ = 1;
  std::uint64_t sequencer_ = 0;
};

}  // namespace imgflow::storage
