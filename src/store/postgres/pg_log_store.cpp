#include "store/postgres/pg_log_store.h"

#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/log_append_check.h"
#include "store/postgres/pg_migrations.h"

namespace aperture::store {
namespace {

// The advisory lock that serialises appends across replicas ("aprtlog").
constexpr int64_t kAppendLock = 0x61707274'6c6f6700;

constexpr char kSessionSetup[] =
    "SET application_name = 'aperture-log'; SET idle_in_transaction_session_timeout = '5s'; "
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3";

int64_t HashPrefix(std::string_view hash) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < hash.size(); ++i) v = (v << 8) | static_cast<uint8_t>(hash[i]);
  return static_cast<int64_t>(v);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgLogStore>> PgLogStore::Open(const std::string& url, bool create) {
  ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool, PgPool::Open(url, kSessionSetup));
  RETURN_IF_ERROR(PgMigrate(*pool));
  return std::unique_ptr<PgLogStore>(new PgLogStore(std::move(pool)));
}

absl::StatusOr<std::optional<LogHead>> PgLogStore::Head() {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<LogHead>> {
    pqxx::result r = tx.exec("SELECT size, root, origin, checkpoint, updated_at FROM log_head WHERE id = 1");
    if (r.empty()) return std::optional<LogHead>();
    return std::optional<LogHead>(LogHead{r[0][0].as<int64_t>(), PgBytes(r[0][1]), r[0][2].as<std::string>(),
                                          r[0][3].as<std::string>(), r[0][4].as<int64_t>()});
  });
}

absl::Status PgLogStore::Append(const LogAppend& a) {
  RETURN_IF_ERROR(CheckLogAppend(a));
  std::vector<int64_t> indices, prefixes, levels, node_indices, subject_indices;
  std::vector<std::string_view> entries, hashes, principals;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    indices.push_back(a.expected_size + static_cast<int64_t>(i));
    entries.push_back(a.entries[i]);
    prefixes.push_back(HashPrefix(a.leaf_hashes[i]));
  }
  for (const auto& [id, hash] : a.nodes) {
    levels.push_back(id.level);
    node_indices.push_back(id.index);
    hashes.push_back(hash);
  }
  for (const auto& [principal, index] : a.subjects) {
    principals.push_back(principal);
    subject_indices.push_back(index);
  }
  return pool_->Write([&](pqxx::work& tx) -> absl::Status {
    // Two statements, so the size is read after the lock is held (each gets
    // its own snapshot under read committed).
    pqxx::result head =
        tx.exec(fmt::format("SELECT pg_advisory_xact_lock({}); SELECT size FROM log_head WHERE id = 1", kAppendLock));
    const int64_t size = head.empty() ? 0 : head[0][0].as<int64_t>();
    if (size != a.expected_size) {
      return absl::AbortedError(
          fmt::format("the log has {} entries, not the {} this append continues from", size, a.expected_size));
    }
    tx.exec_params(
        "WITH e AS (INSERT INTO log_entries (idx, entry, prefix) "
        "  SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])), "
        "n AS (INSERT INTO log_nodes (level, idx, hash) "
        "  SELECT * FROM unnest($4::smallint[], $5::bigint[], $6::bytea[])), "
        "s AS (INSERT INTO log_subjects (principal, idx) "
        "  SELECT * FROM unnest($7::text[], $8::bigint[]) ON CONFLICT DO NOTHING) "
        "INSERT INTO log_head (id, size, root, origin, checkpoint, updated_at) VALUES (1, $9, $10, $11, $12, $13) "
        "ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root, origin = EXCLUDED.origin, "
        "checkpoint = EXCLUDED.checkpoint, updated_at = EXCLUDED.updated_at",
        PgIntArray(indices), PgByteaArray(entries), PgIntArray(prefixes), PgIntArray(levels), PgIntArray(node_indices),
        PgByteaArray(hashes), PgTextArray(principals), PgIntArray(subject_indices), a.head.size,
        pqxx::binarystring(a.head.root), a.head.origin, a.head.checkpoint, a.head.updated_at);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PgLogStore::Nodes(const std::vector<LogNodeId>& ids) {
  std::vector<int64_t> levels, indices;
  for (const LogNodeId& id : ids) {
    if (!ValidLogNode(id)) {
      return absl::NotFoundError(fmt::format("the log holds no hash for level {} index {}", id.level, id.index));
    }
    levels.push_back(id.level);
    indices.push_back(id.index);
  }
  if (ids.empty()) return std::string();
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::string> {
    pqxx::result r = tx.exec_params(
        "SELECT n.hash FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord) "
        "LEFT JOIN log_nodes n ON n.level = q.level AND n.idx = q.idx ORDER BY q.ord",
        PgIntArray(levels), PgIntArray(indices));
    std::string out;
    out.reserve(ids.size() * 32);
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i][0].is_null()) {
        return absl::NotFoundError(
            fmt::format("the log holds no hash for level {} index {}", ids[i].level, ids[i].index));
      }
      out += PgBytes(r[i][0]);
    }
    if (out.size() != ids.size() * 32) return absl::DataLossError("the log store returned malformed tree hashes");
    return out;
  });
}

absl::StatusOr<std::string> PgLogStore::NodeRange(int level, int64_t begin, int64_t end) {
  auto missing = [&](int64_t have) {
    return absl::NotFoundError(
        fmt::format("the log holds {} of the hashes at level {} from {} to {}", have, level, begin, end));
  };
  if (begin < 0 || begin > end || !ValidLogNode({level, begin}) || (end > begin && !ValidLogNode({level, end - 1}))) {
    return missing(0);
  }
  if (begin == end) return std::string();
  ASSIGN_OR_RETURN(std::string out, pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::string> {
    pqxx::result r = tx.exec_params(
        "SELECT hash FROM log_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx", level, begin, end);
    std::string hashes;
    hashes.reserve(r.size() * 32);
    for (const pqxx::row& row : r) hashes += PgBytes(row[0]);
    return hashes;
  }));
  if (static_cast<int64_t>(out.size()) != (end - begin) * 32) return missing(static_cast<int64_t>(out.size()) / 32);
  return out;
}

absl::StatusOr<std::vector<std::string>> PgLogStore::Entries(int64_t begin, int64_t end) {
  ASSIGN_OR_RETURN(std::vector<std::string> out,
                   pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<std::string>> {
                     pqxx::result r = tx.exec_params(
                         "SELECT entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", begin, end);
                     std::vector<std::string> entries;
                     entries.reserve(r.size());
                     for (const pqxx::row& row : r) entries.push_back(PgBytes(row[0]));
                     return entries;
                   }));
  if (static_cast<int64_t>(out.size()) != end - begin) {
    return absl::NotFoundError(fmt::format("the log holds {} of the entries from {} to {}", out.size(), begin, end));
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> PgLogStore::FindLeaf(const std::string& leaf_hash, int64_t size) {
  if (size <= 0) return std::optional<int64_t>();
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<int64_t>> {
    pqxx::result r = tx.exec_params(
        "SELECT e.idx FROM log_entries e JOIN log_nodes n ON n.level = 0 AND n.idx = e.idx "
        "WHERE e.prefix = $1 AND e.idx < $2 AND n.hash = $3 ORDER BY e.idx LIMIT 1",
        HashPrefix(leaf_hash), size, pqxx::binarystring(leaf_hash));
    if (r.empty()) return std::optional<int64_t>();
    return std::optional<int64_t>(r[0][0].as<int64_t>());
  });
}

absl::StatusOr<std::vector<int64_t>> PgLogStore::EntriesAbout(const std::string& principal, int64_t after,
                                                              int64_t limit) {
  if (limit <= 0) return std::vector<int64_t>();
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<int64_t>> {
    pqxx::result r =
        tx.exec_params("SELECT idx FROM log_subjects WHERE principal = $1 AND idx > $2 ORDER BY idx LIMIT $3",
                       principal, after, limit);
    std::vector<int64_t> out;
    out.reserve(r.size());
    for (const pqxx::row& row : r) out.push_back(row[0].as<int64_t>());
    return out;
  });
}

}  // namespace aperture::store
