#pragma once

// LocalStore's private parts, shared by the files that implement it, one per responsibility:
//   local_store.cpp         open, the schema, buckets
//   local_objects.cpp       put, open, head, delete, list, copy; staging and committing a body
//   local_multipart.cpp     multipart uploads
//   local_outbox.cpp        claim, ack, nack, count_pending
//   local_dead_letters.cpp  the dead-letter store
//   local_recovery.cpp      what open() cleans up after a crash
//   local_read_pool.cpp     the read-only connections reads go through (local_read_pool.h)
// Internal to storage: it includes sqlite.h, which no public header may.

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "storage/fs.h"
#include "storage/local_read_pool.h"
#include "storage/local_store.h"
#include "storage/sqlite.h"
#include "storage/store_util.h"

namespace imgflow::storage {
namespace local {

namespace stdfs = std::filesystem;
using TimePoint = core::Clock::TimePoint;

// Times are stored as milliseconds since the epoch, and reported at that precision.
std::int64_t to_ms(TimePoint t);
TimePoint from_ms(std::int64_t ms);

// User metadata as length-prefixed pairs: "<len>:<name><len>:<value>...".
std::string encode_metadata(const std::map<std::string, std::string>& metadata);
std::map<std::string, std::string> decode_metadata(std::string_view text);

core::Error no_such_bucket(std::string_view bucket);
core::Error no_such_key(std::string_view key);
core::Error no_such_upload(std::string_view upload_id);

// An objects row: what callers see of it, and the file that holds its body.
struct ObjectRow {
  ObjectInfo info;
  std::string file_id;
};

// The columns read_object_row reads, in its order.
inline constexpr std::string_view kObjectColumns =
    "key, size, etag, content_type, cache_control, user_metadata, checksum_algorithm, "
    "checksum_value, last_modified_ms, sequencer, file_id";
ObjectRow read_object_row(const sqlite::Statement& s);

// A multipart upload as stored: its options, and its parts with the files that hold them.
struct UploadRow {
  MultipartOptions options;
  std::map<int, PartInfo> parts;
  std::map<int, std::string> part_files;
};

}  // namespace local

struct LocalStore::Impl {
  using TimePoint = local::TimePoint;
  // Fills a staged file: writes the body to `fd` and verifies it.
  using Fill = std::function<core::Status(int fd, const local::stdfs::path& path)>;
  // Runs inside a commit transaction, after the precondition checks, with the new version's
  // metadata (key, sequencer and time stamped).
  using InTxn = std::function<core::Status(const ObjectInfo& committed)>;

  Impl(local::stdfs::path r, const core::Clock* c, fs::Fd lock, sqlite::Database d)
      : root(std::move(r)), clock(c), lock_fd(std::move(lock)), write_db(std::move(d)) {}

  local::stdfs::path root;
  const core::Clock* clock;
  fs::Fd lock_fd;  // flock()ed: this process alone has the data dir
  // Writes, and the reads a write decides on, go through write_db with write_mu held: one
  // writer at a time, as SQLite allows anyway. Everything else reads through `readers`, so it
  // never waits for write_mu, which is held across each commit and its fsync.
  sqlite::Database write_db;
  std::mutex write_mu;
  std::unique_ptr<local::ReadPool> readers;  // after write_db: closed first, the writer last
  RecoveryReport recovery;
  std::size_t remembered_completions = kRememberedCompletions;
  std::function<void()> before_commit;  // LocalStoreOptions::before_commit_for_testing

  // A read transaction on a connection of its own (see ReadPool).
  core::Result<local::ReadPool::Lease> read() { return readers->acquire(); }
  // Commits a write transaction (write_mu held).
  core::Status commit(sqlite::Transaction& txn);

  // Paths. Files are named by random ids, never by key (see local_store.h).
  local::stdfs::path bucket_dir(std::string_view bucket) const;
  local::stdfs::path tmp_dir(std::string_view bucket) const { return bucket_dir(bucket) / "tmp"; }
  local::stdfs::path object_path(std::string_view bucket, const std::string& id) const;
  // Best effort: a file left behind is removed by the next recovery.
  void remove_file(std::string_view bucket, const std::string& id) const;
  TimePoint now_ms() const { return local::from_ms(local::to_ms(clock->now())); }

  // Row lookups take the connection to read through: write_db (write_mu held) or a lease's.
  core::Status check_bucket(sqlite::Database& db, std::string_view bucket);
  core::Result<std::optional<local::ObjectRow>> find_object(sqlite::Database& db,
                                                            std::string_view bucket,
                                                            std::string_view key);
  // The upload, unless it is not of this bucket and key or its time ran out (kNoSuchUpload).
  core::Result<local::UploadRow> find_upload(sqlite::Database& db, std::string_view bucket,
                                             std::string_view key, std::string_view upload_id);

  // Writing an object (local_objects.cpp).
  struct Written {
    std::uint64_t size = 0;
    core::Md5Digest md5{};
  };
  static Fill body_fill(ByteSource& body, const internal::PreparedBody& prepared, Written& out);
  core::Result<std::string> stage(std::string_view bucket, const Fill& fill);
  core::Status precheck(std::string_view bucket, std::string_view key,
                        const internal::WriteConditions& conditions);
  core::Result<ObjectInfo> commit_object(std::string_view bucket, std::string_view key,
                                         const std::string& file_id, ObjectInfo info,
                                         const internal::WriteConditions& conditions,
                                         const std::optional<EventToRecord>& event,
                                         const InTxn& in_txn = nullptr);

  // Multipart bookkeeping on the write connection (local_multipart.cpp).
  core::Result<std::optional<ObjectInfo>> find_completed(std::string_view bucket,
                                                         std::string_view key,
                                                         std::string_view upload_id);
  core::Status remember_completed(std::string_view bucket, std::string_view upload_id,
                                  const ObjectInfo& info);
  core::Status expire_uploads();
  core::Result<bool> any_expired_uploads(std::int64_t now);  // on a read connection
  core::Status delete_upload_rows(std::string_view upload_id);

  // Schema and recovery, run by open() before anyone else can reach the store.
  core::Status add_missing_columns();
  core::Status recover();
  // Adds an outbox row for `event` about `info` in `bucket`. Inside
  // the caller's transaction, under write_mu.
  core::Status insert_event(std::string_view bucket, const ObjectInfo& info,
                            const EventToRecord& event);

 private:
  core::Status commit_locked(std::string_view bucket, std::string_view key,
                             const std::string& file_id, ObjectInfo& info,
                             const internal::WriteConditions& conditions,
                             const std::optional<EventToRecord>& event, const InTxn& in_txn,
                             std::optional<std::string>& old_file);
  core::Result<std::string> next_sequencer();
  core::Status upsert_object(std::string_view bucket, const ObjectInfo& info,
                             const std::string& file_id);
  core::Status release_leases();
};

}  // namespace imgflow::storage
