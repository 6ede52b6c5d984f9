// ReportService: a model's public transparency report, computed at one
// checkpoint of the transparency log so anyone can recompute it. It holds
// the release history with each change's reasons, the ceiling's history,
// the evaluation results, findings by state and severity, access
// statistics per level counted from the log's entries up to the checkpoint
// (access_stats.h says exactly how), the licence and its history, the
// signed manifest, and the openness card.
//
// The report is signed (signed_report.h) with the server's manifest key.
//
// Limits: statistics fold the log incrementally: the first report after a
// start reads every entry once (about a million entries a second); later
// ones read only the entries appended since.
//
// Usage:
//   ASSIGN_OR_RETURN(SignedReport r, reports.Report(model));
//   JsonResponse(SignedReportJson(r));
//
// Thread-safety: thread-safe.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aperture/store.h"
#include "core/clock.h"
#include "core/json.h"
#include "distribution/distribution_service.h"
#include "openness/openness_service.h"
#include "report/access_stats.h"
#include "report/findings_summary.h"
#include "report/signed_report.h"
#include "translog/log_reader.h"

namespace aperture::report {

class ReportService {
 public:
  ReportService(Store& store, translog::LogReader& log, const Clock& clock,
                distribution::DistributionService& distribution, openness::OpennessService& openness,
                FindingsSource findings)
      : store_(store),
        log_(log),
        clock_(clock),
        distribution_(distribution),
        openness_(openness),
        findings_(std::move(findings)) {}

  absl::StatusOr<SignedReport> Report(const Model& model);

 private:
  // The log's latest head and the access statistics of `model` over its entries.
  absl::StatusOr<std::pair<LogHead, Json>> AccessAtHead(const std::string& model) ABSL_LOCKS_EXCLUDED(stats_mu_);

  Store& store_;
  translog::LogReader& log_;
  const Clock& clock_;
  distribution::DistributionService& distribution_;
  openness::OpennessService& openness_;
  FindingsSource findings_;

  absl::Mutex stats_mu_;
  AccessStats stats_ ABSL_GUARDED_BY(stats_mu_);
  int64_t folded_ ABSL_GUARDED_BY(stats_mu_) = 0;  // entries [0, folded_) are in stats_
};

}  // namespace aperture::report
