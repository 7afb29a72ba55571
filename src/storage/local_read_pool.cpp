#include "storage/local_read_pool.h"

#include <cassert>
#include <utility>

namespace imgflow::storage::local {

ReadPool::ReadPool(std::vector<sqlite::Database> dbs) : dbs_(std::move(dbs)) {
  for (auto& db : dbs_) free_.push_back(&db);
}

core::Result<std::unique_ptr<ReadPool>> ReadPool::open(const std::filesystem::path& path,
                                                       std::chrono::milliseconds busy_timeout,
                                                       std::size_t size) {
  std::vector<sqlite::Database> dbs;
  for (std::size_t i = 0; i < size; ++i) {
    auto db = sqlite::Database::open_readonly(path, busy_timeout);
    if (!db) return core::fail(db.error());
    dbs.push_back(std::move(*db));
  }
  return std::unique_ptr<ReadPool>(new ReadPool(std::move(dbs)));
}

core::Result<ReadPool::Lease> ReadPool::acquire() {
  sqlite::Database* db = nullptr;
  {
    std::unique_lock lock(mu_);
    freed_.wait(lock, [this] { return !free_.empty(); });
    db = free_.back();
    free_.pop_back();
  }
  Lease lease(this, db);  // from here on the connection goes back whatever happens
  // Deferred: the snapshot is taken by the first statement, and held until the lease ends.
  if (auto st = db->exec("BEGIN"); !st) return core::fail(st.error());
  return lease;
}

ReadPool::Lease::~Lease() {
  if (pool_ == nullptr) return;
  // A read transaction has nothing to keep: ROLLBACK ends it even with a statement still open.
  if (db_->in_transaction()) (void)db_->exec("ROLLBACK");
  // A connection left in a transaction would serve every later read from an old snapshot.
  assert(!db_->in_transaction());
  pool_->give_back(db_);
}

void ReadPool::give_back(sqlite::Database* db) {
  {
    const std::lock_guard lock(mu_);
    free_.push_back(db);
  }
  freed_.notify_one();
}

}  // namespace imgflow::storage::local
