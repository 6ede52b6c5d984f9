#include "server/init.h"

#include "core/status_macros.h"
#include "server/app.h"

namespace aperture {

absl::StatusOr<std::string> InitializeDataDir(const DataDir& dir) {
  RETURN_IF_ERROR(InitDataDir(dir));
  { ASSIGN_OR_RETURN(auto created, store::SqliteStore::Open(dir.database(), /*create=*/true)); }
  ASSIGN_OR_RETURN(auto services, Services::Open(dir, DefaultConfig()));
  const Caller op = AccessService::Operator();
  ASSIGN_OR_RETURN(Principal owner, services->access->AddPrincipal(op, "owner", Role::kOwner));
  ASSIGN_OR_RETURN(CreatedKey key, services->access->CreateKey(op, owner.id, std::nullopt));
  return key.plaintext;
}

}  // namespace aperture
