// LocalStore: open, the schema, the helpers its files share, and buckets. The other
// responsibilities live beside it (see local_store_impl.h for the list).

#include "storage/local_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "storage/local_store_impl.h"

namespace imgflow::storage {
namespace {

using sqlite::Transaction;
namespace stdfs = std::filesystem;

// Read-only connections beside the writer's: enough that the gateway's requests, the workers
// and the dispatcher rarely queue for one; each keeps its own page cache, so not one per thread.
constexpr std::size_t kReadConnections = 4;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(name, value) VALUES('sequencer', 0);
CREATE TABLE IF NOT EXISTS buckets(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects(
  bucket TEXT NOT NULL, key BLOB NOT NULL, file_id TEXT NOT NULL, size INTEGER NOT NULL,
  etag TEXT NOT NULL, content_type TEXT NOT NULL, cache_control TEXT NOT NULL,
  user_metadata BLOB NOT NULL, checksum_algorithm TEXT, checksum_value TEXT,
  last_modified_ms INTEGER NOT NULL, sequencer TEXT NOT NULL,
  PRIMARY KEY(bucket, key)) WITHOUT ROWID;
-- initiator and expires_ms (NULL: never) came after the first release: kAddedColumns.
CREATE TABLE IF NOT EXISTS uploads(
  upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL,
  content_type TEXT NOT NULL, cache_control TEXT NOT NULL, user_metadata BLOB NOT NULL,
  created_ms INTEGER NOT NULL, initiator TEXT NOT NULL DEFAULT '', expires_ms INTEGER);
-- The last kRememberedCompletions completed uploads, so a retried completion succeeds again.
-- Added after the first release (IF NOT EXISTS: existing data dirs get it at open). The rowid
-- orders them for trimming.
CREATE TABLE IF NOT EXISTS completed_uploads(
  upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL,
  etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, sequencer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts(
  upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, file_id TEXT NOT NULL,
  size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL,
  PRIMARY KEY(upload_id, part_number)) WITHOUT ROWID;
-- status: 'pending' (never claimed, or nacked) or 'leased' (claimed; visible again at
-- visible_at_ms unless acked, which deletes the row).
CREATE TABLE IF NOT EXISTS outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT, event_name TEXT NOT NULL, bucket TEXT NOT NULL,
  key BLOB NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL, sequencer TEXT NOT NULL,
  payload BLOB NOT NULL, created_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'pending');
CREATE INDEX IF NOT EXISTS outbox_visible ON outbox(visible_at_ms);
-- For in_order events (kAddedColumns): is an earlier event about the same object still here?
CREATE INDEX IF NOT EXISTS outbox_object ON outbox(bucket, key, id);
-- Events a host gave up on (DeadLetters). Added after the first release: IF NOT EXISTS lets an
-- existing data dir pick it up at open. id is the outbox id (AUTOINCREMENT never reuses one).
CREATE TABLE IF NOT EXISTS dead_letters(
  id INTEGER PRIMARY KEY, event_name TEXT NOT NULL, bucket TEXT NOT NULL, key BLOB NOT NULL,
  etag TEXT NOT NULL, size INTEGER NOT NULL, sequencer TEXT NOT NULL, payload BLOB NOT NULL,
  created_ms INTEGER NOT NULL, event_attempts INTEGER NOT NULL, error TEXT NOT NULL,
  failure TEXT NOT NULL, attempts INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,
  last_failed_ms INTEGER NOT NULL);
)sql";

// Columns added to a table after the first release, as (table, column, definition): a data dir
// created before them gets them at open (ALTER TABLE ADD COLUMN; the defaults describe the
// rows already there).
struct AddedColumn {
  std::string_view table;
  std::string_view column;
  std::string_view definition;
};
constexpr AddedColumn kAddedColumns[] = {
    {"uploads", "initiator", "TEXT NOT NULL DEFAULT ''"},
    {"uploads", "expires_ms", "INTEGER"},
    {"outbox", "in_order", "INTEGER NOT NULL DEFAULT 0"},
    {"dead_letters", "in_order", "INTEGER NOT NULL DEFAULT 0"},
};

std::optional<ChecksumAlgorithm> parse_algorithm(std::string_view name) {
  for (auto a :
       {ChecksumAlgorithm::kCrc32, ChecksumAlgorithm::kCrc32c, ChecksumAlgorithm::kSha256}) {
    if (to_string(a) == name) return a;
  }
  return std::nullopt;
}

}  // namespace

namespace local {

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint from_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

// User metadata as length-prefixed pairs: "<len>:<name><len>:<value>...".
std::string encode_metadata(const std::map<std::string, std::string>& metadata) {
  std::string out;
  for (const auto& [name, value] : metadata) {
    for (const auto* s : {&name, &value}) {
      out += std::to_string(s->size());
      out += ':';
      out += *s;
    }
  }
  return out;
}

std::map<std::string, std::string> decode_metadata(std::string_view text) {
  std::map<std::string, std::string> out;
  auto next = [&text](std::string& s) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    const std::size_t len = std::stoul(std::string(text.substr(0, colon)));
    s = std::string(text.substr(colon + 1, len));
    text.remove_prefix(std::min(text.size(), colon + 1 + len));
    return true;
  };
  std::string name;
  std::string value;
  while (next(name) && next(value)) out.emplace(std::move(name), std::move(value));
  return out;
}

ObjectRow read_object_row(const sqlite::Statement& s) {
  ObjectRow row;
  row.info.key = s.column_text(0);
  row.info.size = static_cast<std::uint64_t>(s.column_int(1));
  row.info.etag = s.column_text(2);
  row.info.content_type = s.column_text(3);
  row.info.cache_control = s.column_text(4);
  row.info.user_metadata = decode_metadata(s.column_text(5));
  if (!s.column_is_null(6)) {
    if (auto a = parse_algorithm(s.column_text(6)))
      row.info.checksum = Checksum{*a, s.column_text(7)};
  }
  row.info.last_modified = from_ms(s.column_int(8));
  row.info.sequencer = s.column_text(9);
  row.file_id = s.column_text(10);
  return row;
}

core::Error no_such_bucket(std::string_view bucket) {
  return make_error(ErrorDetail::kNoSuchBucket,
                    "The specified bucket does not exist: " + std::string(bucket));
}

core::Error no_such_key(std::string_view key) {
  return make_error(ErrorDetail::kNoSuchKey,
                    "The specified key does not exist: " + std::string(key.substr(0, 200)));
}

core::Error no_such_upload(std::string_view upload_id) {
  return make_error(ErrorDetail::kNoSuchUpload, "The specified multipart upload does not exist: " +
                                                    std::string(upload_id.substr(0, 100)));
}

}  // namespace local

using local::from_ms;
using local::to_ms;

stdfs::path LocalStore::Impl::bucket_dir(std::string_view bucket) const {
  return root / "buckets" / std::string(bucket);
}

stdfs::path LocalStore::Impl::object_path(std::string_view bucket, const std::string& id) const {
  // One level of 256 fan-out directories: they all exist after a few hundred writes, so a
  // write rarely pays for creating (and fsyncing) a directory. ext4 indexes large directories.
  return bucket_dir(bucket) / "objects" / id.substr(0, 2) / id;
}

core::Status LocalStore::Impl::commit(sqlite::Transaction& txn) {
  if (before_commit) before_commit();
  return txn.commit();
}

void LocalStore::Impl::remove_file(std::string_view bucket, const std::string& id) const {
  ::unlink(object_path(bucket, id).c_str());
}

core::Status LocalStore::Impl::check_bucket(sqlite::Database& db, std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return st;
  auto s = db.prepare("SELECT 1 FROM buckets WHERE name = ?1");
  if (!s) return core::fail(s.error());
  auto row = s->bind_text(1, bucket).step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(local::no_such_bucket(bucket));
  return {};
}

// Adds kAddedColumns a data dir from an earlier release lacks.
core::Status LocalStore::Impl::add_missing_columns() {
  for (const auto& added : kAddedColumns) {
    auto s = write_db.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, added.table).bind_text(2, added.column).step();
    if (!row) return core::fail(row.error());
    if (*row) continue;
    const std::string sql = "ALTER TABLE " + std::string(added.table) + " ADD COLUMN " +
                            std::string(added.column) + " " + std::string(added.definition);
    if (auto st = write_db.exec(sql); !st) return st;
  }
  return {};
}

LocalStore::LocalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalStore::~LocalStore() = default;

const RecoveryReport& LocalStore::recovery_report() const { return impl_->recovery; }

core::Result<std::unique_ptr<LocalStore>> LocalStore::open(const LocalStoreOptions& options) {
  const stdfs::path& root = options.data_dir;
  if (auto st = fs::make_dirs_durable(root / "buckets"); !st) return core::fail(st.error());
  auto lock = fs::open_file(root / "LOCK", O_RDWR | O_CREAT, 0600);
  if (!lock) return core::fail(lock.error());
  if (::flock(lock->get(), LOCK_EX | LOCK_NB) != 0) {
    return core::fail(core::ErrorCode::kUnavailable,
                      "data dir " + root.string() + " is in use by another process");
  }
  // SQLite creates its database 0644 and gives the -wal and -shm files the database's mode:
  // made (or made private) here first, all three stay 0600.
  auto db_file = fs::open_file(root / "imgflow.db", O_RDWR | O_CREAT, 0600);
  if (!db_file) return core::fail(db_file.error());
  if (::fchmod(db_file->get(), 0600) != 0) {
    return core::fail(core::ErrorCode::kInternal,
                      (root / "imgflow.db").string() + ": chmod: " + std::strerror(errno));
  }
  auto db = sqlite::Database::open(root / "imgflow.db", options.busy_timeout);
  if (!db) return core::fail(db.error());
  if (auto st = db->exec(kSchema); !st) return core::fail(st.error());
  auto impl = std::make_unique<Impl>(root, options.clock, std::move(*lock), std::move(*db));
  impl->remembered_completions = options.remembered_completions;
  impl->before_commit = options.before_commit_for_testing;
  if (auto st = impl->add_missing_columns(); !st) return core::fail(st.error());
  if (auto st = impl->recover(); !st) return core::fail(st.error());
  // Opened last: a read-only connection needs the schema, and the WAL files, to exist.
  auto readers = local::ReadPool::open(root / "imgflow.db", options.busy_timeout, kReadConnections);
  if (!readers) return core::fail(readers.error());
  impl->readers = std::move(*readers);
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(impl)));
}

core::Status LocalStore::create_bucket(std::string_view bucket) {
  if (auto st = internal::validate_new_bucket_name(bucket); !st) return st;
  std::lock_guard lock(impl_->write_mu);
  if (auto st = impl_->check_bucket(impl_->write_db, bucket); st) {
    return core::fail(make_error(ErrorDetail::kBucketAlreadyOwnedByYou,
                                 "The bucket already exists: " + std::string(bucket)));
  }
  for (const char* sub : {"tmp", "objects"}) {
    if (auto st = fs::make_dirs_durable(impl_->bucket_dir(bucket) / sub); !st) return st;
  }
  auto s = impl_->write_db.prepare("INSERT INTO buckets(name, created_ms) VALUES(?1, ?2)");
  if (!s) return core::fail(s.error());
  return s->bind_text(1, bucket).bind_int(2, to_ms(impl_->clock->now())).run();
}

core::Status LocalStore::delete_bucket(std::string_view bucket) {
  std::lock_guard lock(impl_->write_mu);
  if (auto st = impl_->check_bucket(impl_->write_db, bucket); !st) return st;
  if (auto st = impl_->expire_uploads(); !st) return st;
  auto txn = Transaction::begin(impl_->write_db);
  if (!txn) return core::fail(txn.error());
  for (const auto& [sql, what] :
       {std::pair{"SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1", "is not empty"},
        std::pair{"SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1",
                  "has multipart uploads in progress"}}) {
    auto s = impl_->write_db.prepare(sql);
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, bucket).step();
    if (!row) return core::fail(row.error());
    if (*row) {
      return core::fail(make_error(
          ErrorDetail::kBucketNotEmpty,
          "The bucket you tried to delete " + std::string(what) + ": " + std::string(bucket)));
    }
  }
  for (const char* sql :
       {"DELETE FROM buckets WHERE name = ?1", "DELETE FROM completed_uploads WHERE bucket = ?1"}) {
    auto s = impl_->write_db.prepare(sql);
    if (!s) return core::fail(s.error());
    if (auto st = s->bind_text(1, bucket).run(); !st) return st;
  }
  if (auto st = impl_->commit(*txn); !st) return st;
  // What is left is empty directories, and in tmp/ the files of writes still in flight, which
  // fail now that the bucket is gone. Best effort: a directory left behind is reused if the
  // bucket is created again.
  std::error_code ec;
  stdfs::remove_all(impl_->bucket_dir(bucket), ec);
  return {};
}

core::Result<BucketInfo> LocalStore::head_bucket(std::string_view bucket) {
  if (auto st = validate_bucket_name(bucket); !st) return core::fail(st.error());
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare("SELECT created_ms FROM buckets WHERE name = ?1");
  if (!s) return core::fail(s.error());
  auto row = s->bind_text(1, bucket).step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(local::no_such_bucket(bucket));
  return BucketInfo{std::string(bucket), from_ms(s->column_int(0))};
}

core::Result<std::vector<BucketInfo>> LocalStore::list_buckets() {
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare("SELECT name, created_ms FROM buckets ORDER BY name");
  if (!s) return core::fail(s.error());
  std::vector<BucketInfo> out;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) return out;
    out.push_back(BucketInfo{s->column_text(0), from_ms(s->column_int(1))});
  }
}

}  // namespace imgflow::storage
