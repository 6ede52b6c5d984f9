#include "report/findings_summary.h"

namespace aperture::report {

absl::StatusOr<FindingsSummary> NoFindingsTracked(const std::string&) { return FindingsSummary{}; }

Json FindingsJson(const FindingsSummary& s) {
  int64_t total = 0;
  for (const auto& [state, n] : s.by_state) total += n;
  Json out = {{"tracked", s.tracked},
              {"total", total},
              {"by_state", s.by_state.empty() ? Json::object() : Json(s.by_state)},
              {"by_severity", s.by_severity.empty() ? Json::object() : Json(s.by_severity)},
              {"disclosed", s.disclosed.empty() ? Json::array() : Json(s.disclosed)}};
  if (!s.tracked) out["note"] = "this server does not record findings, so there are none to report";
  return out;
}

}  // namespace aperture::report
