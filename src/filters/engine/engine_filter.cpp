#include "filters/engine/engine_filter.h"

#include "fmt/format.h"

namespace aperture {
namespace {

// What each capability needs of the engine, for the message.
const char* Needs(Capability c) {
  switch (c) {
    case Capability::kInspect:
    case Capability::kIntervene:
      return "research reads and changes the model's internals, which remote backends do not expose";
    case Capability::kEvaluate:
      return "evaluations score the model's own token probabilities in this server's engine";
    case Capability::kFinetune:
      return "fine-tuning trains on the weights in this server's engine";
    case Capability::kEmbed:
      return "embeddings are computed by this server's engine (remote backends serve completions only)";
    case Capability::kDownload:
      return "this server does not hold the model's weights";
    default:
      return nullptr;
  }
}

}  // namespace

std::optional<http::Response> EngineFilter::Apply(RequestContext& ctx) {
  if (!ctx.decision || !ctx.decision->model || !ctx.decision->model->path.empty()) return std::nullopt;
  for (Capability c : ctx.capabilities) {
    const char* why = Needs(c);
    if (why == nullptr) continue;
    ctx.Deny("needs_embedded_engine");
    return http::ErrorResponse(
        501,
        fmt::format("model '{}' is served only by remote backends; '{}' needs the embedded engine: {}", ctx.model_id,
                    CapabilityName(c), why),
        "needs_embedded_engine");
  }
  return std::nullopt;
}

}  // namespace aperture
