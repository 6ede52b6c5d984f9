// EngineFilter: refuses, with 501, what only this server's own engine can
// do when the model has no weights here (it is served only by remote
// backends, which answer the OpenAI API and nothing else): research
// (inspect, intervene), evaluations, fine-tuning, embeddings and downloads.
// The message names the capability and why. Runs after authz, so a caller
// who may not do the thing at all hears that first.
//
// Thread-safety: thread-safe (stateless).
#pragma once

#include "filters/filter.h"

namespace aperture {

class EngineFilter final : public Filter {
 public:
  std::optional<http::Response> Apply(RequestContext& ctx) override;
};

}  // namespace aperture
