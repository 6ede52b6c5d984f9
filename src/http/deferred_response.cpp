#include <utility>

#include "http/response.h"

namespace aperture::http {

void DeferredResponse::Resolve(Response response) {
  std::function<void(Response)> ready;
  {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    on_cancel_ = nullptr;
    if (!ready_) {
      resolved_ = std::make_unique<Response>(std::move(response));
      return;
    }
    ready = std::move(*ready_);
    ready_.reset();
  }
  ready(std::move(response));
}

void DeferredResponse::OnCancel(std::function<void()> action) {
  absl::MutexLock lock(&mu_);
  if (!done_) on_cancel_ = std::move(action);
}

void DeferredResponse::Wait(std::function<void(Response)> ready) {
  std::unique_ptr<Response> resolved;
  {
    absl::MutexLock lock(&mu_);
    if (!resolved_) {
      if (!done_) ready_ = std::move(ready);
      return;
    }
    resolved = std::move(resolved_);
  }
  ready(std::move(*resolved));
}

void DeferredResponse::Cancel() {
  std::function<void()> action;
  {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    ready_.reset();
    action = std::move(on_cancel_);
  }
  if (action) action();
}

Response LaterResponse(std::shared_ptr<PendingResponse> pending) {
  Response r;
  r.pending = std::move(pending);
  return r;
}

}  // namespace aperture::http
