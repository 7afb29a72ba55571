#include "storage/local_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "storage/fs.h"
#include "storage/sqlite.h"
#include "storage/store_util.h"

namespace imgflow::storage {
namespace {

// Bytes written to a staged object before its writeback is started (see body_fill): the disk
// writes each MiB while the next arrives, so the final fsync waits for little. 5 MB uploads
// measured 10-20% faster than with 4 MiB windows, at 1 and at 8 clients.
constexpr std::uint64_t kWritebackWindow = 1ULL << 20;

}  // namespace

namespace {

namespace stdfs = std::filesystem;
using sqlite::Statement;
using sqlite::Transaction;
using TimePoint = core::Clock::TimePoint;

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
};

constexpr std::string_view kDeadLetterColumns =
    "id, event_name, bucket, key, etag, size, sequencer, payload, created_ms, event_attempts, "
    "error, failure, attempts, first_seen_ms, last_failed_ms";

constexpr std::string_view kObjectColumns =
    "key, size, etag, content_type, cache_control, user_metadata, checksum_algorithm, "
    "checksum_value, last_modified_ms, sequencer, file_id";

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

std::optional<ChecksumAlgorithm> parse_algorithm(std::string_view name) {
  for (auto a :
       {ChecksumAlgorithm::kCrc32, ChecksumAlgorithm::kCrc32c, ChecksumAlgorithm::kSha256}) {
    if (to_string(a) == name) return a;
  }
  return std::nullopt;
}

struct ObjectRow {
  ObjectInfo info;
  std::string file_id;
};

// Reads a row selected with kObjectColumns starting at column 0.
ObjectRow read_object_row(const Statement& s) {
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

core::Error no_such_key(std::string_view key) {
  return make_error(ErrorDetail::kNoSuchKey,
                    "The specified key does not exist: " + std::string(key.substr(0, 200)));
}

core::Error no_such_upload(std::string_view upload_id) {
  return make_error(ErrorDetail::kNoSuchUpload, "The specified multipart upload does not exist: " +
                                                    std::string(upload_id.substr(0, 100)));
}

class LocalReader final : public ObjectReader {
 public:
  LocalReader(ObjectInfo info, fs::Fd fd, const internal::ResolvedRange& range)
      : ObjectReader(std::move(info), range.first, range.length, range.partial),
        fd_(std::move(fd)),
        pos_(range.first),
        end_(range.first + range.length) {}

  core::Result<std::size_t> read(char* buf, std::size_t n) override {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(n, end_ - pos_));
    if (want == 0) return std::size_t{0};
    auto got = fs::pread_some(fd_.get(), buf, want, pos_);
    if (!got) return got;
    if (*got == 0) {
      return core::fail(core::ErrorCode::kCorrupt, "object file is shorter than its metadata says");
    }
    pos_ += *got;
    return got;
  }

 private:
  fs::Fd fd_;
  std::uint64_t pos_;
  std::uint64_t end_;
};

// Copies `length` bytes of `in` (from offset 0) to the end of `out`, in the kernel when it can.
core::Status copy_fd(int in, int out, std::uint64_t length, const stdfs::path& path) {
  loff_t in_off = 0;
  while (length > 0) {
    const ssize_t n = ::copy_file_range(in, &in_off, out, nullptr, length, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
      break;  // fall back to read/write below
    }
    if (n < 0) return core::fail(fs::errno_error(errno, "copy into", path));
    if (n == 0) return core::fail(core::ErrorCode::kCorrupt, "part file is shorter than recorded");
    length -= static_cast<std::uint64_t>(n);
  }
  std::string buf(internal::kChunkSize, '\0');
  while (length > 0) {
    auto got = fs::pread_some(in, buf.data(), std::min<std::uint64_t>(buf.size(), length),
                              static_cast<std::uint64_t>(in_off));
    if (!got) return core::fail(got.error());
    if (*got == 0)
      return core::fail(core::ErrorCode::kCorrupt, "part file is shorter than recorded");
    if (auto st = fs::write_all(out, std::string_view(buf.data(), *got), path); !st) return st;
    in_off += static_cast<loff_t>(*got);
    length -= *got;
  }
  return {};
}

}  // namespace

struct LocalStore::Impl {
  // Fills a staged file: writes the body to `fd` and verifies it.
  using Fill = std::function<core::Status(int fd, const stdfs::path& path)>;
  // Runs inside a commit transaction, after the precondition checks, with the new version's
  // metadata (key, sequencer and time stamped).
  using InTxn = std::function<core::Status(const ObjectInfo& committed)>;

  stdfs::path root;
  const core::Clock* clock;
  fs::Fd lock_fd;
  sqlite::Database db;
  std::mutex mu;
  RecoveryReport recovery;

  std::size_t remembered_completions = kRememberedCompletions;

  Impl(stdfs::path r, const core::Clock* c, fs::Fd lock, sqlite::Database d)
      : root(std::move(r)), clock(c), lock_fd(std::move(lock)), db(std::move(d)) {}

  stdfs::path bucket_dir(std::string_view bucket) const {
    return root / "buckets" / std::string(bucket);
  }
  stdfs::path tmp_dir(std::string_view bucket) const { return bucket_dir(bucket) / "tmp"; }
  stdfs::path object_path(std::string_view bucket, const std::string& id) const {
    // One level of 256 fan-out directories: they all exist after a few hundred writes, so a
    // write rarely pays for creating (and fsyncing) a directory. ext4 indexes large directories.
    return bucket_dir(bucket) / "objects" / id.substr(0, 2) / id;
  }
  TimePoint now_ms() const { return from_ms(to_ms(clock->now())); }

  // Best effort: a file left behind is removed by the next recovery.
  void remove_file(std::string_view bucket, const std::string& id) const {
    ::unlink(object_path(bucket, id).c_str());
  }

  core::Status check_bucket_locked(std::string_view bucket) {
    if (auto st = internal::validate_bucket_name(bucket); !st) return st;
    auto s = db.prepare("SELECT 1 FROM buckets WHERE name = ?1");
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, bucket).step();
    if (!row) return core::fail(row.error());
    if (!*row) {
      return core::fail(make_error(ErrorDetail::kNoSuchBucket,
                                   "The specified bucket does not exist: " + std::string(bucket)));
    }
    return {};
  }

  core::Status check_bucket(std::string_view bucket) {
    std::lock_guard lock(mu);
    return check_bucket_locked(bucket);
  }

  core::Result<std::optional<ObjectRow>> find_object_locked(std::string_view bucket,
                                                            std::string_view key) {
    auto s = db.prepare("SELECT " + std::string(kObjectColumns) +
                        " FROM objects WHERE bucket = ?1 AND key = ?2");
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, bucket).bind_blob(2, key).step();
    if (!row) return core::fail(row.error());
    if (!*row) return std::optional<ObjectRow>();
    return std::optional<ObjectRow>(read_object_row(*s));
  }

  core::Result<std::string> next_sequencer_locked() {
    auto s =
        db.prepare("UPDATE meta SET value = value + 1 WHERE name = 'sequencer' RETURNING value");
    if (!s) return core::fail(s.error());
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) return core::fail(core::ErrorCode::kInternal, "database: sequencer row missing");
    const auto value = static_cast<std::uint64_t>(s->column_int(0));
    if (auto st = s->run(); !st) return core::fail(st.error());
    return internal::format_sequencer(value);
  }

  core::Status insert_event_locked(std::string_view bucket, const ObjectInfo& info,
                                   const EventToRecord& event) {
    auto s = db.prepare(
        "INSERT INTO outbox(event_name, bucket, key, etag, size, sequencer, payload, created_ms, "
        "visible_at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)");
    if (!s) return core::fail(s.error());
    return s->bind_text(1, event.event_name)
        .bind_text(2, bucket)
        .bind_blob(3, info.key)
        .bind_text(4, info.etag)
        .bind_int(5, static_cast<std::int64_t>(info.size))
        .bind_text(6, info.sequencer)
        .bind_blob(7, event.payload)
        .bind_int(8, to_ms(info.last_modified))
        .run();
  }

  core::Status upsert_object_locked(std::string_view bucket, const ObjectInfo& info,
                                    const std::string& file_id) {
    auto s = db.prepare(
        "INSERT OR REPLACE INTO objects(bucket, key, file_id, size, etag, content_type, "
        "cache_control, user_metadata, checksum_algorithm, checksum_value, last_modified_ms, "
        "sequencer) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (!s) return core::fail(s.error());
    s->bind_text(1, bucket)
        .bind_blob(2, info.key)
        .bind_text(3, file_id)
        .bind_int(4, static_cast<std::int64_t>(info.size))
        .bind_text(5, info.etag)
        .bind_text(6, info.content_type)
        .bind_text(7, info.cache_control)
        .bind_blob(8, encode_metadata(info.user_metadata))
        .bind_int(11, to_ms(info.last_modified))
        .bind_text(12, info.sequencer);
    if (info.checksum) {
      s->bind_text(9, to_string(info.checksum->algorithm)).bind_text(10, info.checksum->base64);
    } else {
      s->bind_null(9).bind_null(10);
    }
    return s->run();
  }

  // temp file → fill → rename into objects/ → fsync of the file → fsync of its directory.
  // Returns the new file's id once its bytes and its name are durable; on error nothing is left
  // behind.
  //
  // The commit point is the SQLite row, not the rename: until a row names the file, a crash
  // leaves at most an unreferenced file that recovery deletes. So the rename need not wait for
  // the data fsync, and fsyncing after it lets one journal commit cover the data and the new
  // name (two with the classic fsync-rename-fsync order): ~1/3 less latency per put on ext4.
  core::Result<std::string> stage(std::string_view bucket, const Fill& fill) {
    const std::string id = internal::random_id();
    const stdfs::path tmp = tmp_dir(bucket) / (id + ".tmp");
    const stdfs::path final_path = object_path(bucket, id);
    auto fd = fs::open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!fd) return core::fail(fd.error());
    auto st = fill(fd->get(), tmp);
    if (st) st = fs::make_dirs_durable(final_path.parent_path());
    if (st && ::rename(tmp.c_str(), final_path.c_str()) != 0) {
      st = core::fail(fs::errno_error(errno, "rename", tmp));
    }
    if (!st) {
      ::unlink(tmp.c_str());
      return core::fail(st.error());
    }
    st = fs::fsync_fd(fd->get(), final_path);
    if (st) st = fs::fsync_dir(final_path.parent_path());
    if (!st) {
      ::unlink(final_path.c_str());
      return core::fail(st.error());
    }
    return id;
  }

  struct Written {
    std::uint64_t size = 0;
    core::Md5Digest md5{};
  };

  // Fill for a streamed body: write as it arrives, then check digests and length.
  static Fill body_fill(ByteSource& body, const internal::PreparedBody& prepared, Written& out) {
    return [&body, &prepared, &out](int fd, const stdfs::path& path) -> core::Status {
      internal::BodyDigest digest(prepared.checksum ? std::optional(prepared.checksum->algorithm)
                                                    : std::nullopt);
      std::uint64_t written = 0;
      std::uint64_t flushed = 0;  // bytes already handed to writeback
      auto st = internal::pump(body, digest, kMaxObjectSize, [&](std::string_view chunk) {
        auto wrote = fs::write_all(fd, chunk, path);
        written += chunk.size();
        // Writeback in large windows: a socket delivers a body in pieces of a few KiB, and one
        // sync_file_range per piece made a 5 MB upload through the gateway ten times slower.
        if (wrote && written - flushed >= kWritebackWindow) {
          fs::start_writeback(fd, flushed, written - flushed);
          flushed = written;
        }
        return wrote;
      });
      if (!st) return st;
      st = digest.verify(prepared.md5, prepared.checksum, prepared.content_length);
      out = Written{digest.size(), digest.md5()};
      return st;
    };
  }

  // Fails fast, before any byte is read: the bucket must exist and the write's conditions hold.
  // (commit_locked checks both again, atomically.)
  core::Status precheck(std::string_view bucket, std::string_view key,
                        const internal::WriteConditions& conditions) {
    std::lock_guard lock(mu);
    if (auto st = check_bucket_locked(bucket); !st) return st;
    if (!conditions.if_none_match_star && !conditions.if_match) return {};
    auto old = find_object_locked(bucket, key);
    if (!old) return core::fail(old.error());
    return internal::check_write_conditions(conditions, *old ? &(*old)->info : nullptr, key);
  }

  // Points `key` at the staged file `file_id` in one transaction with its outbox event, then
  // removes the superseded file. On failure the staged file is removed.
  core::Result<ObjectInfo> commit_object(std::string_view bucket, std::string_view key,
                                         const std::string& file_id, ObjectInfo info,
                                         const internal::WriteConditions& conditions,
                                         const std::optional<EventToRecord>& event,
                                         const InTxn& in_txn = nullptr) {
    std::lock_guard lock(mu);
    std::optional<std::string> old_file;
    auto st = commit_locked(bucket, key, file_id, info, conditions, event, in_txn, old_file);
    if (!st) {
      remove_file(bucket, file_id);
      return core::fail(st.error());
    }
    if (old_file) remove_file(bucket, *old_file);
    return info;
  }

  core::Status commit_locked(std::string_view bucket, std::string_view key,
                             const std::string& file_id, ObjectInfo& info,
                             const internal::WriteConditions& conditions,
                             const std::optional<EventToRecord>& event, const InTxn& in_txn,
                             std::optional<std::string>& old_file) {
    auto txn = Transaction::begin(db);
    if (!txn) return core::fail(txn.error());
    if (auto st = check_bucket_locked(bucket); !st) return st;
    auto old = find_object_locked(bucket, key);
    if (!old) return core::fail(old.error());
    if (auto st = internal::check_write_conditions(conditions, *old ? &(*old)->info : nullptr, key);
        !st) {
      return st;
    }
    auto sequencer = next_sequencer_locked();
    if (!sequencer) return core::fail(sequencer.error());
    info.key = std::string(key);
    info.last_modified = now_ms();
    info.sequencer = std::move(*sequencer);
    if (in_txn) {
      if (auto st = in_txn(info); !st) return st;
    }
    if (auto st = upsert_object_locked(bucket, info, file_id); !st) return st;
    if (event) {
      if (auto st = insert_event_locked(bucket, info, *event); !st) return st;
    }
    if (auto st = txn->commit(); !st) return st;
    if (*old) old_file = (*old)->file_id;
    return {};
  }

  struct UploadRow {
    MultipartOptions options;
    std::map<int, PartInfo> parts;
    std::map<int, std::string> part_files;
  };

  // The upload, unless it is not of this bucket and key or its time ran out (kNoSuchUpload).
  core::Result<UploadRow> find_upload_locked(std::string_view bucket, std::string_view key,
                                             std::string_view upload_id) {
    if (auto st = check_bucket_locked(bucket); !st) return core::fail(st.error());
    auto s = db.prepare(
        "SELECT bucket, key, content_type, cache_control, user_metadata, expires_ms FROM uploads "
        "WHERE upload_id = ?1");
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, upload_id).step();
    if (!row) return core::fail(row.error());
    if (!*row || s->column_text(0) != bucket || s->column_text(1) != key ||
        (!s->column_is_null(5) && s->column_int(5) <= to_ms(clock->now()))) {
      return core::fail(no_such_upload(upload_id));
    }
    UploadRow upload;
    upload.options.content_type = s->column_text(2);
    upload.options.cache_control = s->column_text(3);
    upload.options.user_metadata = decode_metadata(s->column_text(4));
    auto p = db.prepare(
        "SELECT part_number, size, etag, last_modified_ms, file_id FROM parts "
        "WHERE upload_id = ?1 ORDER BY part_number");
    if (!p) return core::fail(p.error());
    p->bind_text(1, upload_id);
    while (true) {
      auto has = p->step();
      if (!has) return core::fail(has.error());
      if (!*has) break;
      const int number = static_cast<int>(p->column_int(0));
      upload.parts[number] = PartInfo{number, static_cast<std::uint64_t>(p->column_int(1)),
                                      p->column_text(2), from_ms(p->column_int(3))};
      upload.part_files[number] = p->column_text(4);
    }
    return upload;
  }

  // The object a completion of `upload_id` made, if it is remembered (kRememberedCompletions).
  core::Result<std::optional<ObjectInfo>> find_completed_locked(std::string_view bucket,
                                                                std::string_view key,
                                                                std::string_view upload_id) {
    auto s = db.prepare(
        "SELECT size, etag, last_modified_ms, sequencer FROM completed_uploads "
        "WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3");
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, upload_id).bind_text(2, bucket).bind_blob(3, key).step();
    if (!row) return core::fail(row.error());
    if (!*row) return std::optional<ObjectInfo>();
    ObjectInfo info;
    info.key = std::string(key);
    info.size = static_cast<std::uint64_t>(s->column_int(0));
    info.etag = s->column_text(1);
    info.last_modified = from_ms(s->column_int(2));
    info.sequencer = s->column_text(3);
    return std::optional<ObjectInfo>(std::move(info));
  }

  // Remembers a completion, and forgets all but the last remembered_completions.
  core::Status remember_completed_locked(std::string_view bucket, std::string_view upload_id,
                                         const ObjectInfo& info) {
    auto s = db.prepare(
        "INSERT OR REPLACE INTO completed_uploads(upload_id, bucket, key, size, etag, "
        "last_modified_ms, sequencer) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s) return core::fail(s.error());
    auto st = s->bind_text(1, upload_id)
                  .bind_text(2, bucket)
                  .bind_blob(3, info.key)
                  .bind_int(4, static_cast<std::int64_t>(info.size))
                  .bind_text(5, info.etag)
                  .bind_int(6, to_ms(info.last_modified))
                  .bind_text(7, info.sequencer)
                  .run();
    if (!st) return st;
    auto trim = db.prepare(
        "DELETE FROM completed_uploads "
        "WHERE rowid <= (SELECT max(rowid) FROM completed_uploads) - ?1");
    if (!trim) return core::fail(trim.error());
    return trim->bind_int(1, static_cast<std::int64_t>(remembered_completions)).run();
  }

  // Deletes the uploads whose time ran out (MultipartOptions::expires), parts and all.
  core::Status expire_uploads_locked() {
    auto s = db.prepare(
        "SELECT upload_id, bucket FROM uploads WHERE expires_ms IS NOT NULL AND expires_ms <= ?1");
    if (!s) return core::fail(s.error());
    s->bind_int(1, to_ms(clock->now()));
    std::vector<std::pair<std::string, std::string>> expired;  // (upload id, bucket)
    while (true) {
      auto row = s->step();
      if (!row) return core::fail(row.error());
      if (!*row) break;
      expired.emplace_back(s->column_text(0), s->column_text(1));
    }
    if (expired.empty()) return {};
    auto txn = Transaction::begin(db);
    if (!txn) return core::fail(txn.error());
    std::vector<std::pair<std::string, std::string>> files;  // (bucket, file id)
    for (const auto& [upload_id, bucket] : expired) {
      auto p = db.prepare("SELECT file_id FROM parts WHERE upload_id = ?1");
      if (!p) return core::fail(p.error());
      p->bind_text(1, upload_id);
      while (true) {
        auto row = p->step();
        if (!row) return core::fail(row.error());
        if (!*row) break;
        files.emplace_back(bucket, p->column_text(0));
      }
      if (auto st = delete_upload_rows_locked(upload_id); !st) return st;
    }
    if (auto st = txn->commit(); !st) return st;
    for (const auto& [bucket, file] : files) remove_file(bucket, file);
    return {};
  }

  // Uploads `initiator` has in progress in `bucket` (expired ones are gone already).
  core::Result<int> count_uploads_locked(std::string_view bucket, std::string_view initiator) {
    auto s = db.prepare("SELECT count(*) FROM uploads WHERE bucket = ?1 AND initiator = ?2");
    if (!s) return core::fail(s.error());
    auto row = s->bind_text(1, bucket).bind_text(2, initiator).step();
    if (!row) return core::fail(row.error());
    return static_cast<int>(s->column_int(0));
  }

  // Adds kAddedColumns a data dir from an earlier release lacks.
  core::Status add_missing_columns() {
    for (const auto& added : kAddedColumns) {
      auto s = db.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
      if (!s) return core::fail(s.error());
      auto row = s->bind_text(1, added.table).bind_text(2, added.column).step();
      if (!row) return core::fail(row.error());
      if (*row) continue;
      const std::string sql = "ALTER TABLE " + std::string(added.table) + " ADD COLUMN " +
                              std::string(added.column) + " " + std::string(added.definition);
      if (auto st = db.exec(sql); !st) return st;
    }
    return {};
  }

  core::Status delete_upload_rows_locked(std::string_view upload_id) {
    for (const char* sql :
         {"DELETE FROM parts WHERE upload_id = ?1", "DELETE FROM uploads WHERE upload_id = ?1"}) {
      auto s = db.prepare(sql);
      if (!s) return core::fail(s.error());
      if (auto st = s->bind_text(1, upload_id).run(); !st) return st;
    }
    return {};
  }

  // Removes temp files, and object files no row references (renamed, never committed; or
  // superseded, and the unlink was lost in a crash).
  core::Status recover() {
    std::unordered_set<std::string> referenced;
    auto s = db.prepare("SELECT file_id FROM objects UNION ALL SELECT file_id FROM parts");
    if (!s) return core::fail(s.error());
    while (true) {
      auto row = s->step();
      if (!row) return core::fail(row.error());
      if (!*row) break;
      referenced.insert(s->column_text(0));
    }
    std::error_code ec;
    for (const auto& bucket : stdfs::directory_iterator(root / "buckets", ec)) {
      recovery.temp_files_removed += remove_all_in(bucket.path() / "tmp", nullptr);
      recovery.orphan_files_removed += remove_all_in(bucket.path() / "objects", &referenced);
    }
    if (ec) return core::fail(fs::errno_error(ec.value(), "list", root / "buckets"));
    if (auto st = expire_uploads_locked(); !st) return st;
    return release_leases();
  }

  // Leases taken before this open belong to a process that is gone: the data dir lock proves no
  // other consumer runs. Their events are claimable now rather than when the lease would have
  // run out (minutes after a crash). Retry delays of nacked events are kept.
  core::Status release_leases() {
    auto s = db.prepare(
        "UPDATE outbox SET visible_at_ms = 0, status = 'pending' "
        "WHERE status = 'leased'");
    if (!s) return core::fail(s.error());
    if (auto st = s->run(); !st) return st;
    recovery.leases_released = static_cast<std::size_t>(db.changes());
    return {};
  }

  // Removes the regular files under `dir` whose names are not in `keep`; returns the count.
  static std::size_t remove_all_in(const stdfs::path& dir,
                                   const std::unordered_set<std::string>* keep) {
    std::size_t removed = 0;
    std::error_code ec;
    for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      if (keep != nullptr && keep->contains(it->path().filename().string())) continue;
      if (::unlink(it->path().c_str()) == 0) ++removed;
    }
    return removed;
  }
};

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
  if (auto st = impl->add_missing_columns(); !st) return core::fail(st.error());
  if (auto st = impl->recover(); !st) return core::fail(st.error());
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(impl)));
}

core::Status LocalStore::create_bucket(std::string_view bucket) {
  if (auto st = internal::validate_new_bucket_name(bucket); !st) return st;
  std::lock_guard lock(impl_->mu);
  if (auto st = impl_->check_bucket_locked(bucket); st) {
    return core::fail(make_error(ErrorDetail::kBucketAlreadyOwnedByYou,
                                 "The bucket already exists: " + std::string(bucket)));
  }
  for (const char* sub : {"tmp", "objects"}) {
    if (auto st = fs::make_dirs_durable(impl_->bucket_dir(bucket) / sub); !st) return st;
  }
  auto s = impl_->db.prepare("INSERT INTO buckets(name, created_ms) VALUES(?1, ?2)");
  if (!s) return core::fail(s.error());
  return s->bind_text(1, bucket).bind_int(2, to_ms(impl_->clock->now())).run();
}

core::Status LocalStore::delete_bucket(std::string_view bucket) {
  std::lock_guard lock(impl_->mu);
  if (auto st = impl_->check_bucket_locked(bucket); !st) return st;
  if (auto st = impl_->expire_uploads_locked(); !st) return st;
  auto txn = Transaction::begin(impl_->db);
  if (!txn) return core::fail(txn.error());
  for (const auto& [sql, what] :
       {std::pair{"SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1", "is not empty"},
        std::pair{"SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1",
                  "has multipart uploads in progress"}}) {
    auto s = impl_->db.prepare(sql);
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
    auto s = impl_->db.prepare(sql);
    if (!s) return core::fail(s.error());
    if (auto st = s->bind_text(1, bucket).run(); !st) return st;
  }
  if (auto st = txn->commit(); !st) return st;
  // What is left is empty directories, and in tmp/ the files of writes still in flight, which
  // fail now that the bucket is gone. Best effort: a directory left behind is reused if the
  // bucket is created again.
  std::error_code ec;
  stdfs::remove_all(impl_->bucket_dir(bucket), ec);
  return {};
}

core::Result<BucketInfo> LocalStore::head_bucket(std::string_view bucket) {
  if (auto st = internal::validate_bucket_name(bucket); !st) return core::fail(st.error());
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("SELECT created_ms FROM buckets WHERE name = ?1");
  if (!s) return core::fail(s.error());
  auto row = s->bind_text(1, bucket).step();
  if (!row) return core::fail(row.error());
  if (!*row) {
    return core::fail(make_error(ErrorDetail::kNoSuchBucket,
                                 "The specified bucket does not exist: " + std::string(bucket)));
  }
  return BucketInfo{std::string(bucket), from_ms(s->column_int(0))};
}

core::Result<std::vector<BucketInfo>> LocalStore::list_buckets() {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("SELECT name, created_ms FROM buckets ORDER BY name");
  if (!s) return core::fail(s.error());
  std::vector<BucketInfo> out;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) return out;
    out.push_back(BucketInfo{s->column_text(0), from_ms(s->column_int(1))});
  }
}

core::Result<ObjectInfo> LocalStore::put(std::string_view bucket, std::string_view key,
                                         ByteSource& body, const PutOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  auto prepared =
      internal::prepare_body(options.content_md5, options.checksum, options.content_length);
  if (!prepared) return core::fail(prepared.error());
  const internal::WriteConditions conditions{options.if_none_match_star, options.if_match};
  if (auto st = impl_->precheck(bucket, key, conditions); !st) return core::fail(st.error());
  Impl::Written written;
  auto file_id = impl_->stage(bucket, Impl::body_fill(body, *prepared, written));
  if (!file_id) return core::fail(file_id.error());
  ObjectInfo info;
  info.size = written.size;
  info.etag = core::to_hex(written.md5);
  info.content_type = options.content_type;
  info.user_metadata = options.user_metadata;
  info.cache_control = options.cache_control;
  info.checksum = options.checksum;
  return impl_->commit_object(bucket, key, *file_id, std::move(info), conditions, options.event);
}

core::Result<std::unique_ptr<ObjectReader>> LocalStore::open(std::string_view bucket,
                                                             std::string_view key,
                                                             const GetOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  // The file is opened under the lock: a writer unlinks a superseded file only while holding
  // it, so the row and the file are always of the same version.
  std::lock_guard lock(impl_->mu);
  if (auto st = impl_->check_bucket_locked(bucket); !st) return core::fail(st.error());
  auto row = impl_->find_object_locked(bucket, key);
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(no_such_key(key));
  auto range = internal::resolve_range(options.range, (*row)->info.size);
  if (!range) return core::fail(range.error());
  auto fd = fs::open_file(impl_->object_path(bucket, (*row)->file_id), O_RDONLY);
  if (!fd) {
    return core::fail(core::ErrorCode::kInternal,
                      "the file of a committed object is missing: " + fd.error().message);
  }
  return std::unique_ptr<ObjectReader>(
      std::make_unique<LocalReader>(std::move((*row)->info), std::move(*fd), *range));
}

core::Result<ObjectInfo> LocalStore::head(std::string_view bucket, std::string_view key) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  std::lock_guard lock(impl_->mu);
  if (auto st = impl_->check_bucket_locked(bucket); !st) return core::fail(st.error());
  auto row = impl_->find_object_locked(bucket, key);
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(no_such_key(key));
  return std::move((*row)->info);
}

core::Status LocalStore::delete_object(std::string_view bucket, std::string_view key) {
  if (auto st = internal::validate_key(key); !st) return st;
  std::lock_guard lock(impl_->mu);
  auto txn = Transaction::begin(impl_->db);
  if (!txn) return core::fail(txn.error());
  if (auto st = impl_->check_bucket_locked(bucket); !st) return st;
  auto row = impl_->find_object_locked(bucket, key);
  if (!row) return core::fail(row.error());
  if (!*row) return {};
  auto s = impl_->db.prepare("DELETE FROM objects WHERE bucket = ?1 AND key = ?2");
  if (!s) return core::fail(s.error());
  if (auto st = s->bind_text(1, bucket).bind_blob(2, key).run(); !st) return st;
  if (auto st = txn->commit(); !st) return st;
  impl_->remove_file(bucket, (*row)->file_id);
  return {};
}

core::Result<ListResult> LocalStore::list(std::string_view bucket, const ListOptions& options) {
  std::lock_guard lock(impl_->mu);
  if (auto st = impl_->check_bucket_locked(bucket); !st) return core::fail(st.error());
  auto fetch = [&](const std::string& after, const std::string& lower,
                   std::size_t limit) -> core::Result<std::vector<ObjectInfo>> {
    auto s = impl_->db.prepare("SELECT " + std::string(kObjectColumns) +
                               " FROM objects WHERE bucket = ?1 AND key > ?2 AND key >= ?3 "
                               "ORDER BY key LIMIT ?4");
    if (!s) return core::fail(s.error());
    s->bind_text(1, bucket).bind_blob(2, after).bind_blob(3, lower).bind_int(
        4, static_cast<std::int64_t>(limit));
    std::vector<ObjectInfo> out;
    while (true) {
      auto row = s->step();
      if (!row) return core::fail(row.error());
      if (!*row) return out;
      out.push_back(read_object_row(*s).info);
    }
  };
  return internal::list_objects(options, fetch);
}

core::Result<ObjectInfo> LocalStore::copy(std::string_view src_bucket, std::string_view src_key,
                                          std::string_view dst_bucket, std::string_view dst_key,
                                          const CopyOptions& options) {
  if (auto st = internal::validate_key(dst_key); !st) return core::fail(st.error());
  if (src_bucket == dst_bucket && src_key == dst_key && !options.replace_metadata) {
    return core::fail(make_error(ErrorDetail::kInvalidRequest,
                                 "This copy request is illegal because it is trying to copy an "
                                 "object to itself without changing the object's metadata."));
  }
  const internal::WriteConditions conditions{options.if_none_match_star, std::nullopt};
  if (auto st = impl_->precheck(dst_bucket, dst_key, conditions); !st) {
    return core::fail(st.error());
  }
  auto reader = open(src_bucket, src_key, GetOptions{});
  if (!reader) return core::fail(reader.error());
  const ObjectInfo& source = (*reader)->info();
  internal::BodyDigest digest(std::nullopt);
  auto file_id = impl_->stage(dst_bucket, [&](int fd, const stdfs::path& path) {
    return internal::pump(**reader, digest, kMaxObjectSize,
                          [&](std::string_view chunk) { return fs::write_all(fd, chunk, path); });
  });
  if (!file_id) return core::fail(file_id.error());
  (void)digest.verify(std::nullopt, std::nullopt, std::nullopt);
  ObjectInfo info;
  info.size = digest.size();
  info.etag = core::to_hex(digest.md5());
  info.checksum = source.checksum;
  const bool replace = options.replace_metadata;
  info.content_type = replace ? options.content_type : source.content_type;
  info.user_metadata = replace ? options.user_metadata : source.user_metadata;
  info.cache_control = replace ? options.cache_control : source.cache_control;
  return impl_->commit_object(dst_bucket, dst_key, *file_id, std::move(info), conditions,
                              options.event);
}

core::Result<std::string> LocalStore::create_multipart_upload(std::string_view bucket,
                                                              std::string_view key,
                                                              const MultipartOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  std::lock_guard lock(impl_->mu);  // the count and the insert are one step for every writer
  if (auto st = impl_->check_bucket_locked(bucket); !st) return core::fail(st.error());
  if (auto st = impl_->expire_uploads_locked(); !st) return core::fail(st.error());
  if (options.max_uploads_per_initiator > 0) {
    auto open = impl_->count_uploads_locked(bucket, options.initiator);
    if (!open) return core::fail(open.error());
    if (*open >= options.max_uploads_per_initiator) {
      return core::fail(internal::too_many_uploads(*open));
    }
  }
  std::string upload_id = internal::random_id();
  auto s = impl_->db.prepare(
      "INSERT INTO uploads(upload_id, bucket, key, content_type, cache_control, user_metadata, "
      "created_ms, initiator, expires_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!s) return core::fail(s.error());
  s->bind_text(1, upload_id)
      .bind_text(2, bucket)
      .bind_blob(3, key)
      .bind_text(4, options.content_type)
      .bind_text(5, options.cache_control)
      .bind_blob(6, encode_metadata(options.user_metadata))
      .bind_int(7, to_ms(impl_->clock->now()))
      .bind_text(8, options.initiator);
  if (options.expires) {
    s->bind_int(9, to_ms(*options.expires));
  } else {
    s->bind_null(9);
  }
  if (auto st = s->run(); !st) return core::fail(st.error());
  return upload_id;
}

core::Result<PartInfo> LocalStore::upload_part(std::string_view bucket, std::string_view key,
                                               std::string_view upload_id, int part_number,
                                               ByteSource& body, const PartOptions& options) {
  if (auto st = internal::validate_part_number(part_number); !st) return core::fail(st.error());
  auto prepared =
      internal::prepare_body(options.content_md5, options.checksum, options.content_length);
  if (!prepared) return core::fail(prepared.error());
  {
    std::lock_guard lock(impl_->mu);
    auto upload = impl_->find_upload_locked(bucket, key, upload_id);
    if (!upload) return core::fail(upload.error());
    if (options.max_upload_bytes && options.content_length) {  // fail before reading the body
      if (auto st = internal::check_upload_budget(
              upload->parts, part_number, *options.content_length, *options.max_upload_bytes);
          !st) {
        return core::fail(st.error());
      }
    }
  }
  Impl::Written written;
  auto file_id = impl_->stage(bucket, Impl::body_fill(body, *prepared, written));
  if (!file_id) return core::fail(file_id.error());
  const PartInfo info{part_number, written.size, core::to_hex(written.md5), impl_->now_ms()};

  std::lock_guard lock(impl_->mu);
  std::optional<std::string> old_file;
  auto commit = [&]() -> core::Status {
    auto txn = Transaction::begin(impl_->db);
    if (!txn) return core::fail(txn.error());
    auto upload = impl_->find_upload_locked(bucket, key, upload_id);
    if (!upload) return core::fail(upload.error());
    if (options.max_upload_bytes) {  // again, with what was stored, against concurrent parts
      if (auto st = internal::check_upload_budget(upload->parts, part_number, info.size,
                                                  *options.max_upload_bytes);
          !st) {
        return st;
      }
    }
    if (auto it = upload->part_files.find(part_number); it != upload->part_files.end()) {
      old_file = it->second;
    }
    auto s = impl_->db.prepare(
        "INSERT OR REPLACE INTO parts(upload_id, part_number, file_id, size, etag, "
        "last_modified_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s) return core::fail(s.error());
    auto st = s->bind_text(1, upload_id)
                  .bind_int(2, part_number)
                  .bind_text(3, *file_id)
                  .bind_int(4, static_cast<std::int64_t>(info.size))
                  .bind_text(5, info.etag)
                  .bind_int(6, to_ms(info.last_modified))
                  .run();
    if (!st) return st;
    return txn->commit();
  };
  if (auto st = commit(); !st) {
    impl_->remove_file(bucket, *file_id);
    return core::fail(st.error());
  }
  if (old_file) impl_->remove_file(bucket, *old_file);
  return info;
}

core::Result<ObjectInfo> LocalStore::complete_multipart_upload(
    std::string_view bucket, std::string_view key, std::string_view upload_id,
    const std::vector<CompletedPart>& parts, const CompleteOptions& options) {
  Impl::UploadRow upload;
  std::string etag;
  std::vector<fs::Fd> part_fds;
  {
    // Open the parts under the lock so that a concurrent abort cannot unlink them first.
    std::lock_guard lock(impl_->mu);
    auto found = impl_->find_upload_locked(bucket, key, upload_id);
    if (!found && detail_of(found.error()) == ErrorDetail::kNoSuchUpload) {
      auto completed = impl_->find_completed_locked(bucket, key, upload_id);
      if (!completed) return core::fail(completed.error());
      if (*completed) return std::move(**completed);  // a retry: answered as the first time
    }
    if (!found) return core::fail(found.error());
    upload = std::move(*found);
    auto checked = internal::check_completed_parts(parts, upload.parts);
    if (!checked) return core::fail(checked.error());
    etag = std::move(*checked);
    for (const auto& part : parts) {
      auto fd = fs::open_file(impl_->object_path(bucket, upload.part_files.at(part.part_number)),
                              O_RDONLY);
      if (!fd) return core::fail(fd.error());
      part_fds.push_back(std::move(*fd));
    }
  }
  std::uint64_t total = 0;
  auto file_id = impl_->stage(bucket, [&](int fd, const stdfs::path& path) -> core::Status {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const std::uint64_t size = upload.parts.at(parts[i].part_number).size;
      if (auto st = copy_fd(part_fds[i].get(), fd, size, path); !st) return st;
      total += size;
    }
    return {};
  });
  if (!file_id) return core::fail(file_id.error());
  ObjectInfo info;
  info.size = total;
  info.etag = etag;
  info.content_type = upload.options.content_type;
  info.user_metadata = upload.options.user_metadata;
  info.cache_control = upload.options.cache_control;
  std::vector<std::string> files_to_remove;
  // Inside the commit: the upload must still exist with the same part files we joined.
  auto in_txn = [&](const ObjectInfo& committed) -> core::Status {
    auto current = impl_->find_upload_locked(bucket, key, upload_id);
    if (!current) return core::fail(current.error());
    for (const auto& part : parts) {
      if (current->part_files[part.part_number] != upload.part_files[part.part_number]) {
        return core::fail(make_error(ErrorDetail::kInvalidPart,
                                     "Part " + std::to_string(part.part_number) +
                                         " was replaced while the upload was being completed"));
      }
    }
    for (const auto& [number, file] : current->part_files) files_to_remove.push_back(file);
    if (auto st = impl_->remember_completed_locked(bucket, upload_id, committed); !st) return st;
    return impl_->delete_upload_rows_locked(upload_id);
  };
  auto committed =
      impl_->commit_object(bucket, key, *file_id, std::move(info),
                           {options.if_none_match_star, options.if_match}, options.event, in_txn);
  if (committed) {
    std::lock_guard lock(impl_->mu);
    for (const auto& file : files_to_remove) impl_->remove_file(bucket, file);
  }
  return committed;
}

core::Status LocalStore::abort_multipart_upload(std::string_view bucket, std::string_view key,
                                                std::string_view upload_id) {
  std::lock_guard lock(impl_->mu);
  auto txn = Transaction::begin(impl_->db);
  if (!txn) return core::fail(txn.error());
  auto upload = impl_->find_upload_locked(bucket, key, upload_id);
  if (!upload) return core::fail(upload.error());
  if (auto st = impl_->delete_upload_rows_locked(upload_id); !st) return st;
  if (auto st = txn->commit(); !st) return st;
  for (const auto& [number, file] : upload->part_files) impl_->remove_file(bucket, file);
  return {};
}

core::Result<std::vector<PartInfo>> LocalStore::list_parts(std::string_view bucket,
                                                           std::string_view key,
                                                           std::string_view upload_id) {
  std::lock_guard lock(impl_->mu);
  auto upload = impl_->find_upload_locked(bucket, key, upload_id);
  if (!upload) return core::fail(upload.error());
  std::vector<PartInfo> out;
  for (auto& [number, part] : upload->parts) out.push_back(std::move(part));
  return out;
}

core::Result<ListUploadsResult> LocalStore::list_multipart_uploads(
    std::string_view bucket, const ListUploadsOptions& options) {
  std::lock_guard lock(impl_->mu);
  if (auto st = impl_->check_bucket_locked(bucket); !st) return core::fail(st.error());
  if (auto st = impl_->expire_uploads_locked(); !st) return core::fail(st.error());
  // Keys are BLOBs, so ORDER BY compares bytes: the UTF-8 binary order S3 lists in.
  auto s = impl_->db.prepare(
      "SELECT key, upload_id, created_ms, initiator FROM uploads WHERE bucket = ?1 "
      "ORDER BY key, upload_id");
  if (!s) return core::fail(s.error());
  s->bind_text(1, bucket);
  std::vector<UploadInfo> all;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) break;
    all.push_back(
        {s->column_text(0), s->column_text(1), from_ms(s->column_int(2)), s->column_text(3)});
  }
  return internal::page_uploads(all, options);
}

core::Result<std::vector<OutboxEvent>> LocalStore::claim(
    std::size_t max_events, std::chrono::milliseconds visibility_timeout) {
  std::lock_guard lock(impl_->mu);
  const std::int64_t now = to_ms(impl_->clock->now());
  auto txn = Transaction::begin(impl_->db);
  if (!txn) return core::fail(txn.error());
  auto s = impl_->db.prepare(
      "SELECT id, event_name, bucket, key, etag, size, sequencer, payload, created_ms, attempts "
      "FROM outbox WHERE visible_at_ms <= ?1 ORDER BY id LIMIT ?2");
  if (!s) return core::fail(s.error());
  s->bind_int(1, now).bind_int(2, static_cast<std::int64_t>(max_events));
  std::vector<OutboxEvent> out;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) break;
    out.push_back(OutboxEvent{
        s->column_int(0), s->column_text(1), s->column_text(2), s->column_text(3),
        s->column_text(4), static_cast<std::uint64_t>(s->column_int(5)), s->column_text(6),
        s->column_text(7), from_ms(s->column_int(8)), static_cast<int>(s->column_int(9)) + 1});
  }
  for (const auto& event : out) {
    auto u = impl_->db.prepare(
        "UPDATE outbox SET visible_at_ms = ?1, attempts = attempts + 1, status = 'leased' "
        "WHERE id = ?2");
    if (!u) return core::fail(u.error());
    if (auto st = u->bind_int(1, now + visibility_timeout.count()).bind_int(2, event.id).run();
        !st) {
      return core::fail(st.error());
    }
  }
  if (auto st = txn->commit(); !st) return core::fail(st.error());
  return out;
}

core::Status LocalStore::ack(std::int64_t id) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("DELETE FROM outbox WHERE id = ?1");
  if (!s) return core::fail(s.error());
  return s->bind_int(1, id).run();
}

core::Status LocalStore::nack(std::int64_t id, std::chrono::milliseconds retry_after) {
  std::lock_guard lock(impl_->mu);
  auto s =
      impl_->db.prepare("UPDATE outbox SET visible_at_ms = ?1, status = 'pending' WHERE id = ?2");
  if (!s) return core::fail(s.error());
  const std::int64_t visible_at = to_ms(impl_->clock->now()) + retry_after.count();
  if (auto st = s->bind_int(1, visible_at).bind_int(2, id).run(); !st) return st;
  if (impl_->db.changes() == 0) {
    return core::fail(core::ErrorCode::kNotFound,
                      "no outbox event " + std::to_string(id) + " (already acked?)");
  }
  return {};
}

core::Result<std::uint64_t> LocalStore::count_pending() {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("SELECT count(*) FROM outbox");
  if (!s) return core::fail(s.error());
  auto row = s->step();
  if (!row) return core::fail(row.error());
  return static_cast<std::uint64_t>(s->column_int(0));
}

namespace {

DeadLetter read_dead_letter_row(const Statement& s) {
  DeadLetter letter;
  letter.id = s.column_int(0);
  letter.event = OutboxEvent{letter.id,
                             s.column_text(1),
                             s.column_text(2),
                             s.column_text(3),
                             s.column_text(4),
                             static_cast<std::uint64_t>(s.column_int(5)),
                             s.column_text(6),
                             s.column_text(7),
                             from_ms(s.column_int(8)),
                             static_cast<int>(s.column_int(9))};
  letter.error = s.column_text(10);
  letter.failure = s.column_text(11);
  letter.attempts = static_cast<int>(s.column_int(12));
  letter.first_seen = from_ms(s.column_int(13));
  letter.last_failed = from_ms(s.column_int(14));
  return letter;
}

core::Error no_dead_letter(std::int64_t id) {
  return core::Error{core::ErrorCode::kNotFound, "no dead letter " + std::to_string(id)};
}

}  // namespace

core::Status LocalStore::add_dead_letter(const DeadLetter& letter) {
  std::lock_guard lock(impl_->mu);
  auto txn = Transaction::begin(impl_->db);
  if (!txn) return core::fail(txn.error());
  auto s =
      impl_->db.prepare("INSERT OR REPLACE INTO dead_letters(" + std::string(kDeadLetterColumns) +
                        ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                        "?14, ?15)");
  if (!s) return core::fail(s.error());
  const OutboxEvent& e = letter.event;
  auto st = s->bind_int(1, letter.id)
                .bind_text(2, e.event_name)
                .bind_text(3, e.bucket)
                .bind_blob(4, e.key)
                .bind_text(5, e.etag)
                .bind_int(6, static_cast<std::int64_t>(e.size))
                .bind_text(7, e.sequencer)
                .bind_blob(8, e.payload)
                .bind_int(9, to_ms(e.created))
                .bind_int(10, e.attempts)
                .bind_text(11, letter.error)
                .bind_text(12, letter.failure)
                .bind_int(13, letter.attempts)
                .bind_int(14, to_ms(letter.first_seen))
                .bind_int(15, to_ms(letter.last_failed))
                .run();
  if (!st) return st;
  auto d = impl_->db.prepare("DELETE FROM outbox WHERE id = ?1");
  if (!d) return core::fail(d.error());
  if (auto deleted = d->bind_int(1, letter.id).run(); !deleted) return deleted;
  return txn->commit();
}

core::Result<std::vector<DeadLetter>> LocalStore::list_dead_letters() {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("SELECT " + std::string(kDeadLetterColumns) +
                             " FROM dead_letters ORDER BY id");
  if (!s) return core::fail(s.error());
  std::vector<DeadLetter> out;
  while (true) {
    auto row = s->step();
    if (!row) return core::fail(row.error());
    if (!*row) break;
    out.push_back(read_dead_letter_row(*s));
  }
  return out;
}

core::Result<DeadLetter> LocalStore::get_dead_letter(std::int64_t id) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("SELECT " + std::string(kDeadLetterColumns) +
                             " FROM dead_letters WHERE id = ?1");
  if (!s) return core::fail(s.error());
  auto row = s->bind_int(1, id).step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(no_dead_letter(id));
  return read_dead_letter_row(*s);
}

core::Status LocalStore::remove_dead_letter(std::int64_t id) {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("DELETE FROM dead_letters WHERE id = ?1");
  if (!s) return core::fail(s.error());
  return s->bind_int(1, id).run();
}

core::Result<std::uint64_t> LocalStore::count_dead_letters() {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->db.prepare("SELECT count(*) FROM dead_letters");
  if (!s) return core::fail(s.error());
  auto row = s->step();
  if (!row) return core::fail(row.error());
  return static_cast<std::uint64_t>(s->column_int(0));
}

core::Result<std::int64_t> LocalStore::redrive(std::int64_t id) {
  std::lock_guard lock(impl_->mu);
  const std::int64_t now = to_ms(impl_->clock->now());
  auto txn = Transaction::begin(impl_->db);
  if (!txn) return core::fail(txn.error());
  // One statement copies the row, so the event's fields never pass through memory.
  auto s = impl_->db.prepare(
      "INSERT INTO outbox(event_name, bucket, key, etag, size, sequencer, payload, created_ms, "
      "visible_at_ms) SELECT event_name, bucket, key, etag, size, sequencer, payload, ?1, ?1 "
      "FROM dead_letters WHERE id = ?2 RETURNING id");
  if (!s) return core::fail(s.error());
  auto row = s->bind_int(1, now).bind_int(2, id).step();
  if (!row) return core::fail(row.error());
  if (!*row) return core::fail(no_dead_letter(id));
  const std::int64_t new_id = s->column_int(0);
  if (auto st = s->run(); !st) return core::fail(st.error());
  auto d = impl_->db.prepare("DELETE FROM dead_letters WHERE id = ?1");
  if (!d) return core::fail(d.error());
  if (auto st = d->bind_int(1, id).run(); !st) return core::fail(st.error());
  if (auto st = txn->commit(); !st) return core::fail(st.error());
  return new_id;
}

}  // namespace imgflow::storage
