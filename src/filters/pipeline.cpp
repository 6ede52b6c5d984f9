#include "filters/pipeline.h"

#include <exception>
#include <utility>

#include "core/hex.h"
#include "core/random.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace aperture {
namespace {

constexpr char kRequestIdHeader[] = "X-Request-Id";

// Records a pending answer when it is known: the status the caller got, or
// kClientClosedRequest when the client left first. Exactly one record.
class RecordedResponse final : public http::PendingResponse, public std::enable_shared_from_this<RecordedResponse> {
 public:
  RecordedResponse(std::shared_ptr<http::PendingResponse> inner, RecordFilter& record, RequestRecord draft)
      : inner_(std::move(inner)), record_(record), draft_(std::move(draft)) {}

  void Wait(std::function<void(http::Response)> ready) override {
    inner_->Wait([self = shared_from_this(), ready = std::move(ready)](http::Response response) {
      self->Finish(response.status);
      response.SetHeader(kRequestIdHeader, self->draft_.request_id);
      ready(std::move(response));
    });
  }
  void Cancel() override {
    Finish(kClientClosedRequest);
    inner_->Cancel();
  }

 private:
  void Finish(int status) {
    if (recorded_.exchange(true)) return;
    record_.Write(draft_, status);
  }

  const std::shared_ptr<http::PendingResponse> inner_;
  RecordFilter& record_;
  const RequestRecord draft_;
  std::atomic<bool> recorded_{false};
};

}  // namespace

Pipeline::Pipeline(std::vector<std::unique_ptr<Filter>> filters, RecordFilter record, const Clock& clock)
    : filters_(std::move(filters)), record_(record), clock_(clock), id_prefix_(HexEncode(RandomBytes(4))) {}

std::string Pipeline::NextRequestId() {
  return fmt::format("{}{:08x}", id_prefix_, next_id_.fetch_add(1, std::memory_order_relaxed));
}

http::Response Pipeline::Run(RequestContext& ctx) {
  std::string what;
  try {
    for (const auto& filter : filters_) {
      if (std::optional<http::Response> answer = filter->Apply(ctx)) return std::move(*answer);
    }
    return ctx.route->handler(ctx);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception that is not a std::exception";
  }
  spdlog::error("request {} ({} {}) failed: {}", ctx.request_id, ctx.request.method,
                ctx.route ? ctx.route->name : "unmatched", what);
  ctx.Fail("internal_error");
  return http::ErrorResponse(
      500, fmt::format("internal server error; the server's log has the details under request id {}", ctx.request_id),
      "internal_error");
}

std::string Pipeline::RecordTransportAnswer(int status, std::string_view reason) {
  RequestRecord record;
  record.route = "transport";
  record.request_id = NextRequestId();
  record.actor = Caller().actor();
  record.outcome = "deny";
  record.reason = std::string(reason);
  record.start_micros = clock_.NowMicros();
  try {
    record_.Write(record, status);
  } catch (const std::exception& e) {
    spdlog::error("request {}: could not record the transport's answer: {}", record.request_id, e.what());
  }
  return record.request_id;
}

http::Response Pipeline::Handle(http::Request& request) {
  RequestContext ctx(request);
  ctx.start_micros = clock_.NowMicros();
  ctx.request_id = NextRequestId();
  http::Response answer = Run(ctx);
  // Answered at once: whatever was charged on admission was not used
  // (a handler that used something has settled already).
  if (!answer.pending) ctx.charges.Settle(Usage{});
  if (answer.pending) {
    answer.pending = std::make_shared<RecordedResponse>(std::move(answer.pending), record_, RecordFilter::Capture(ctx));
    return answer;
  }
  answer.SetHeader(kRequestIdHeader, ctx.request_id);
  try {
    record_.Record(ctx, answer.status);
  } catch (const std::exception& e) {
    // The caller still gets the answer; the log writer reports its own failures.
    spdlog::error("request {}: could not record the decision: {}", ctx.request_id, e.what());
  }
  return answer;
}

}  // namespace aperture
