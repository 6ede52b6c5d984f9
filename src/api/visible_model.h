// The model a model-scoped route names, when the caller may know it exists:
// closed and staged models look missing to outsiders, as in /v1/models.
// Routes that serve something public about a model (its licence, card,
// manifest, openness card, report) use this instead of a capability.
#pragma once

#include "absl/status/statusor.h"
#include "access/authorizer.h"
#include "api/api_deps.h"
#include "filters/request_context.h"

namespace aperture {

struct VisibleModel {
  Model model;
  Authorizer::Levels levels;  // the caller's held and effective levels on it
};

// NotFound ("The model 'x' does not exist or you do not have access to
// it.") for an unknown or invisible model, after marking the request denied.
absl::StatusOr<VisibleModel> FindVisibleModel(ApiDeps& d, RequestContext& ctx);

}  // namespace aperture
