#pragma once

// Read-only SQLite connections for LocalStore's reads. Internal to storage.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "core/result.h"
#include "storage/sqlite.h"

namespace imgflow::storage::local {

// A few read-only connections beside the write connection, each lent to one thread at a time.
// In WAL mode a read transaction sees the last commit made before it began, whatever the writer
// does meanwhile, so reads never wait for a commit or its fsync. More than one connection so
// that concurrent readers (gateway requests, workers, the dispatcher) do not queue behind each
// other; not one per thread, since each connection keeps its own page cache. Thread-safe.
class ReadPool {
 public:
  // One connection inside one read transaction: every statement run through it sees the same
  // snapshot. Gives the connection back on destruction.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), db_(other.db_) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    sqlite::Database& db() { return *db_; }

   private:
    friend class ReadPool;
    Lease(ReadPool* pool, sqlite::Database* db) : pool_(pool), db_(db) {}
    ReadPool* pool_;
    sqlite::Database* db_;
  };

  // Opens `size` read-only connections to the database at `path`, which must exist, in WAL mode.
  static core::Result<std::unique_ptr<ReadPool>> open(const std::filesystem::path& path,
                                                      std::chrono::milliseconds busy_timeout,
                                                      std::size_t size);

  // Waits until a connection is free (never for the writer), and begins a read transaction.
  core::Result<Lease> acquire();

 private:
  explicit ReadPool(std::vector<sqlite::Database> dbs);
  void give_back(sqlite::Database* db);

  std::vector<sqlite::Database> dbs_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<sqlite::Database*> free_;  // guarded by mu_
};

}  // namespace imgflow::storage::local
