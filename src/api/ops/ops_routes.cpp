#include "api/ops/ops_routes.h"

#include "api/views.h"

namespace aperture {

void AddOpsRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET", "/healthz", "healthz", Access::kAnyone, ModelFrom::kNone, {}, {}, [](RequestContext&) {
                return JsonResponse({{"status", "ok"}});
              }});
  router.Add({"GET", "/metrics", "metrics", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext&) {
                http::Response r;
                r.content_type = "text/plain; version=0.0.4";
                r.body = d.metrics.Render();
                return r;
              }});
}

}  // namespace aperture
