// PgStore: licences, acceptances, openness declarations,
// manifests and file digests (PostgreSQL migration 5), with the same
// contract as sqlite_distribution.cpp.
#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

namespace aperture::store {
namespace {

using pg::All;
using pg::ExpectOneChange;
using pg::Int;
using pg::One;
using pg::Statement;
using pg::Text;

#define LICENCE_COLS "id, model_id, spdx_id, name, text, sha256, accept_levels, set_by, set_at"

Licence ReadLicence(const pqxx::row& r) {
  Licence l;
  l.id = Int(r[0]);
  l.model_id = Text(r[1]);
  l.spdx_id = Text(r[2]);
  l.name = Text(r[3]);
  l.text = Text(r[4]);
  l.sha256 = Text(r[5]);
  l.accept_levels = static_cast<uint32_t>(Int(r[6]));
  l.set_by = Text(r[7]);
  l.set_at = Int(r[8]);
  return l;
}

#define DECLARATION_COLS "model_id, component, url, licence, note, declared_by, declared_at"

OpennessDeclaration ReadDeclaration(const pqxx::row& r) {
  return OpennessDeclaration{Text(r[0]), Text(r[1]), Text(r[2]), Text(r[3]), Text(r[4]), Text(r[5]), Int(r[6])};
}

#define MANIFEST_COLS "id, model_id, root_sha256, files, bundle, key_hint, log_entry, created_at"

ManifestRecord ReadManifest(const pqxx::row& r) {
  return ManifestRecord{Int(r[0]), Text(r[1]), Text(r[2]), Text(r[3]), Text(r[4]), Text(r[5]), Text(r[6]), Int(r[7])};
}

// A foreign-key failure (reported as AlreadyExists, as every constraint
// violation) means the model is unknown.
absl::Status UnknownModel(const absl::Status& s, const std::string& model_id) {
  if (absl::IsAlreadyExists(s)) return absl::NotFoundError(fmt::format("no model with id '{}'", model_id));
  return s;
}

}  // namespace

absl::Status PgStore::SetLicence(const Licence& l) {
  return WriteTx(
      [&](pqxx::work& tx) -> absl::Status {
        RETURN_IF_ERROR(
            ExpectOneChange(tx.exec_params("UPDATE models SET licence_sha256 = $2, licence_levels = $3 WHERE id = $1",
                                           l.model_id, l.sha256, static_cast<int64_t>(l.accept_levels)),
                            "model", l.model_id));
        return Statement([&] {
          tx.exec_params(
              "INSERT INTO licences (model_id, spdx_id, name, text, sha256, accept_levels, set_by, set_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
              l.model_id, l.spdx_id, l.name, l.text, l.sha256, static_cast<int64_t>(l.accept_levels), l.set_by,
              l.set_at);
        });
      },
      Cached::kChanged);  // the model row carries the licence in force
}

absl::StatusOr<std::optional<Licence>> PgStore::FindLicence(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<Licence>> {
    return One<Licence>(
        tx.exec_params("SELECT " LICENCE_COLS " FROM licences WHERE model_id = $1 ORDER BY id DESC LIMIT 1", model_id),
        ReadLicence);
  });
}

absl::StatusOr<std::vector<Licence>> PgStore::ListLicences(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<Licence>> {
    return All<Licence>(
        tx.exec_params("SELECT " LICENCE_COLS " FROM licences WHERE model_id = $1 ORDER BY id", model_id), ReadLicence);
  });
}

absl::Status PgStore::AddLicenceAcceptance(const LicenceAcceptance& a) {
  return WriteTx(
      [&](pqxx::work& tx) -> absl::Status {
        pqxx::result exists = tx.exec_params(
            "SELECT 1 FROM licence_acceptances WHERE principal_id = $1 AND model_id = $2 AND "
            "licence_sha256 = $3",
            a.principal_id, a.model_id, a.licence_sha256);
        if (!exists.empty()) return absl::AlreadyExistsError("this licence text was already accepted");
        absl::Status s = Statement([&] {
          tx.exec_params(
              "INSERT INTO licence_acceptances (principal_id, model_id, licence_sha256, accepted_at) "
              "VALUES ($1, $2, $3, $4)",
              a.principal_id, a.model_id, a.licence_sha256, a.accepted_at);
        });
        if (absl::IsAlreadyExists(s)) return absl::NotFoundError("the acceptance names an unknown principal or model");
        return s;
      },
      Cached::kUnchanged);
}

absl::StatusOr<bool> PgStore::HasAcceptedLicence(const std::string& principal_id, const std::string& model_id,
                                                 const std::string& licence_sha256) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<bool> {
    return !tx.exec_params(
                  "SELECT 1 FROM licence_acceptances WHERE principal_id = $1 AND model_id = $2 AND "
                  "licence_sha256 = $3",
                  principal_id, model_id, licence_sha256)
                .empty();
  });
}

absl::Status PgStore::SetOpennessDeclaration(const OpennessDeclaration& d) {
  return WriteTx(
      [&](pqxx::work& tx) -> absl::Status {
        return UnknownModel(Statement([&] {
                              tx.exec_params("INSERT INTO openness_declarations (" DECLARATION_COLS
                                             ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (model_id, component) "
                                             "DO UPDATE SET url = EXCLUDED.url, licence = EXCLUDED.licence, note = "
                                             "EXCLUDED.note, declared_by = EXCLUDED.declared_by, declared_at = "
                                             "EXCLUDED.declared_at",
                                             d.model_id, d.component, d.url, d.licence, d.note, d.declared_by,
                                             d.declared_at);
                            }),
                            d.model_id);
      },
      Cached::kUnchanged);
}

absl::Status PgStore::RemoveOpennessDeclaration(const std::string& model_id, const std::string& component) {
  return WriteTx(
      [&](pqxx::work& tx) -> absl::Status {
        pqxx::result r = tx.exec_params("DELETE FROM openness_declarations WHERE model_id = $1 AND component = $2",
                                        model_id, component);
        if (r.affected_rows() == 0) {
          return absl::NotFoundError(
              fmt::format("model '{}' has no declaration for component '{}'", model_id, component));
        }
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::vector<OpennessDeclaration>> PgStore::ListOpennessDeclarations(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<OpennessDeclaration>> {
    return All<OpennessDeclaration>(
        tx.exec_params("SELECT " DECLARATION_COLS " FROM openness_declarations WHERE model_id = $1 ORDER BY component",
                       model_id),
        ReadDeclaration);
  });
}

absl::Status PgStore::AddManifest(const ManifestRecord& m) {
  return WriteTx(
      [&](pqxx::work& tx) -> absl::Status {
        return UnknownModel(Statement([&] {
                              tx.exec_params(
                                  "INSERT INTO manifests (model_id, root_sha256, files, bundle, key_hint, log_entry, "
                                  "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                  m.model_id, m.root_sha256, m.files, m.bundle, m.key_hint, m.log_entry, m.created_at);
                            }),
                            m.model_id);
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::optional<ManifestRecord>> PgStore::LatestManifest(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<ManifestRecord>> {
    return One<ManifestRecord>(
        tx.exec_params("SELECT " MANIFEST_COLS " FROM manifests WHERE model_id = $1 ORDER BY id DESC LIMIT 1",
                       model_id),
        ReadManifest);
  });
}

absl::StatusOr<std::optional<Store::FileDigest>> PgStore::FindFileDigest(const std::string& path) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<FileDigest>> {
    return One<FileDigest>(tx.exec_params("SELECT identity, sha256 FROM file_digests WHERE path = $1", path),
                           [](const pqxx::row& r) {
                             return FileDigest{Text(r[0]), Text(r[1])};
                           });
  });
}

absl::Status PgStore::SaveFileDigest(const std::string& path, const FileDigest& digest) {
  return WriteTx(
      [&](pqxx::work& tx) -> absl::Status {
        return Statement([&] {
          tx.exec_params(
              "INSERT INTO file_digests (path, identity, sha256) VALUES ($1, $2, $3) ON CONFLICT (path) DO UPDATE "
              "SET identity = EXCLUDED.identity, sha256 = EXCLUDED.sha256",
              path, digest.identity, digest.sha256);
        });
      },
      Cached::kUnchanged);
}

}  // namespace aperture::store
