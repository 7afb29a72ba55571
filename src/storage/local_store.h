#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "core/clock.h"
#include "storage/dead_letters.h"
#include "storage/object_store.h"
#include "storage/outbox.h"

namespace imgflow::storage {

struct LocalStoreOptions {
  std::filesystem::path data_dir;  // created if missing; see the layout below
  const core::Clock* clock = &core::SystemClock::instance();  // must outlive the store
  std::chrono::milliseconds busy_timeout{5000};  // SQLite lock wait before kUnavailable
  // Completed multipart uploads remembered for retried completions (ObjectStore contract).
  std::size_t remembered_completions = kRememberedCompletions;
  // Tests only: runs on the writing thread inside every write transaction, just before its
  // COMMIT (e.g. to hold a commit open and show that reads go on meanwhile). Must not call the
  // store's write methods.
  std::function<void()> before_commit_for_testing = nullptr;
};

// What startup recovery cleaned up after a crash.
struct RecoveryReport {
  std::size_t temp_files_removed = 0;    // writes that never reached rename
  std::size_t orphan_files_removed = 0;  // renamed, but the commit never happened
  std::size_t leases_released = 0;       // outbox events a dead process had claimed
};

// The embedded-mode ObjectStore, Outbox and DeadLetters: buckets as directories on local disk,
// metadata, the event outbox and the dead letters in one SQLite database.
//
// Layout under data_dir:
//   imgflow.db (+ -wal, -shm)          objects, buckets, uploads, parts, outbox, dead_letters
//   LOCK                               flock()ed by the one process that has the store open
//   buckets/<bucket>/tmp/<id>.tmp      bodies being written
//   buckets/<bucket>/objects/ab/<id>   committed bodies (and multipart parts); ab = id[0:2]
// Files are named by random 128-bit ids, never by key, so no key (any UTF-8, "..", "/", ...) can
// reach a path outside its bucket directory.
//
// A write is: body → temp file → fsync → rename into objects/ → fsync of the directory → one
// SQLite transaction (WAL, synchronous=FULL) that points the key at the new file and appends the
// outbox event → unlink of the superseded file. It returns OK only after all of that, so an
// acknowledged write and its event survive a crash, and a crash leaves no partial object
// visible. A reader keeps reading the version it opened (POSIX unlink semantics) even if it is
// replaced or deleted.
//
// Writes are serialised; reads (head, open, list, list_parts, head_bucket, list_buckets,
// count_pending and the dead-letter reads) run on read-only connections of their own and never
// wait for a write's commit. A read sees every write that returned before it began (read your
// writes); each read sees one consistent snapshot.
//
// Safe to call from any thread. One process at a time: open() fails with kUnavailable while
// another process holds the data dir.
class LocalStore final : public ObjectStore, public Outbox, public DeadLetters {
 public:
  // Opens or creates the store and runs recovery: removes temp files and object files that no
  // row references, and makes outbox events claimed by an earlier process claimable at once.
  // Errors: kUnavailable (data dir in use), kInternal (I/O or database).
  static core::Result<std::unique_ptr<LocalStore>> open(const LocalStoreOptions& options);
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  const RecoveryReport& recovery_report() const;

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
  struct Impl;
  explicit LocalStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgflow::storage
