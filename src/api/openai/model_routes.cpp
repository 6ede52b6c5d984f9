#include "api/openai/model_routes.h"

#include <fstream>

#include "api/views.h"
#include "core/status_macros.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"

namespace aperture {
namespace {

// Authorization passed, but this capability has no implementation in this
// server yet (research access and evaluations arrive with their issues).
http::Response CapabilityMissing(RequestContext& ctx) {
  return http::ErrorResponse(
      501,
      fmt::format("'{}' on '{}' was authorized at level '{}', but this server does not offer it yet", ctx.route->name,
                  ctx.model_id, LevelName(ctx.decision->level)),
      "capability_unavailable");
}

// Streams a file in 1 MiB chunks.
class FileChunkSource final : public http::ChunkSource {
 public:
  explicit FileChunkSource(const std::string& path) : in_(path, std::ios::binary) {}
  bool ok() const { return static_cast<bool>(in_); }
  void Next(std::function<void(std::optional<std::string>)> ready) override {
    std::string chunk(1 << 20, '\0');
    in_.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<size_t>(in_.gcount()));
    ready(chunk.empty() ? std::nullopt : std::optional<std::string>(std::move(chunk)));
  }
  void Cancel() override {}

 private:
  std::ifstream in_;
};

}  // namespace

void AddModelRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET", "/v1/models", "models.list", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
                auto models = d.store.ListModels();
                if (!models.ok()) return StatusResponse(models.status());
                Json data = Json::array();
                for (const Model& m : *models) {
                  auto levels = d.authorizer.LevelsOn(ctx.caller, m);
                  if (!levels.ok()) return StatusResponse(levels.status());
                  if (ModelVisible(ctx.caller, levels->held)) data.push_back(View(m, levels->effective, levels->held));
                }
                return JsonResponse({{"object", "list"}, {"data", std::move(data)}});
              }});
  router.Add(
      {"GET", "/v1/models/{model}", "models.get", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
         const std::string id = ctx.PathParam("model");
         auto model = d.store.FindModel(id);
         if (!model.ok()) return StatusResponse(model.status());
         absl::StatusOr<Authorizer::Levels> levels = Authorizer::Levels{};
         if (*model) levels = d.authorizer.LevelsOn(ctx.caller, **model);
         if (!levels.ok()) return StatusResponse(levels.status());
         if (!*model || !ModelVisible(ctx.caller, levels->held)) {
           ctx.Deny("model_not_found");
           return http::ErrorResponse(404,
                                      fmt::format("The model '{}' does not exist or you do not have access to it.", id),
                                      "model_not_found", "model");
         }
         return JsonResponse(View(**model, levels->effective, levels->held));
       }});

  struct PendingRoute {
    const char* path;
    const char* name;
    Capability capability;
  };
  for (const PendingRoute& r : {PendingRoute{"/v1/fine_tuning/jobs", "fine_tuning.jobs", Capability::kFinetune}}) {
    router.Add({"POST", r.path, r.name, Access::kAnyone, ModelFrom::kBody, r.capability, {}, CapabilityMissing});
  }

  router.Add({"GET",
              "/v1/models/{model}/download",
              "models.download",
              Access::kAnyone,
              ModelFrom::kPath,
              Capability::kDownload,
              {},
              [&d](RequestContext& ctx) {
                const Model& m = *ctx.decision->model;
                auto source = std::make_shared<FileChunkSource>(m.path);
                if (!source->ok()) {
                  return http::ErrorResponse(503, "the model file is not readable on this server", "file_unavailable");
                }
                LogEvent e{"download",
                           d.clock.NowSeconds(),
                           ctx.caller.actor(),
                           m.id,
                           std::string(LevelName(ctx.decision->level)),
                           "ok",
                           "ok",
                           "{}"};
                d.recorder.Record(std::move(e));
                http::Response resp;
                resp.content_type = "application/octet-stream";
                resp.stream = std::move(source);
                resp.SetHeader("Content-Disposition", fmt::format("attachment; filename=\"{}.gguf\"", m.id));
                return resp;
              }});
}

}  // namespace aperture
