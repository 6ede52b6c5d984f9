// SqliteStore: licences, acceptances, openness declarations,
// manifests and file digests (migration 12).
#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/statement_rows.h"

namespace aperture::store {
namespace {

#define LICENCE_COLS "id, model_id, spdx_id, name, text, sha256, accept_levels, set_by, set_at"

Licence ReadLicence(const Statement& s) {
  Licence l;
  l.id = s.Int(0);
  l.model_id = s.Text(1);
  l.spdx_id = s.Text(2);
  l.name = s.Text(3);
  l.text = s.Text(4);
  l.sha256 = s.Text(5);
  l.accept_levels = static_cast<uint32_t>(s.Int(6));
  l.set_by = s.Text(7);
  l.set_at = s.Int(8);
  return l;
}

#define DECLARATION_COLS "model_id, component, url, licence, note, declared_by, declared_at"

OpennessDeclaration ReadDeclaration(const Statement& s) {
  return OpennessDeclaration{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Int(6)};
}

#define MANIFEST_COLS "id, model_id, root_sha256, files, bundle, key_hint, log_entry, created_at"

ManifestRecord ReadManifest(const Statement& s) {
  return ManifestRecord{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6), s.Int(7)};
}

// A foreign-key failure (reported by the database layer as AlreadyExists on
// an insert) means the model is unknown.
absl::Status UnknownModel(const absl::Status& s, const std::string& model_id) {
  if (absl::IsAlreadyExists(s)) return absl::NotFoundError(fmt::format("no model with id '{}'", model_id));
  return s;
}

}  // namespace

absl::Status SqliteStore::SetLicence(const Licence& l) {
  return WriteWith(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto update,
                         db.Prepare("UPDATE models SET licence_sha256 = ?2, licence_levels = ?3 WHERE id = ?1"));
        RETURN_IF_ERROR(update.BindAll(l.model_id, l.sha256, static_cast<int64_t>(l.accept_levels)).Run());
        RETURN_IF_ERROR(ExpectOneChange(db, "model", l.model_id));
        ASSIGN_OR_RETURN(auto insert, db.Prepare("INSERT INTO licences (model_id, spdx_id, name, text, sha256, "
                                                 "accept_levels, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
        return insert
            .BindAll(l.model_id, l.spdx_id, l.name, l.text, l.sha256, static_cast<int64_t>(l.accept_levels), l.set_by,
                     l.set_at)
            .Run();
      },
      Cached::kChanged);
}

absl::StatusOr<std::optional<Licence>> SqliteStore::FindLicence(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT " LICENCE_COLS " FROM licences WHERE model_id = ? ORDER BY id DESC LIMIT 1"));
  stmt.BindAll(model_id);
  return One<Licence>(stmt, ReadLicence);
}

absl::StatusOr<std::vector<Licence>> SqliteStore::ListLicences(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " LICENCE_COLS " FROM licences WHERE model_id = ? ORDER BY id"));
  stmt.BindAll(model_id);
  return All<Licence>(stmt, ReadLicence);
}

absl::Status SqliteStore::AddLicenceAcceptance(const LicenceAcceptance& a) {
  return WriteWith(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto exists, db.Prepare("SELECT 1 FROM licence_acceptances WHERE principal_id = ? AND "
                                                 "model_id = ? AND licence_sha256 = ?"));
        exists.BindAll(a.principal_id, a.model_id, a.licence_sha256);
        ASSIGN_OR_RETURN(bool found, exists.Step());
        if (found) return absl::AlreadyExistsError("this licence text was already accepted");
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO licence_acceptances (principal_id, model_id, "
                                               "licence_sha256, accepted_at) VALUES (?, ?, ?, ?)"));
        absl::Status s = stmt.BindAll(a.principal_id, a.model_id, a.licence_sha256, a.accepted_at).Run();
        if (absl::IsAlreadyExists(s)) return absl::NotFoundError("the acceptance names an unknown principal or model");
        return s;
      },
      Cached::kUnchanged);
}

absl::StatusOr<bool> SqliteStore::HasAcceptedLicence(const std::string& principal_id, const std::string& model_id,
                                                     const std::string& licence_sha256) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT 1 FROM licence_acceptances WHERE principal_id = ? AND model_id = ? "
                                         "AND licence_sha256 = ?"));
  stmt.BindAll(principal_id, model_id, licence_sha256);
  return stmt.Step();
}

absl::Status SqliteStore::SetOpennessDeclaration(const OpennessDeclaration& d) {
  return WriteWith(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(
            auto stmt, db.Prepare("INSERT INTO openness_declarations (" DECLARATION_COLS
                                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (model_id, component) DO "
                                  "UPDATE SET url = ?3, licence = ?4, note = ?5, declared_by = ?6, declared_at = ?7"));
        return UnknownModel(
            stmt.BindAll(d.model_id, d.component, d.url, d.licence, d.note, d.declared_by, d.declared_at).Run(),
            d.model_id);
      },
      Cached::kUnchanged);
}

absl::Status SqliteStore::RemoveOpennessDeclaration(const std::string& model_id, const std::string& component) {
  return WriteWith(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare("DELETE FROM openness_declarations WHERE model_id = ? AND component = ?"));
        RETURN_IF_ERROR(stmt.BindAll(model_id, component).Run());
        if (db.Changes() == 0) {
          return absl::NotFoundError(
              fmt::format("model '{}' has no declaration for component '{}'", model_id, component));
        }
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::vector<OpennessDeclaration>> SqliteStore::ListOpennessDeclarations(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " DECLARATION_COLS
                                         " FROM openness_declarations WHERE model_id = ? ORDER BY component"));
  stmt.BindAll(model_id);
  return All<OpennessDeclaration>(stmt, ReadDeclaration);
}

absl::Status SqliteStore::AddManifest(const ManifestRecord& m) {
  return WriteWith(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO manifests (model_id, root_sha256, files, bundle, key_hint, "
                                               "log_entry, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
        return UnknownModel(
            stmt.BindAll(m.model_id, m.root_sha256, m.files, m.bundle, m.key_hint, m.log_entry, m.created_at).Run(),
            m.model_id);
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::optional<ManifestRecord>> SqliteStore::LatestManifest(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT " MANIFEST_COLS " FROM manifests WHERE model_id = ? ORDER BY id DESC LIMIT 1"));
  stmt.BindAll(model_id);
  return One<ManifestRecord>(stmt, ReadManifest);
}

absl::StatusOr<std::optional<Store::FileDigest>> SqliteStore::FindFileDigest(const std::string& path) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT identity, sha256 FROM file_digests WHERE path = ?"));
  stmt.BindAll(path);
  return One<FileDigest>(stmt, [](const Statement& s) { return FileDigest{s.Text(0), s.Text(1)}; });
}

absl::Status SqliteStore::SaveFileDigest(const std::string& path, const FileDigest& digest) {
  return WriteWith(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO file_digests (path, identity, sha256) VALUES (?1, ?2, ?3) "
                                               "ON CONFLICT (path) DO UPDATE SET identity = ?2, sha256 = ?3"));
        return stmt.BindAll(path, digest.identity, digest.sha256).Run();
      },
      Cached::kUnchanged);
}

}  // namespace aperture::store
