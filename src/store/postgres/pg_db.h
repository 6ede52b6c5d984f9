// A thin layer over libpqxx for the PostgreSQL stores: a pool of
// connections to one database, transactions that turn libpqxx's exceptions
// into absl::Status values (nothing above this file sees an exception), and
// the few conversions the stores need (bytea, array parameters).
//
// Limits: a connection found broken (the server restarted, a network blip)
// is dropped and the call tried once more on a fresh one, which is safe: a
// transaction that broke before its COMMIT changed nothing. A COMMIT whose
// outcome is unknown (the connection broke during it) is Unavailable, and
// says so. The pool keeps at most `kMaxIdle` idle connections; it opens one
// whenever all are busy, so it holds at most one per thread using it at once.
//
// Usage:
//   ASSIGN_OR_RETURN(auto pool, PgPool::Open(url));
//   absl::Status s = pool->Write([&](pqxx::work& tx) -> absl::Status {
//     tx.exec_params("UPDATE ... WHERE id = $1", id);
//     return absl::OkStatus();
//   });
//   absl::StatusOr<int64_t> n = pool->Read([&](pqxx::transaction_base& tx) -> absl::StatusOr<int64_t> {
//     return tx.exec("SELECT count(*) FROM t")[0][0].as<int64_t>();
//   });
//
// Thread-safety: PgPool is thread-safe; a connection belongs to one call.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace aperture::store {

// Maps a libpqxx exception to a Status: integrity violations (unique,
// foreign key, check) are AlreadyExists, as SqliteError maps SQLite's
// constraint errors, so the stores map both the same way; lost connections,
// lock and statement timeouts are Unavailable; a refused login or a missing
// database is PermissionDenied or NotFound.
absl::Status PgError(const std::exception& e, std::string_view what);

// The message for a COMMIT whose outcome is unknown.
std::string PgInDoubtMessage(const std::exception& e);
// The bytes of a bytea field.
std::string PgBytes(const pqxx::field& f);
// Array literals for parameters ($1::bigint[], $1::bytea[], $1::text[]),
// so that many rows go in one statement.
std::string PgIntArray(const std::vector<int64_t>& values);
std::string PgByteaArray(const std::vector<std::string_view>& values);
std::string PgTextArray(const std::vector<std::string_view>& values);

class PgPool {
 public:
  // Checks that the database answers. `setup` statements run on every
  // connection the pool opens (session settings).
  static absl::StatusOr<std::unique_ptr<PgPool>> Open(std::string url, std::string setup = "");

  // Runs `body(tx)` in one read-committed transaction and commits it if
  // `body` returns OK; anything else (an error status or an exception)
  // rolls it back. `body` returns absl::Status or absl::StatusOr<T>.
  template <typename F>
  auto Write(F&& body) -> decltype(body(std::declval<pqxx::work&>()));
  // Runs `body(tx)` outside any explicit transaction (each statement
  // commits on its own: one round trip for a single SELECT).
  template <typename F>
  auto Read(F&& body) -> decltype(body(std::declval<pqxx::nontransaction&>()));

  const std::string& url() const { return url_; }
  // Opens a connection of its own (for a listener or a lock holder), with
  // the pool's session settings.
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect() const;

 private:
  static constexpr size_t kMaxIdle = 16;
  PgPool(std::string url, std::string setup) : url_(std::move(url)), setup_(std::move(setup)) {}

  // A pooled connection, or a new one.
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> c);

  template <typename Tx, typename F>
  auto Run(F&& body) -> decltype(body(std::declval<Tx&>()));

  const std::string url_;
  const std::string setup_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
};

namespace pg_internal {
template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace pg_internal

template <typename Tx, typename F>
auto PgPool::Run(F&& body) -> decltype(body(std::declval<Tx&>())) {
  using Result = decltype(body(std::declval<Tx&>()));
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = Acquire();
    if (!conn.ok()) return Result(conn.status());
    try {
      Tx tx(**conn);
      Result result = body(tx);
      if (pg_internal::StatusOf(result).ok()) {
        tx.commit();
      } else {
        tx.abort();
      }
      Release(*std::move(conn));
      return result;
    } catch (const pqxx::in_doubt_error& e) {
      return Result(absl::UnavailableError(PgInDoubtMessage(e)));
    } catch (const pqxx::broken_connection& e) {
      if (attempt == 0) continue;  // a stale pooled connection: once more, on a new one
      return Result(PgError(e, "postgresql"));
    } catch (const pqxx::sql_error& e) {
      // The server refused a statement; the transaction was rolled back as
      // it unwound and the connection is fine.
      Release(*std::move(conn));
      return Result(PgError(e, "postgresql"));
    } catch (const std::exception& e) {
      // The connection may be mid-transaction or broken: it is not reused.
      return Result(PgError(e, "postgresql"));
    }
  }
}

template <typename F>
auto PgPool::Write(F&& body) -> decltype(body(std::declval<pqxx::work&>())) {
  return Run<pqxx::work>(std::forward<F>(body));
}

template <typename F>
auto PgPool::Read(F&& body) -> decltype(body(std::declval<pqxx::nontransaction&>())) {
  return Run<pqxx::nontransaction>(std::forward<F>(body));
}

}  // namespace aperture::store
