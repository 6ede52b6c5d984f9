#include "api/openness/openness_routes.h"

#include "api/views.h"
#include "api/visible_model.h"
#include "core/status_macros.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "openness/badge.h"
#include "report/report_html.h"

namespace aperture {
namespace {

// Whether the caller prefers HTML (a browser) to JSON.
bool WantsHtml(const RequestContext& ctx) {
  if (std::optional<std::string_view> format = ctx.request.Query("format")) return *format == "html";
  std::optional<std::string_view> accept = ctx.request.Header("Accept");
  return accept && accept->find("text/html") != std::string_view::npos;
}

http::Response Html(std::string body) {
  http::Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  // The page is data, never a script host.
  r.SetHeader("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  return r;
}

http::Response Report(ApiDeps& d, RequestContext& ctx, bool html) {
  absl::StatusOr<VisibleModel> visible = FindVisibleModel(d, ctx);
  if (!visible.ok()) return StatusResponse(visible.status());
  absl::StatusOr<report::SignedReport> signed_report = d.reports.Report(visible->model);
  if (!signed_report.ok()) return StatusResponse(signed_report.status());
  if (html) return Html(report::ReportHtml(signed_report->report));
  return JsonResponse(report::SignedReportJson(*signed_report));
}

}  // namespace

void AddOpennessRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET",
              "/v1/models/{model}/openness",
              "models.openness",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                return Answer([&]() -> absl::StatusOr<Json> {
                  ASSIGN_OR_RETURN(VisibleModel visible, FindVisibleModel(d, ctx));
                  ASSIGN_OR_RETURN(openness::OpennessCard card, d.openness.Card(visible.model));
                  return openness::OpennessCardJson(card);
                }());
              }});
  router.Add({"GET",
              "/v1/models/{model}/openness.svg",
              "models.openness.badge",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                absl::StatusOr<VisibleModel> visible = FindVisibleModel(d, ctx);
                if (!visible.ok()) return StatusResponse(visible.status());
                absl::StatusOr<openness::OpennessCard> card = d.openness.Card(visible->model);
                if (!card.ok()) return StatusResponse(card.status());
                http::Response r;
                r.content_type = "image/svg+xml";
                r.body = openness::OpennessBadge(card->mof);
                r.SetHeader("Cache-Control", "no-cache");
                r.SetHeader("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
                return r;
              }});
  router.Add({"PUT",
              "/v1/models/{model}/openness/{component}",
              "models.openness.declare",
              Access::kOwner,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                return Answer([&]() -> absl::StatusOr<Json> {
                  ASSIGN_OR_RETURN(OpennessDeclaration decl,
                                   d.openness.Declare(ctx.caller, ctx.model_id, ctx.PathParam("component"), ctx.body));
                  return Json{{"object", "openness.declaration"},
                              {"model", decl.model_id},
                              {"component", decl.component},
                              {"url", decl.url},
                              {"licence", decl.licence.empty() ? Json(nullptr) : Json(decl.licence)},
                              {"note", decl.note},
                              {"declared_at", decl.declared_at}};
                }());
              }});
  router.Add({"DELETE",
              "/v1/models/{model}/openness/{component}",
              "models.openness.withdraw",
              Access::kOwner,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                return Answer([&]() -> absl::StatusOr<Json> {
                  RETURN_IF_ERROR(d.openness.Withdraw(ctx.caller, ctx.model_id, ctx.PathParam("component")));
                  return Json{{"object", "openness.declaration"},
                              {"model", ctx.model_id},
                              {"component", ctx.PathParam("component")},
                              {"withdrawn", true}};
                }());
              }});
  router.Add({"GET",
              "/v1/models/{model}/report",
              "models.report",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) { return Report(d, ctx, WantsHtml(ctx)); }});
  router.Add({"GET",
              "/v1/models/{model}/report.html",
              "models.report.html",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) { return Report(d, ctx, true); }});
}

}  // namespace aperture
