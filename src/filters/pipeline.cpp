#include "filters/pipeline.h"

namespace aperture {

http::Response Pipeline::Handle(http::Request& request) {
  RequestContext ctx(request);
  ctx.start_micros = clock_.NowMicros();
  std::optional<http::Response> answer;
  for (const auto& filter : filters_) {
    answer = filter->Apply(ctx);
    if (answer) break;
  }
  if (!answer) answer = ctx.route->handler(ctx);
  record_.Record(ctx, *answer);
  return std::move(*answer);
}

}  // namespace aperture
