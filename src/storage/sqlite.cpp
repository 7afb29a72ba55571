#include "storage/sqlite.h"

namespace imgflow::storage::sqlite {

core::Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  std::string message = "database: " + std::string(what) + ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xFF;
  const bool transient =
      primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL;
  return core::Error{transient ? core::ErrorCode::kUnavailable : core::ErrorCode::kInternal,
                     std::move(message)};
}

Statement& Statement::bind_text(int index, std::string_view text) {
  const int rc = sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()),
                                   SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const char kEmpty = 0;
  const int rc = sqlite3_bind_blob(stmt_.get(), index, bytes.empty() ? &kEmpty : bytes.data(),
                                   static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_int(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_.get(), index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

core::Result<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) return core::fail(sqlite_error(db_, bind_rc_, "bind"));
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return core::fail(sqlite_error(db_, rc, sqlite3_sql(stmt_.get())));
}

core::Status Statement::run() {
  while (true) {
    auto row = step();
    if (!row) return core::fail(row.error());
    if (!*row) return {};
  }
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_.get(), index);
}

std::string Statement::column_text(int index) const {
  const void* data = sqlite3_column_blob(stmt_.get(), index);
  const int size = sqlite3_column_bytes(stmt_.get(), index);
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

core::Result<Database> Database::open(const std::filesystem::path& path,
                                      std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  Database db(raw);  // owns the handle even when open failed
  if (rc != SQLITE_OK) {
    return core::fail(sqlite_error(raw, rc, "cannot open " + path.string()));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
  // WAL: readers never block the writer; FULL: the WAL is fsynced at every commit, so a
  // committed object row and its outbox event survive power loss.
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=OFF"}) {
    if (auto st = db.exec(pragma); !st) return core::fail(st.error());
  }
  return db;
}

core::Result<Database> Database::open_readonly(const std::filesystem::path& path,
                                               std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr);
  Database db(raw);  // owns the handle even when open failed
  if (rc != SQLITE_OK) {
    return core::fail(sqlite_error(raw, rc, "cannot open " + path.string() + " to read"));
  }
  sqlite3_extended_result_codes(raw, 1);
  // A WAL reader waits only in rare moments (the WAL being reset or recovered), not for commits.
  sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
  return db;
}

core::Status Database::exec(std::string_view sql) {
  char* errmsg = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &errmsg);
  sqlite3_free(errmsg);
  if (rc != SQLITE_OK) return core::fail(sqlite_error(db_.get(), rc, text));
  return {};
}

core::Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  Statement out(db_.get(), stmt);
  if (rc != SQLITE_OK) return core::fail(sqlite_error(db_.get(), rc, sql));
  return out;
}

core::Result<Transaction> Transaction::begin(Database& db) {
  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) return core::fail(st.error());
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->exec("ROLLBACK");
}

core::Status Transaction::commit() {
  auto st = db_->exec("COMMIT");
  if (st) db_ = nullptr;
  return st;
}

}  // namespace imgflow::storage::sqlite
