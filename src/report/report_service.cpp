#include "report/report_service.h"

#include "core/base64.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "distribution/licence_terms.h"
#include "fmt/format.h"
#include "release/release_json.h"
#include "translog/merkle.h"

namespace aperture::report {
namespace {

constexpr int64_t kPage = 4096;

Json DetailsOf(const std::string& text) { return ParseJson(text).value_or(Json::object()); }

Json ReleaseEventJson(const ReleaseEvent& e) {
  return {{"time", FormatRfc3339(e.time)},  {"kind", e.kind},   {"from", LevelName(e.from)},
          {"to", LevelName(e.to)},          {"actor", e.actor}, {"reason", e.reason},
          {"details", DetailsOf(e.details)}};
}

Json LevelsJson(uint32_t mask) {
  Json out = Json::array();
  for (Level l : distribution::MaskLevels(mask)) out.push_back(LevelName(l));
  return out;
}

}  // namespace

absl::StatusOr<std::pair<LogHead, Json>> ReportService::AccessAtHead(const std::string& model) {
  absl::MutexLock lock(&stats_mu_);
  ASSIGN_OR_RETURN(LogHead head, log_.Head());
  while (folded_ < head.size) {
    const int64_t end = std::min(head.size, folded_ + kPage);
    ASSIGN_OR_RETURN(std::vector<std::string> entries, log_.Entries(folded_, end));
    for (const std::string& entry : entries) stats_.Add(entry);
    folded_ = end;
  }
  return std::make_pair(std::move(head), stats_.ToJson(model));
}

absl::StatusOr<SignedReport> ReportService::Report(const Model& model) {
  ASSIGN_OR_RETURN(auto head_and_access, AccessAtHead(model.id));
  const LogHead& head = head_and_access.first;

  ASSIGN_OR_RETURN(std::vector<ReleaseEvent> events, store_.ListReleaseEvents(model.id));
  Json history = Json::array(), ceiling_history = Json::array();
  for (const ReleaseEvent& e : events) (e.kind == "ceiling" ? ceiling_history : history).push_back(ReleaseEventJson(e));

  ASSIGN_OR_RETURN(std::vector<EvalRun> runs, store_.ListEvalRuns(model.id));
  Json evaluations = Json::array();
  for (const EvalRun& r : runs) {
    if (r.state == EvalRunState::kFinished) evaluations.push_back(EvalRunJson(r));
  }

  ASSIGN_OR_RETURN(FindingsSummary findings, findings_(model.id));

  ASSIGN_OR_RETURN(std::vector<Licence> licences, store_.ListLicences(model.id));
  Json licence = nullptr;
  if (!licences.empty()) {
    const Licence& l = licences.back();
    Json past = Json::array();
    for (const Licence& old : licences) {
      past.push_back({{"sha256", old.sha256},
                      {"spdx_id", old.spdx_id.empty() ? Json(nullptr) : Json(old.spdx_id)},
                      {"name", old.name},
                      {"set_at", FormatRfc3339(old.set_at)}});
    }
    licence = {{"spdx_id", l.spdx_id.empty() ? Json(nullptr) : Json(l.spdx_id)},
               {"name", l.name},
               {"sha256", l.sha256},
               {"accept_levels", LevelsJson(l.accept_levels)},
               {"text", fmt::format("/v1/models/{}/licence", model.id)},
               {"history", std::move(past)}};
  }

  Json manifest = nullptr;
  absl::StatusOr<std::shared_ptr<const distribution::ModelFiles>> files = distribution_.Files(model);
  if (files.ok()) {
    const ManifestRecord& m = (*files)->manifest;
    manifest = {{"root_sha256", m.root_sha256},
                {"files", DetailsOf(m.files)},
                {"key_hint", m.key_hint},
                {"signed_at", FormatRfc3339(m.created_at)},
                {"log_entry", m.log_entry},
                {"log_leaf_hash", translog::HashHex(translog::LeafHash(m.log_entry))},
                {"bundle", fmt::format("/v1/models/{}/manifest", model.id)}};
  }

  ASSIGN_OR_RETURN(openness::OpennessCard card, openness_.Card(model));

  Json report = {
      {"object", "transparency_report"},
      {"model", model.id},
      {"computed_at", FormatRfc3339(clock_.NowSeconds())},
      {"checkpoint",
       {{"origin", head.origin}, {"size", head.size}, {"root", Base64Encode(head.root)}, {"note", head.checkpoint}}},
      {"release",
       {{"public_level", LevelName(model.public_level)},
        {"ceiling", LevelName(model.ceiling)},
        {"ceiling_reason", model.ceiling_reason},
        {"history", std::move(history)},
        {"ceiling_history", std::move(ceiling_history)}}},
      {"evaluations", std::move(evaluations)},
      {"findings", FindingsJson(findings)},
      {"access",
       {{"counted_over_entries", fmt::format("[0, {})", head.size)},
        {"rules", "docs/openness.md#access-statistics"},
        {"by_level", std::move(head_and_access.second)}}},
      {"licence", std::move(licence)},
      {"manifest", std::move(manifest)},
      {"openness", openness::OpennessCardJson(card)}};

  SignedReport out;
  ASSIGN_OR_RETURN(out.envelope,
                   distribution::SignEnvelope(kReportPayloadType, CanonicalJson(report), distribution_.manifest_key()));
  out.key_hint = out.envelope.signatures[0].keyid;
  out.report = std::move(report);
  return out;
}

}  // namespace aperture::report
