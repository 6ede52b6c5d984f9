#include "store/postgres/pg_db.h"

#include "core/hex.h"
#include "fmt/format.h"

namespace aperture::store {
namespace {

// One line of a server message (libpqxx's what() ends with a newline and
// may add a line for the statement).
std::string FirstLine(const char* text) {
  std::string_view s(text);
  const size_t nl = s.find('\n');
  return std::string(nl == std::string_view::npos ? s : s.substr(0, nl));
}

// An array element in double quotes, with '"' and '\' escaped.
void AppendQuoted(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

absl::Status PgError(const std::exception& e, std::string_view what) {
  const std::string message = fmt::format("{}: {}", what, FirstLine(e.what()));
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    std::string text = FirstLine(e.what());
    if (text.find("password authentication") != std::string::npos ||
        text.find("no pg_hba.conf entry") != std::string::npos) {
      return absl::PermissionDeniedError(message);
    }
    if (text.find("does not exist") != std::string::npos) return absl::NotFoundError(message);
    return absl::UnavailableError(message);
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  if (sql == nullptr) return absl::InternalError(message);
  const std::string& state = sql->sqlstate();
  if (state.starts_with("23")) return absl::AlreadyExistsError(message);  // integrity constraint violation
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014" || state == "57P01" ||
      state.starts_with("08") || state == "53300") {
    // serialization failure, deadlock, lock or statement timeout, admin
    // shutdown, connection errors, too many connections: try again later
    return absl::UnavailableError(message);
  }
  if (state.starts_with("28") || state == "42501") return absl::PermissionDeniedError(message);
  if (state == "3D000") return absl::NotFoundError(message);
  if (state.starts_with("22")) return absl::InvalidArgumentError(message);  // data exception
  return absl::InternalError(message);
}

std::string PgInDoubtMessage(const std::exception& e) {
  return fmt::format(
      "postgresql: the connection was lost during COMMIT, so whether the write took effect is unknown; check before "
      "retrying ({})",
      FirstLine(e.what()));
}

std::string PgBytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

std::string PgIntArray(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string PgByteaArray(const std::vector<std::string_view>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    // "\\x0a1b...": the array parser turns \\ into \, bytea reads \x as hex.
    out += "\"\\\\x";
    out += HexEncode(values[i]);
    out += '"';
  }
  out += '}';
  return out;
}

std::string PgTextArray(const std::vector<std::string_view>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    AppendQuoted(out, values[i]);
  }
  out += '}';
  return out;
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Open(std::string url, std::string setup) {
  std::unique_ptr<PgPool> pool(new PgPool(std::move(url), std::move(setup)));
  absl::StatusOr<std::unique_ptr<pqxx::connection>> first = pool->Acquire();
  if (!first.ok()) return first.status();
  pool->Release(*std::move(first));
  return pool;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Connect() const {
  try {
    auto conn = std::make_unique<pqxx::connection>(url_);
    if (!setup_.empty()) {
      pqxx::nontransaction tx(*conn);
      tx.exec(setup_);
    }
    return conn;
  } catch (const std::exception& e) {
    return PgError(e, "cannot connect to PostgreSQL");
  }
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return Connect();
}

void PgPool::Release(std::unique_ptr<pqxx::connection> c) {
  if (!c->is_open()) return;
  absl::MutexLock lock(&mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

}  // namespace aperture::store
