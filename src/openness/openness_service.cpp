#include "openness/openness_service.h"

#include <algorithm>
#include <set>

#include "core/hash.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "openness/declaration.h"
#include "spdlog/spdlog.h"

namespace aperture::openness {
namespace {

std::string Audience(Level public_level) {
  switch (public_level) {
    case Level::kClosed:
      return "the model's owners (public level closed)";
    case Level::kStaged:
      return "the principals the owners named (public level staged)";
    default:
      return fmt::format("everyone (public level {})", LevelName(public_level));
  }
}

Json VerdictJson(const ComponentVerdict& v) {
  Json j = {{"id", v.component->id},
            {"name", v.component->name},
            {"class", v.component->mof_class},
            {"required", v.component->required},
            {"available", v.state.source != Source::kNone},
            {"source", SourceName(v.state.source)},
            {"to_whom", v.state.to_whom},
            {"public", v.state.public_access},
            {"licence", v.state.licence.empty() ? Json(nullptr) : Json(v.state.licence)},
            {"where", v.state.where},
            {"evidence", v.state.evidence},
            {"counts", v.counts},
            {"conditional", v.conditional}};
  if (!v.state.licence_name.empty()) j["licence_name"] = v.state.licence_name;
  if (!v.counts) j["why_not"] = v.why_not;
  return j;
}

}  // namespace

Json OpennessCardJson(const OpennessCard& card) {
  Json components = Json::array();
  for (const ComponentVerdict& v : card.mof.components) components.push_back(VerdictJson(v));
  Json classes = Json::array();
  for (const ClassVerdict& c : card.mof.classes) {
    classes.push_back({{"class", c.mof_class},
                       {"name", c.name},
                       {"status", c.status},
                       {"counted", c.counted},
                       {"required", c.required},
                       {"percent", c.percent},
                       {"missing", c.missing}});
  }
  Json osaid = Json::array();
  for (const OsaidRequirement& r : card.osaid.requirements) {
    Json item = {{"requirement", r.name}, {"met", r.met}, {"components", r.components}};
    if (!r.met) item["why_not"] = r.why_not;
    osaid.push_back(std::move(item));
  }
  static constexpr const char* kRoman[] = {"", "I", "II", "III"};
  return {
      {"object", "openness_card"},
      {"model", card.model_id},
      {"public_level", LevelName(card.public_level)},
      {"framework", "Model Openness Framework (LF AI & Data, arXiv:2403.13784)"},
      {"class",
       {{"reached", card.mof.reached == 0 ? Json(nullptr) : Json(fmt::format("Class {}", kRoman[card.mof.reached]))},
        {"status", card.mof.status},
        {"declared_components_counted", card.mof.declared_counted}}},
      {"classes", std::move(classes)},
      {"components", std::move(components)},
      {"osaid",
       {{"definition", "OSI Open Source AI Definition 1.0"},
        {"meets", card.osaid.meets},
        {"checklist", std::move(osaid)}}},
      {"server", {{"name", "Aperture"}, {"licence", kServerLicence}}},
      {"computed_at", card.computed_at}};
}

absl::StatusOr<OpennessCard> OpennessService::Card(const Model& model) {
  OpennessCard card;
  card.model_id = model.id;
  card.public_level = std::min(model.public_level, model.ceiling);
  card.computed_at = clock_.NowSeconds();
  const bool public_sees = card.public_level >= Level::kHosted;
  const std::optional<Level> download_level = config_.LowestLevelWith(Capability::kDownload);
  const bool public_downloads = download_level && card.public_level >= *download_level;

  ASSIGN_OR_RETURN(std::optional<Licence> licence, store_.FindLicence(model.id));
  ASSIGN_OR_RETURN(std::optional<ModelCard> model_card, store_.FindModelCard(model.id));
  ASSIGN_OR_RETURN(std::vector<OpennessDeclaration> declarations, store_.ListOpennessDeclarations(model.id));
  ASSIGN_OR_RETURN(std::vector<EvalRun> runs, store_.ListEvalRuns(model.id));
  std::set<std::string> suites;
  int finished = 0;
  for (const EvalRun& r : runs) {
    if (r.state != EvalRunState::kFinished) continue;
    ++finished;
    suites.insert(fmt::format("{} {}", r.suite_name, r.suite_version));
  }
  std::string suite_list;
  for (const std::string& s : suites) suite_list += (suite_list.empty() ? "" : ", ") + s;
  absl::StatusOr<std::shared_ptr<const distribution::ModelFiles>> files = distribution_.Files(model);
  if (!files.ok()) spdlog::warn("openness of {}: its files are not served: {}", model.id, files.status().ToString());

  std::map<std::string, ComponentState> states;
  auto model_licensed = [&](ComponentState& s) {
    if (!licence) return;
    s.licence = licence->spdx_id;
    if (licence->spdx_id.empty()) s.licence_name = licence->name;
  };
  auto server_code = [&](std::string evidence, std::string where) {
    ComponentState s;
    s.source = Source::kVerified;
    s.public_access = true;
    s.to_whom = "everyone (Aperture's source code)";
    s.licence = kServerLicence;
    s.where = std::move(where);
    s.evidence = std::move(evidence);
    return s;
  };
  const std::string base = fmt::format("/v1/models/{}", model.id);
  if (files.ok()) {
    const distribution::ModelFiles& f = **files;
    ComponentState weights;
    weights.source = Source::kVerified;
    weights.public_access = public_downloads;
    if (public_downloads) {
      const bool gated = licence && ((licence->accept_levels >> static_cast<int>(card.public_level)) & 1u) &&
                         card.public_level != Level::kOpen;
      weights.to_whom = fmt::format("everyone{} (public level {})", gated ? " who accepts the licence" : "",
                                    LevelName(card.public_level));
    } else {
      weights.to_whom = download_level ? fmt::format("principals granted {} or above (public level {})",
                                                     LevelName(*download_level), LevelName(card.public_level))
                                       : "nobody (no level may download)";
    }
    weights.where = fmt::format("{}/files/{}", base, f.weights_name);
    const distribution::ModelFile* w = f.Find(f.weights_name);
    weights.evidence = fmt::format("served by this server; SHA-256 {} in the signed manifest {}", w ? w->sha256 : "",
                                   f.manifest.root_sha256);
    model_licensed(weights);
    states["model-parameters-final"] = weights;
    if (f.engine_runs_it) {
      states["model-architecture"] = server_code(
          fmt::format("this server runs the model's '{}' architecture with its own implementation", f.architecture),
          "Aperture's engine (src/engine/model)");
      states["inference-code"] =
          server_code("this server runs the model's inference itself", "Aperture (src/engine, src/scheduler)");
    }
  }
  if (model_card) {
    ComponentState s;
    s.source = Source::kVerified;
    s.public_access = public_sees;
    s.to_whom = Audience(card.public_level);
    s.where = base + "/files/README.md";
    s.evidence = fmt::format("served by this server (SHA-256 {})", Sha256Hex(model_card->markdown));
    model_licensed(s);
    states["model-card"] = s;
  }
  if (finished > 0) {
    ComponentState s;
    s.source = Source::kVerified;
    s.public_access = public_sees;
    s.to_whom = Audience(card.public_level);
    s.where = base + "/report";
    s.evidence = fmt::format("{} evaluation run(s) by this server, published in the transparency report: {}", finished,
                             suite_list);
    model_licensed(s);
    states["evaluation-results"] = s;
    states["evaluation-code"] = server_code(fmt::format("this server ran the evaluations ({})", suite_list),
                                            "Aperture's evaluation runner (src/evals)");
  }
  for (const OpennessDeclaration& d : declarations) {
    ComponentState& s = states[d.component];
    if (s.source == Source::kVerified) {
      s.evidence += fmt::format("; the owner also points to {}", d.url);
      continue;
    }
    s.source = Source::kDeclared;
    s.public_access = true;
    s.to_whom = "everyone, at the owner's link (not checked by this server)";
    s.licence = d.licence;
    s.where = d.url;
    s.evidence = d.note.empty() ? "declared by the owner" : fmt::format("declared by the owner: {}", d.note);
  }
  if (finished > 0 && states["evaluation-data"].source == Source::kNone) {
    states["evaluation-data"].evidence =
        fmt::format("this server evaluated with {} but does not publish the suites' items", suite_list);
  }
  card.mof = EvaluateMof(states);
  card.osaid = CheckOsaid(card.mof);
  return card;
}

absl::Status OpennessService::Record(const Caller& actor, std::string type, const std::string& model,
                                     const Json& details) {
  LogEvent e;
  e.type = std::move(type);
  e.time = clock_.NowSeconds();
  e.actor = actor.actor();
  e.model = model;
  e.outcome = "ok";
  e.reason = "ok";
  e.details = CanonicalJson(details);
  return recorder_.RecordDurably(std::move(e));
}

absl::StatusOr<OpennessDeclaration> OpennessService::Declare(const Caller& actor, const std::string& model_id,
                                                             const std::string& component, const Json& body) {
  if (!actor.IsAtLeast(Role::kOwner)) return absl::PermissionDeniedError("declaring components needs the 'owner' role");
  ASSIGN_OR_RETURN(DeclarationInput input, ParseDeclaration(component, body));
  OpennessDeclaration d{model_id,   input.component, input.url,          input.licence,
                        input.note, actor.actor(),   clock_.NowSeconds()};
  RETURN_IF_ERROR(store_.SetOpennessDeclaration(d));
  RETURN_IF_ERROR(Record(actor, "openness.declared", model_id,
                         {{"component", d.component}, {"url", d.url}, {"licence", d.licence}}));
  return d;
}

absl::Status OpennessService::Withdraw(const Caller& actor, const std::string& model_id, const std::string& component) {
  if (!actor.IsAtLeast(Role::kOwner))
    return absl::PermissionDeniedError("withdrawing a declaration needs the 'owner' role");
  RETURN_IF_ERROR(store_.RemoveOpennessDeclaration(model_id, component));
  return Record(actor, "openness.withdrawn", model_id, {{"component", component}});
}

}  // namespace aperture::openness
