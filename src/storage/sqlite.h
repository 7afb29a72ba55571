#pragma once

// A thin owner of SQLite handles for LocalStore. Internal to storage: SQLite is linked
// privately, so no public header includes this one.

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace imgflow::storage::sqlite {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

// One prepared statement. Bind errors are remembered and reported by step(). Move-only.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  Statement& bind_text(int index, std::string_view text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_int(int index, std::int64_t value);
  Statement& bind_null(int index);

  // true: a row is available; false: done. kUnavailable when the database is busy.
  core::Result<bool> step();
  // Steps to completion, ignoring rows.
  core::Status run();

  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;  // TEXT or BLOB bytes, "" for NULL
  bool column_is_null(int index) const;

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt_;
  int bind_rc_ = SQLITE_OK;
};

// One connection. Not thread-safe: LocalStore lends each to one thread at a time (a mutex for
// the write connection, a pool for the read-only ones).
class Database {
 public:
  // Opens or creates the database file, in WAL mode with synchronous=FULL (a commit is durable
  // when it returns) and the given busy timeout.
  static core::Result<Database> open(const std::filesystem::path& path,
                                     std::chrono::milliseconds busy_timeout);
  // Opens an existing database, already in WAL mode, read-only: a read transaction on it sees
  // the last commit made before it began and never waits for a writer's commit.
  static core::Result<Database> open_readonly(const std::filesystem::path& path,
                                              std::chrono::milliseconds busy_timeout);

  core::Status exec(std::string_view sql);
  core::Result<Statement> prepare(std::string_view sql);
  std::int64_t changes() const { return sqlite3_changes64(db_.get()); }
  bool in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, DbClose> db_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back on destruction unless committed. The write lock is
// taken up front so a transaction never fails half-way with SQLITE_BUSY on upgrade.
class Transaction {
 public:
  static core::Result<Transaction> begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  core::Status commit();

 private:
  explicit Transaction(Database& db) : db_(&db) {}
  Database* db_;
};

// Maps an SQLite result code to an Error: busy and locked are kUnavailable, full disk too.
core::Error sqlite_error(sqlite3* db, int rc, std::string_view what);

}  // namespace imgflow::storage::sqlite
