#include "api/openai/event_stream.h"

namespace aperture {

void StreamNotifier::Attach(Post post) {
  absl::MutexLock lock(&mu_);
  post_ = std::move(post);
}

void StreamNotifier::Add(std::shared_ptr<EventStream> stream) {
  absl::MutexLock lock(&mu_);
  pending_.push_back(std::move(stream));
}

void StreamNotifier::Flush() {
  std::vector<std::shared_ptr<EventStream>> streams;
  Post post;
  {
    absl::MutexLock lock(&mu_);
    if (pending_.empty()) return;
    streams.swap(pending_);
    post = post_;
  }
  auto deliver = [streams = std::move(streams)] {
    for (const std::shared_ptr<EventStream>& s : streams) {
      s->listed_.store(false);  // a Push from now on lists it again
      s->Deliver();
    }
  };
  if (post) {
    post(std::move(deliver));
  } else {
    deliver();
  }
}

void EventStream::Push(std::string chunk) {
  if (chunk.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || cancelled_) return;
    chunks_.push_back(std::move(chunk));
  }
  Notify();
}

void EventStream::Finish() {
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  Notify();
}

void EventStream::Notify() {
  if (notifier_ == nullptr) return Deliver();
  if (!listed_.exchange(true)) notifier_->Add(shared_from_this());
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
      for (; !chunks_.empty(); chunks_.pop_front()) *chunk += chunks_.front();
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
