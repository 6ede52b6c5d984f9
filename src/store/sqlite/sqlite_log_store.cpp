#include "store/sqlite/sqlite_log_store.h"

#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/sqlite/migrations.h"

namespace aperture::store {
namespace {

// Node ids: level * 2^48 + index. 2^48 leaves is far beyond any real log.
constexpr int kLevelShift = 48;
constexpr int64_t kMaxIndex = (int64_t{1} << kLevelShift) - 1;
// Leaf hashes and subjects are indexed per bucket of 2^12 leaves (migration 4).
constexpr int kBucketShift = 12;

int64_t NodeKey(LogNodeId id) { return (int64_t{id.level} << kLevelShift) | id.index; }

int64_t HashPrefix(std::string_view hash) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < hash.size(); ++i) v = (v << 8) | static_cast<uint8_t>(hash[i]);
  return static_cast<int64_t>(v);
}

// Memory-mapped reads spare a system call per page on the proof path.
absl::Status Tune(SqliteDb& db, bool writer) {
  RETURN_IF_ERROR(db.Exec("PRAGMA mmap_size=2147418112"));
  if (!writer) return db.Exec("PRAGMA cache_size=-16384");
  // Fewer, larger WAL checkpoints: each one is an fsync on the append path.
  RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint=8192"));
  return db.Exec("PRAGMA cache_size=-65536");
}

// Multi-row INSERTs: one statement per kRowsPerInsert rows costs far less
// than one per row, and appends are what the log does most.
constexpr size_t kRowsPerInsert = 64;

struct InsertSql {
  const char* head;     // "INSERT INTO t (a, b) VALUES "
  const char* one_row;  // "(?, ?)"
  int columns;
  std::string one;  // built once: the single-row and the multi-row forms
  std::string many;
};

InsertSql MakeInsert(const char* head, const char* row, int columns) {
  InsertSql sql{head, row, columns, std::string(head) + row, std::string(head)};
  for (size_t i = 0; i < kRowsPerInsert; ++i) sql.many += (i ? ", " : "") + std::string(row);
  return sql;
}

const InsertSql kEntries = MakeInsert("INSERT INTO log_entries (idx, entry) VALUES ", "(?, ?)", 2);
const InsertSql kLeafIndex = MakeInsert("INSERT INTO log_leaf_index (bucket, prefix, idx) VALUES ", "(?, ?, ?)", 3);
const InsertSql kNodes = MakeInsert("INSERT INTO log_nodes (id, hash) VALUES ", "(?, ?)", 2);
const InsertSql kSubjects =
    MakeInsert("INSERT OR IGNORE INTO log_subjects (bucket, principal, idx) VALUES ", "(?, ?, ?)", 3);

// Inserts `count` rows, bind(statement, first column, row) binding each.
template <typename BindRow>
absl::Status InsertRows(SqliteDb& db, const InsertSql& sql, size_t count, BindRow bind) {
  size_t i = 0;
  for (; i + kRowsPerInsert <= count; i += kRowsPerInsert) {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql.many.c_str()));
    for (size_t r = 0; r < kRowsPerInsert; ++r) bind(stmt, static_cast<int>(r) * sql.columns + 1, i + r);
    RETURN_IF_ERROR(stmt.Run());
  }
  for (; i < count; ++i) {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql.one.c_str()));
    bind(stmt, 1, i);
    RETURN_IF_ERROR(stmt.Run());
  }
  return absl::OkStatus();
}

}  // namespace

class SqliteLogStore::Reader {
 public:
  Reader(SqliteLogStore* store, std::unique_ptr<SqliteDb> db) : store_(store), db_(std::move(db)) {}
  Reader(Reader&&) = default;
  ~Reader() {
    if (db_) store_->ReleaseReader(std::move(db_));
  }
  SqliteDb* operator->() { return db_.get(); }

 private:
  SqliteLogStore* store_;
  std::unique_ptr<SqliteDb> db_;
};

absl::StatusOr<std::unique_ptr<SqliteLogStore>> SqliteLogStore::Open(const std::string& path, bool create) {
  if (path.empty() || path == ":memory:") return absl::InvalidArgumentError("the SQLite log store needs a file path");
  std::unique_ptr<SqliteLogStore> store(new SqliteLogStore(path));
  ASSIGN_OR_RETURN(auto writer, SqliteDb::Open(path, create));
  RETURN_IF_ERROR(Migrate(*writer));
  RETURN_IF_ERROR(Tune(*writer, /*writer=*/true));
  absl::MutexLock lock(&store->write_mu_);
  store->writer_ = std::move(writer);
  return store;
}

absl::StatusOr<SqliteLogStore::Reader> SqliteLogStore::AcquireReader() {
  {
    absl::MutexLock lock(&pool_mu_);
    if (!readers_.empty()) {
      auto db = std::move(readers_.back());
      readers_.pop_back();
      return Reader(this, std::move(db));
    }
  }
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path_, /*create=*/false));
  RETURN_IF_ERROR(Tune(*db, /*writer=*/false));
  return Reader(this, std::move(db));
}

void SqliteLogStore::ReleaseReader(std::unique_ptr<SqliteDb> db) {
  absl::MutexLock lock(&pool_mu_);
  readers_.push_back(std::move(db));
}

absl::StatusOr<std::optional<LogHead>> SqliteLogStore::Head() {
  ASSIGN_OR_RETURN(auto r, AcquireReader());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT size, root, origin, checkpoint, updated_at FROM log_head WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<LogHead>();
  return std::optional<LogHead>(LogHead{stmt.Int(0), stmt.Text(1), stmt.Text(2), stmt.Text(3), stmt.Int(4)});
}

absl::Status SqliteLogStore::Append(const LogAppend& a) {
  if (a.entries.size() != a.leaf_hashes.size() ||
      a.head.size != a.expected_size + static_cast<int64_t>(a.entries.size()) || a.head.size > kMaxIndex) {
    return absl::InvalidArgumentError("a log append must give one leaf hash per entry and the matching new size");
  }
  absl::MutexLock lock(&write_mu_);
  SqliteDb& db = *writer_;
  return InTransaction(db, [&]() -> absl::Status {
    int64_t size = 0;
    {
      ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT size FROM log_head WHERE id = 1"));
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) size = stmt.Int(0);
    }
    if (size != a.expected_size) {
      return absl::AbortedError(
          fmt::format("the log has {} entries, not the {} this append continues from", size, a.expected_size));
    }
    for (const auto& [id, hash] : a.nodes) {
      if (id.level < 0 || id.level > 62 || id.index < 0 || id.index > kMaxIndex) {
        return absl::InvalidArgumentError(fmt::format("no tree node at level {} index {}", id.level, id.index));
      }
    }
    const int64_t first = a.expected_size;
    RETURN_IF_ERROR(InsertRows(db, kEntries, a.entries.size(), [&](Statement& st, int col, size_t i) {
      st.Bind(col, first + static_cast<int64_t>(i)).BindBlob(col + 1, a.entries[i]);
    }));
    RETURN_IF_ERROR(InsertRows(db, kLeafIndex, a.leaf_hashes.size(), [&](Statement& st, int col, size_t i) {
      const int64_t idx = first + static_cast<int64_t>(i);
      st.Bind(col, idx >> kBucketShift).Bind(col + 1, HashPrefix(a.leaf_hashes[i])).Bind(col + 2, idx);
    }));
    RETURN_IF_ERROR(InsertRows(db, kNodes, a.nodes.size(), [&](Statement& st, int col, size_t i) {
      st.Bind(col, NodeKey(a.nodes[i].first)).BindBlob(col + 1, a.nodes[i].second);
    }));
    RETURN_IF_ERROR(InsertRows(db, kSubjects, a.subjects.size(), [&](Statement& st, int col, size_t i) {
      st.Bind(col, a.subjects[i].second >> kBucketShift)
          .Bind(col + 1, a.subjects[i].first)
          .Bind(col + 2, a.subjects[i].second);
    }));
    ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare(
            "INSERT INTO log_head (id, size, root, origin, checkpoint, updated_at) VALUES (1, ?1, ?2, ?3, ?4, ?5) "
            "ON CONFLICT (id) DO UPDATE SET size = ?1, root = ?2, origin = ?3, checkpoint = ?4, updated_at = ?5"));
    return stmt.Bind(1, a.head.size)
        .BindBlob(2, a.head.root)
        .Bind(3, a.head.origin)
        .Bind(4, a.head.checkpoint)
        .Bind(5, a.head.updated_at)
        .Run();
  });
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::Nodes(const std::vector<LogNodeId>& ids) {
  ASSIGN_OR_RETURN(auto r, AcquireReader());
  std::vector<std::string> out;
  out.reserve(ids.size());
  // One read transaction for all the look-ups: each statement on its own
  // would take and drop the file locks (several system calls) every time.
  RETURN_IF_ERROR(r->Exec("BEGIN"));
  absl::Status status;
  for (const LogNodeId& id : ids) {
    absl::StatusOr<Statement> stmt = r->Prepare("SELECT hash FROM log_nodes WHERE id = ?");
    if (!stmt.ok()) {
      status = stmt.status();
      break;
    }
    absl::StatusOr<bool> row = stmt->Bind(1, NodeKey(id)).Step();
    if (!row.ok() || !*row) {
      status = row.ok()
                   ? absl::NotFoundError(fmt::format("the log holds no hash for level {} index {}", id.level, id.index))
                   : row.status();
      break;
    }
    out.push_back(stmt->Text(0));
  }
  r->Exec("COMMIT").IgnoreError();
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::NodeRange(int level, int64_t begin, int64_t end) {
  ASSIGN_OR_RETURN(auto r, AcquireReader());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT hash FROM log_nodes WHERE id >= ? AND id < ? ORDER BY id"));
  stmt.Bind(1, NodeKey({level, begin})).Bind(2, NodeKey({level, end}));
  std::vector<std::string> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(stmt.Text(0));
  }
  if (static_cast<int64_t>(out.size()) != end - begin) {
    return absl::NotFoundError(
        fmt::format("the log holds {} of the hashes at level {} from {} to {}", out.size(), level, begin, end));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::Entries(int64_t begin, int64_t end) {
  ASSIGN_OR_RETURN(auto r, AcquireReader());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx"));
  stmt.Bind(1, begin).Bind(2, end);
  std::vector<std::string> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(stmt.Text(0));
  }
  if (static_cast<int64_t>(out.size()) != end - begin) {
    return absl::NotFoundError(fmt::format("the log holds {} of the entries from {} to {}", out.size(), begin, end));
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> SqliteLogStore::FindLeaf(const std::string& leaf_hash, int64_t size) {
  if (size <= 0) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(auto r, AcquireReader());
  const int64_t prefix = HashPrefix(leaf_hash);
  // All buckets in one read transaction: the file locks are taken once.
  RETURN_IF_ERROR(r->Exec("BEGIN"));
  absl::StatusOr<std::optional<int64_t>> found = std::optional<int64_t>();
  for (int64_t bucket = 0; bucket <= (size - 1) >> kBucketShift && found.ok() && !found->has_value(); ++bucket) {
    found = [&]() -> absl::StatusOr<std::optional<int64_t>> {
      std::vector<int64_t> candidates;
      {
        ASSIGN_OR_RETURN(auto stmt,
                         r->Prepare("SELECT idx FROM log_leaf_index WHERE bucket = ? AND prefix = ? ORDER BY idx"));
        stmt.Bind(1, bucket).Bind(2, prefix);
        for (;;) {
          ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          candidates.push_back(stmt.Int(0));
        }
      }
      for (int64_t idx : candidates) {
        if (idx >= size) continue;
        ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT hash FROM log_nodes WHERE id = ?"));
        ASSIGN_OR_RETURN(bool row, stmt.Bind(1, NodeKey({0, idx})).Step());
        if (row && stmt.Text(0) == leaf_hash) return std::optional<int64_t>(idx);
      }
      return std::optional<int64_t>();
    }();
  }
  r->Exec("COMMIT").IgnoreError();
  return found;
}

absl::StatusOr<std::vector<int64_t>> SqliteLogStore::EntriesAbout(const std::string& principal, int64_t after,
                                                                  int64_t limit) {
  ASSIGN_OR_RETURN(auto r, AcquireReader());
  RETURN_IF_ERROR(r->Exec("BEGIN"));
  absl::StatusOr<std::vector<int64_t>> out = [&]() -> absl::StatusOr<std::vector<int64_t>> {
    int64_t last = -1;
    {
      ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT MAX(idx) FROM log_entries"));
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) last = stmt.Int(0);
    }
    std::vector<int64_t> found;
    for (int64_t bucket = std::max<int64_t>(after + 1, 0) >> kBucketShift;
         bucket <= last >> kBucketShift && static_cast<int64_t>(found.size()) < limit; ++bucket) {
      ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT idx FROM log_subjects WHERE bucket = ? AND principal = ? "
                                             "AND idx > ? ORDER BY idx LIMIT ?"));
      stmt.Bind(1, bucket).Bind(2, principal).Bind(3, after).Bind(4, limit - static_cast<int64_t>(found.size()));
      for (;;) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        found.push_back(stmt.Int(0));
      }
    }
    return found;
  }();
  r->Exec("COMMIT").IgnoreError();
  return out;
}

}  // namespace aperture::store
