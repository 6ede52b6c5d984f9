#include "server/init.h"

#include "core/status_macros.h"
#include "fmt/format.h"
#include "server/app.h"
#include "store/open_store.h"

namespace aperture {

absl::StatusOr<std::string> InitializeDataDir(const DataDir& dir) {
  if (!dir.store.empty()) {
    // A shared database already in use has its owners, and this directory's
    // new keys would match neither its log nor its API keys.
    ASSIGN_OR_RETURN(auto shared, store::OpenStore(dir.store, /*create=*/true));
    ASSIGN_OR_RETURN(std::vector<Principal> principals, shared->ListPrincipals());
    if (!principals.empty()) {
      return absl::AlreadyExistsError(fmt::format(
          "{} is already initialised; nothing was changed. Give this replica the data directory's signing.key and "
          "hash.key of a replica that uses it (docs/deploy.md)",
          store::RedactLocation(dir.store)));
    }
  }
  RETURN_IF_ERROR(InitDataDir(dir));
  { ASSIGN_OR_RETURN(auto created, store::OpenStore(dir.store_location(), /*create=*/true)); }
  ASSIGN_OR_RETURN(auto services, Services::Open(dir, DefaultConfig()));
  const Caller op = AccessService::Operator();
  ASSIGN_OR_RETURN(Principal owner, services->access->AddPrincipal(op, "owner", Role::kOwner));
  ASSIGN_OR_RETURN(CreatedKey key, services->access->CreateKey(op, owner.id, std::nullopt));
  return key.plaintext;
}

}  // namespace aperture
