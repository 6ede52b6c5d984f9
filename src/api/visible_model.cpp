#include "api/visible_model.h"

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {

absl::StatusOr<VisibleModel> FindVisibleModel(ApiDeps& d, RequestContext& ctx) {
  ASSIGN_OR_RETURN(std::optional<Model> model, d.store.FindModel(ctx.model_id));
  Authorizer::Levels levels;
  if (model) {
    ASSIGN_OR_RETURN(levels, d.authorizer.LevelsOn(ctx.caller, *model));
  }
  if (!model || !ModelVisible(ctx.caller, levels.held)) {
    ctx.Deny("model_not_found");
    return absl::NotFoundError(
        fmt::format("The model '{}' does not exist or you do not have access to it.", ctx.model_id));
  }
  return VisibleModel{*std::move(model), levels};
}

}  // namespace aperture
