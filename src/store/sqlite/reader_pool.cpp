#include "store/sqlite/reader_pool.h"

#include "core/status_macros.h"

namespace aperture::store {

PooledReader::~PooledReader() {
  if (db_) pool_->Release(std::move(db_));
}

absl::StatusOr<PooledReader> ReaderPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      std::unique_ptr<SqliteDb> db = std::move(free_.back());
      free_.pop_back();
      return PooledReader(this, std::move(db));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(path_, /*create=*/false));
  if (tune_) RETURN_IF_ERROR(tune_(*db));
  return PooledReader(this, std::move(db));
}

void ReaderPool::Release(std::unique_ptr<SqliteDb> db) {
  absl::MutexLock lock(&mu_);
  free_.push_back(std::move(db));
}

}  // namespace aperture::store
