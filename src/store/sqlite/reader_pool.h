// ReaderPool: reader connections to one SQLite file, reused across calls so
// a request-path read does not open a connection (and parse the schema)
// each time. A connection is taken for one call and given back when its
// PooledReader goes out of scope; the pool opens a new one when all are in
// use, so it holds at most as many as were ever used at once (one per
// thread reading at the same moment).
//
// Usage:
//   ReaderPool pool(path, /*tune=*/nullptr);
//   ASSIGN_OR_RETURN(PooledReader r, pool.Acquire());
//   ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT ..."));
//
// Thread-safe; a PooledReader belongs to one thread while it lives.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {

class ReaderPool;

// One borrowed connection; returns it to its pool when destroyed.
class PooledReader {
 public:
  PooledReader(ReaderPool* pool, std::unique_ptr<SqliteDb> db) : pool_(pool), db_(std::move(db)) {}
  PooledReader(PooledReader&&) = default;
  PooledReader& operator=(PooledReader&&) = delete;
  ~PooledReader();

  SqliteDb* operator->() { return db_.get(); }
  SqliteDb& operator*() { return *db_; }

 private:
  ReaderPool* pool_;
  std::unique_ptr<SqliteDb> db_;
};

class ReaderPool {
 public:
  // `tune`, when set, runs once on each connection the pool opens (pragmas).
  ReaderPool(std::string path, std::function<absl::Status(SqliteDb&)> tune)
      : path_(std::move(path)), tune_(std::move(tune)) {}

  // A pooled connection, or a newly opened one when none is free.
  absl::StatusOr<PooledReader> Acquire();

 private:
  friend class PooledReader;
  void Release(std::unique_ptr<SqliteDb> db);

  const std::string path_;
  const std::function<absl::Status(SqliteDb&)> tune_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<SqliteDb>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture::store
