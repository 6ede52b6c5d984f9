// A thin RAII layer over one sqlite3 connection: cached prepared statements,
// typed binding and reading, and Status errors. Not thread-safe: one owner at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aperture::store {

class SqliteDb;

// A prepared statement borrowed from the connection's cache; reset on destruction.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Statement(Statement&& other) noexcept : stmt_(other.stmt_), db_(other.db_) { other.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  // Binds each argument in order, starting at 1.
  template <typename... Args>
  Statement& BindAll(const Args&... args) {
    int i = 0;
    (Bind(++i, args), ...);
    return *this;
  }

  // true if a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Runs to completion (for writes).
  absl::Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
};

class SqliteDb {
 public:
  // Opens (creating if asked) the database with WAL, synchronous=FULL,
  // foreign keys on and a busy timeout, so several processes can share it.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path, bool create);
  ~SqliteDb();

  absl::Status Exec(const char* sql);
  absl::StatusOr<Statement> Prepare(const char* sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;  // keyed by the literal's address
};

// Maps a SQLite result code to a Status ("constraint" -> AlreadyExists, "busy" -> Unavailable...).
absl::Status SqliteError(sqlite3* db, int rc, std::string_view what);

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back if it fails.
template <typename F>
absl::Status InTransaction(SqliteDb& db, F&& body) {
  absl::Status s = db.Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = body();
  if (!s.ok()) {
    db.Exec("ROLLBACK").IgnoreError();
    return s;
  }
  s = db.Exec("COMMIT");
  if (!s.ok()) db.Exec("ROLLBACK").IgnoreError();
  return s;
}

}  // namespace aperture::store
