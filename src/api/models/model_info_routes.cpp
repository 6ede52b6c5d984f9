#include "api/models/model_info_routes.h"

#include <sys/stat.h>

#include <map>
#include <mutex>

#include "api/views.h"
#include "core/status_macros.h"
#include "engine/gguf/gguf_summary.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"

namespace aperture {
namespace {

Json SummaryJson(const engine::GgufSummary& s) {
  Json types = Json::object();
  for (const auto& [type, n] : s.parameters_by_type) types[type] = n;
  return {{"gguf_version", s.gguf_version},
          {"architecture", s.architecture},
          {"name", s.name},
          {"layers", s.layers},
          {"embedding", s.embedding},
          {"heads", s.heads},
          {"kv_heads", s.kv_heads},
          {"feed_forward", s.feed_forward},
          {"context", s.context},
          {"vocab", s.vocab},
          {"tokenizer", s.tokenizer},
          {"chat_template", s.chat_template},
          {"parameters", s.parameters},
          {"file_bytes", s.file_bytes},
          {"tensors", s.tensors},
          {"parameters_by_type", std::move(types)}};
}

// GGUF summaries by path, read again when the file's size or time changes.
// Thread-safe.
class SummaryCache {
 public:
  absl::StatusOr<Json> Get(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return absl::UnavailableError("the model file is not readable on this server");
    }
    const std::pair<int64_t, int64_t> stamp{st.st_size, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(path);
      if (it != entries_.end() && it->second.first == stamp) return it->second.second;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<engine::GgufFile> file, engine::GgufFile::Open(path));
    Json summary = SummaryJson(engine::SummarizeGguf(*file));
    std::lock_guard lock(mu_);
    if (entries_.size() >= 256) entries_.clear();  // bounded: models are few
    entries_[path] = {stamp, summary};
    return summary;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::pair<int64_t, int64_t>, Json>> entries_;
};

Json LevelsJson(const Config& config) {
  Json levels = Json::array();
  for (Level l : kAllLevels) {
    const LevelLimits& limits = config.Limits(l);
    Json caps = Json::array();
    for (Capability c : kAllCapabilities) {
      if (limits.Allows(c)) caps.push_back(CapabilityName(c));
    }
    const char* bias = limits.logit_bias == LogitBias::kNever             ? "never"
                       : limits.logit_bias == LogitBias::kWithoutLogprobs ? "without_logprobs"
                                                                          : "always";
    levels.push_back({{"level", LevelName(l)},
                      {"capabilities", std::move(caps)},
                      {"max_tokens", limits.max_tokens},
                      {"requests_per_minute", limits.requests_per_minute},
                      {"tokens_per_minute", limits.tokens_per_minute},
                      {"max_top_logprobs", limits.max_top_logprobs},
                      {"max_n", limits.max_n},
                      {"logit_bias", bias},
                      {"system_prompt", limits.system_prompt}});
  }
  return {{"object", "list"}, {"data", std::move(levels)}};
}

}  // namespace

void AddModelInfoRoutes(Router& router, ApiDeps& d) {
  auto summaries = std::make_shared<SummaryCache>();
  router.Add({"GET",
              "/v1/models/{model}/card",
              "models.card",
              Access::kAnyone,
              ModelFrom::kNone,
              {},
              {},
              [&d, summaries](RequestContext& ctx) {
                const std::string id = ctx.PathParam("model");
                auto model = d.store.FindModel(id);
                if (!model.ok()) return StatusResponse(model.status());
                absl::StatusOr<Authorizer::Levels> levels = Authorizer::Levels{};
                if (*model) levels = d.authorizer.LevelsOn(ctx.caller, **model);
                if (!levels.ok()) return StatusResponse(levels.status());
                if (!*model || !ModelVisible(ctx.caller, levels->held)) {
                  ctx.Deny("model_not_found");
                  return http::ErrorResponse(
                      404, fmt::format("The model '{}' does not exist or you do not have access to it.", id),
                      "model_not_found", "model");
                }
                ctx.model_id = id;
                auto card = d.store.FindModelCard(id);
                if (!card.ok()) return StatusResponse(card.status());
                Json body = View(**model, levels->effective, levels->held);
                body["object"] = "model.card";
                body["card"] = *card ? Json((*card)->markdown) : Json(nullptr);
                body["card_updated_at"] = *card ? Json((*card)->updated_at) : Json(nullptr);
                absl::StatusOr<Json> summary = summaries->Get((*model)->path);
                if (summary.ok()) {
                  body["architecture"] = *summary;
                } else {
                  body["architecture"] = nullptr;
                  body["architecture_error"] = std::string(summary.status().message());
                }
                return JsonResponse(body);
              }});
  router.Add({"POST",
              "/v1/admin/models/{id}/card",
              "admin.models.card",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                return Answer([&]() -> absl::StatusOr<Json> {
                  ASSIGN_OR_RETURN(std::string markdown, RequiredString(ctx.body, "card"));
                  RETURN_IF_ERROR(d.access.SetModelCard(ctx.caller, ctx.PathParam("id"), markdown));
                  return Json{{"object", "model.card"}, {"id", ctx.PathParam("id")}, {"card", markdown}};
                }());
              }});
  router.Add({"GET", "/v1/levels", "levels", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext&) {
                return JsonResponse(LevelsJson(d.config));
              }});
}

}  // namespace aperture
