// LocalStore's recovery, run by open() while the data-dir lock keeps everyone else out: what a
// crash can leave behind is removed, and what a dead process held is released.

#include <unistd.h>

#include <string>
#include <system_error>
#include <unordered_set>

#include "storage/local_store_impl.h"

namespace imgflow::storage {
namespace {

namespace stdfs = std::filesystem;

// Removes the regular files under `dir` whose names are not in `keep`; returns the count.
std::size_t remove_all_in(const stdfs::path& dir, const std::unordered_set<std::string>* keep) {
  std::size_t removed = 0;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (keep != nullptr && keep->contains(it->path().filename().string())) continue;
    if (::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace

// Removes temp files, and object files no row references (renamed, never committed; or
// superseded, and the unlink was lost in a crash).
core::Status LocalStore::Impl::recover() {
  std::unordered_set<std::string> referenced;
  auto s = write_db.prepare("SELECT file_id FROM objects UNION ALL SELECT file_id FROM parts");
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
  if (auto st = expire_uploads(); !st) return st;
  return release_leases();
}

// Leases taken before this open belong to a process that is gone: the data dir lock proves no
// other consumer runs. Their events are claimable now rather than when the lease would have
// run out (minutes after a crash). Retry delays of nacked events are kept.
core::Status LocalStore::Impl::release_leases() {
  auto s = write_db.prepare(
      "UPDATE outbox SET visible_at_ms = 0, status = 'pending' "
      "WHERE status = 'leased'");
  if (!s) return core::fail(s.error());
  if (auto st = s->run(); !st) return st;
  recovery.leases_released = static_cast<std::size_t>(write_db.changes());
  return {};
}

}  // namespace imgflow::storage
