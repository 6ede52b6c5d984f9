#include "api/openai/event_stream.h"

namespace aperture {

void EventStream::Push(std::string chunk) {
  if (chunk.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || cancelled_) return;
    chunks_.push_back(std::move(chunk));
  }
  Deliver();
}

void EventStream::Finish() {
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  Deliver();
}

void EventStream::OnCancel(std::function<void()> action) {
  absl::MutexLock lock(&mu_);
  on_cancel_ = std::move(action);
}

void EventStream::Next(std::function<void(std::optional<std::string>)> ready) {
  {
    absl::MutexLock lock(&mu_);
    waiting_ = std::move(ready);
  }
  Deliver();
}

void EventStream::Deliver() {
  std::function<void(std::optional<std::string>)> ready;
  std::optional<std::string> chunk;
  {
    absl::MutexLock lock(&mu_);
    if (!waiting_ || cancelled_) return;
    if (!chunks_.empty()) {
      chunk = std::move(chunks_.front());
      chunks_.pop_front();
    } else if (!finished_) {
      return;  // the reader waits for the next Push or Finish
    }
    ready = std::move(waiting_);
    waiting_ = nullptr;
  }
  ready(std::move(chunk));
}

void EventStream::Cancel() {
  std::function<void()> action;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    chunks_.clear();
    waiting_ = nullptr;
    action = std::move(on_cancel_);
  }
  if (action) action();
}

}  // namespace aperture
