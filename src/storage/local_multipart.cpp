// LocalStore's multipart uploads: parts are staged like object bodies, and completion joins
// them into one new object file committed like a put.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>

#include "storage/local_store_impl.h"

namespace imgflow::storage {
namespace {

namespace stdfs = std::filesystem;
using local::decode_metadata;
using local::encode_metadata;
using local::from_ms;
using local::to_ms;
using local::UploadRow;
using sqlite::Transaction;

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

// Uploads `initiator` has in progress in `bucket` (expired ones are gone already).
core::Result<int> count_uploads(sqlite::Database& db, std::string_view bucket,
                                std::string_view initiator) {
  auto s = db.prepare("SELECT count(*) FROM uploads WHERE bucket = ?1 AND initiator = ?2");
  if (!s) return core::fail(s.error());
  auto row = s->bind_text(1, bucket).bind_text(2, initiator).step();
  if (!row) return core::fail(row.error());
  return static_cast<int>(s->column_int(0));
}

}  // namespace

// The upload, unless it is not of this bucket and key or its time ran out (kNoSuchUpload).
core::Result<UploadRow> LocalStore::Impl::find_upload(sqlite::Database& db, std::string_view bucket,
                                                      std::string_view key,
                                                      std::string_view upload_id) {
  if (auto st = check_bucket(db, bucket); !st) return core::fail(st.error());
  auto s = db.prepare(
      "SELECT bucket, key, content_type, cache_control, user_metadata, expires_ms FROM uploads "
      "WHERE upload_id = ?1");
  if (!s) return core::fail(s.error());
  auto row = s->bind_text(1, upload_id).step();
  if (!row) return core::fail(row.error());
  if (!*row || s->column_text(0) != bucket || s->column_text(1) != key ||
      (!s->column_is_null(5) && s->column_int(5) <= to_ms(clock->now()))) {
    return core::fail(local::no_such_upload(upload_id));
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
core::Result<std::optional<ObjectInfo>> LocalStore::Impl::find_completed(
    std::string_view bucket, std::string_view key, std::string_view upload_id) {
  auto s = write_db.prepare(
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
core::Status LocalStore::Impl::remember_completed(std::string_view bucket,
                                                  std::string_view upload_id,
                                                  const ObjectInfo& info) {
  auto s = write_db.prepare(
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
  auto trim = write_db.prepare(
      "DELETE FROM completed_uploads "
      "WHERE rowid <= (SELECT max(rowid) FROM completed_uploads) - ?1");
  if (!trim) return core::fail(trim.error());
  return trim->bind_int(1, static_cast<std::int64_t>(remembered_completions)).run();
}

// Whether any upload's time ran out (MultipartOptions::expires), read without the write lock.
core::Result<bool> LocalStore::Impl::any_expired_uploads(std::int64_t now) {
  auto lease = read();
  if (!lease) return core::fail(lease.error());
  auto s = lease->db().prepare(
      "SELECT 1 FROM uploads WHERE expires_ms IS NOT NULL AND expires_ms <= ?1 LIMIT 1");
  if (!s) return core::fail(s.error());
  return s->bind_int(1, now).step();
}

// Deletes the uploads whose time ran out (MultipartOptions::expires), parts and all.
core::Status LocalStore::Impl::expire_uploads() {
  auto s = write_db.prepare(
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
  auto txn = Transaction::begin(write_db);
  if (!txn) return core::fail(txn.error());
  std::vector<std::pair<std::string, std::string>> files;  // (bucket, file id)
  for (const auto& [upload_id, bucket] : expired) {
    auto p = write_db.prepare("SELECT file_id FROM parts WHERE upload_id = ?1");
    if (!p) return core::fail(p.error());
    p->bind_text(1, upload_id);
    while (true) {
      auto row = p->step();
      if (!row) return core::fail(row.error());
      if (!*row) break;
      files.emplace_back(bucket, p->column_text(0));
    }
    if (auto st = delete_upload_rows(upload_id); !st) return st;
  }
  if (auto st = commit(*txn); !st) return st;
  for (const auto& [bucket, file] : files) remove_file(bucket, file);
  return {};
}

core::Status LocalStore::Impl::delete_upload_rows(std::string_view upload_id) {
  for (const char* sql :
       {"DELETE FROM parts WHERE upload_id = ?1", "DELETE FROM uploads WHERE upload_id = ?1"}) {
    auto s = write_db.prepare(sql);
    if (!s) return core::fail(s.error());
    if (auto st = s->bind_text(1, upload_id).run(); !st) return st;
  }
  return {};
}

// Removes temp files, and object files no row references (renamed, never committed; or

core::Result<std::string> LocalStore::create_multipart_upload(std::string_view bucket,
                                                              std::string_view key,
                                                              const MultipartOptions& options) {
  if (auto st = internal::validate_key(key); !st) return core::fail(st.error());
  std::lock_guard lock(impl_->write_mu);  // the count and the insert are one step for every writer
  if (auto st = impl_->check_bucket(impl_->write_db, bucket); !st) return core::fail(st.error());
  if (auto st = impl_->expire_uploads(); !st) return core::fail(st.error());
  if (options.max_uploads_per_initiator > 0) {
    auto open = count_uploads(impl_->write_db, bucket, options.initiator);
    if (!open) return core::fail(open.error());
    if (*open >= options.max_uploads_per_initiator) {
      return core::fail(internal::too_many_uploads(*open));
    }
  }
  std::string upload_id = internal::random_id();
  auto s = impl_->write_db.prepare(
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
    // A fail-fast read: the commit below checks again with the write lock held.
    auto lease = impl_->read();
    if (!lease) return core::fail(lease.error());
    auto upload = impl_->find_upload(lease->db(), bucket, key, upload_id);
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

  std::lock_guard lock(impl_->write_mu);
  std::optional<std::string> old_file;
  auto commit = [&]() -> core::Status {
    auto txn = Transaction::begin(impl_->write_db);
    if (!txn) return core::fail(txn.error());
    auto upload = impl_->find_upload(impl_->write_db, bucket, key, upload_id);
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
    auto s = impl_->write_db.prepare(
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
    return impl_->commit(*txn);
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
  UploadRow upload;
  std::string etag;
  std::vector<fs::Fd> part_fds;
  {
    // Open the parts under the lock so that a concurrent abort cannot unlink them first.
    std::lock_guard lock(impl_->write_mu);
    auto found = impl_->find_upload(impl_->write_db, bucket, key, upload_id);
    if (!found && detail_of(found.error()) == ErrorDetail::kNoSuchUpload) {
      auto completed = impl_->find_completed(bucket, key, upload_id);
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
    auto current = impl_->find_upload(impl_->write_db, bucket, key, upload_id);
    if (!current) return core::fail(current.error());
    for (const auto& part : parts) {
      if (current->part_files[part.part_number] != upload.part_files[part.part_number]) {
        return core::fail(make_error(ErrorDetail::kInvalidPart,
                                     "Part " + std::to_string(part.part_number) +
                                         " was replaced while the upload was being completed"));
      }
    }
    for (const auto& [number, file] : current->part_files) files_to_remove.push_back(file);
    if (auto st = impl_->remember_completed(bucket, upload_id, committed); !st) return st;
    return impl_->delete_upload_rows(upload_id);
  };
  auto committed =
      impl_->commit_object(bucket, key, *file_id, std::move(info),
                           {options.if_none_match_star, options.if_match}, options.event, in_txn);
  if (committed) {
    std::lock_guard lock(impl_->write_mu);
    for (const auto& file : files_to_remove) impl_->remove_file(bucket, file);
  }
  return committed;
}

core::Status LocalStore::abort_multipart_upload(std::string_view bucket, std::string_view key,
                                                std::string_view upload_id) {
  std::lock_guard lock(impl_->write_mu);
  auto txn = Transaction::begin(impl_->write_db);
  if (!txn) return core::fail(txn.error());
  auto upload = impl_->find_upload(impl_->write_db, bucket, key, upload_id);
  if (!upload) return core::fail(upload.error());
  if (auto st = impl_->delete_upload_rows(upload_id); !st) return st;
  if (auto st = impl_->commit(*txn); !st) return st;
  for (const auto& [number, file] : upload->part_files) impl_->remove_file(bucket, file);
  return {};
}

core::Result<std::vector<PartInfo>> LocalStore::list_parts(std::string_view bucket,
                                                           std::string_view key,
                                                           std::string_view upload_id) {
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  auto upload = impl_->find_upload(lease->db(), bucket, key, upload_id);
  if (!upload) return core::fail(upload.error());
  std::vector<PartInfo> out;
  for (auto& [number, part] : upload->parts) out.push_back(std::move(part));
  return out;
}

core::Result<ListUploadsResult> LocalStore::list_multipart_uploads(
    std::string_view bucket, const ListUploadsOptions& options) {
  const std::int64_t now = to_ms(impl_->clock->now());
  auto expired = impl_->any_expired_uploads(now);
  if (!expired) return core::fail(expired.error());
  if (*expired) {  // the one case that writes, and so waits for the write lock
    std::lock_guard lock(impl_->write_mu);
    if (auto st = impl_->expire_uploads(); !st) return core::fail(st.error());
  }
  auto lease = impl_->read();
  if (!lease) return core::fail(lease.error());
  if (auto st = impl_->check_bucket(lease->db(), bucket); !st) return core::fail(st.error());
  // Keys are BLOBs, so ORDER BY compares bytes: the UTF-8 binary order S3 lists in. Uploads
  // whose time ran out since the expiry above are left out as if gone.
  auto s = lease->db().prepare(
      "SELECT key, upload_id, created_ms, initiator FROM uploads WHERE bucket = ?1 "
      "AND (expires_ms IS NULL OR expires_ms > ?2) ORDER BY key, upload_id");
  if (!s) return core::fail(s.error());
  s->bind_text(1, bucket).bind_int(2, now);
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

}  // namespace imgflow::storage
