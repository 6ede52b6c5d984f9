#include "report/access_stats.h"

namespace aperture::report {
namespace {

int64_t Number(const Json& details, const char* key) {
  auto it = details.find(key);
  return it != details.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string Text(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void AccessStats::Add(const std::string& entry) {
  absl::StatusOr<Json> parsed = ParseJson(entry);
  if (!parsed.ok() || !parsed->is_object()) return;
  const Json& e = *parsed;
  const std::string model = Text(e, "model");
  if (model.empty()) return;
  const std::string type = Text(e, "type");
  std::string level = Text(e, "level");
  if (level.empty()) level = "none";
  const Json empty = Json::object();
  auto details_it = e.find("details");
  const Json& details = details_it != e.end() && details_it->is_object() ? *details_it : empty;
  if (type != "access.decision" && type != "completion" && type != "embedding" && type != "download") return;
  LevelAccess& a = by_model_[model][level];
  if (type == "access.decision") {
    const std::string outcome = Text(e, "outcome");
    if (outcome == "deny") ++a.denied;
    if (outcome == "error") ++a.failed;
    if (outcome != "allow") return;
    ++a.requests;
    const std::string actor = Text(e, "actor");
    if (!actor.empty() && actor != "anonymous") a.principals.insert(actor);
    if (Text(details, "route").rfind("research.", 0) == 0) ++a.research_queries;
  } else if (type == "completion") {
    a.tokens += Number(details, "prompt_tokens") + Number(details, "completion_tokens");
  } else if (type == "embedding") {
    a.tokens += Number(details, "prompt_tokens");
  } else {
    ++a.downloads;
    a.download_bytes += Number(details, "bytes_served");
  }
}

Json AccessStats::ToJson(const std::string& model) const {
  Json out = Json::object();
  auto it = by_model_.find(model);
  if (it == by_model_.end()) return out;
  for (const auto& [level, a] : it->second) {
    out[level] = {{"principals", a.principals.size()},
                  {"requests", a.requests},
                  {"denied", a.denied},
                  {"failed", a.failed},
                  {"tokens", a.tokens},
                  {"downloads", a.downloads},
                  {"download_bytes", a.download_bytes},
                  {"research_queries", a.research_queries}};
  }
  return out;
}

}  // namespace aperture::report
