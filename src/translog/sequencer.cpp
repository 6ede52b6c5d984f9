#include "translog/sequencer.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>

#include <sodium.h>

#include "core/hex.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "translog/checkpoint.h"
#include "translog/entry.h"

namespace aperture::translog {
namespace {

// A commit that fails for another reason than a concurrent writer is retried
// this many times (a busy database, a full disk being cleared) before the
// batch is reported failed.
constexpr int kMaxAttempts = 4;
// Concurrent writers (the CLI beside the server) rarely collide more than
// once; this bounds a pathological livelock.
constexpr int kMaxRaces = 64;

// Whether a thread of this process that moves to SCHED_IDLE may move back
// (the kernel asks for CAP_SYS_NICE or an RLIMIT_NICE that allows nice 0).
// Tried on a thread of its own, so no thread that matters can get stuck.
bool CanLeaveIdlePriority() {
  bool ok = false;
  std::thread probe([&ok] {
    sched_param param{};
    ok = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0 &&
         pthread_setschedparam(pthread_self(), SCHED_OTHER, &param) == 0;
  });
  probe.join();
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogSequencer>> LogSequencer::Open(LogStore& store, std::string secret_key,
                                                                 std::string origin, const Clock& clock) {
  return Open(store, std::move(secret_key), std::move(origin), clock, Options());
}

absl::StatusOr<std::unique_ptr<LogSequencer>> LogSequencer::Open(LogStore& store, std::string secret_key,
                                                                 std::string origin, const Clock& clock,
                                                                 Options options) {
  // Checked up front so a bad key or name fails at start, not at the first commit.
  RETURN_IF_ERROR(NoteSigner::Create(origin, secret_key).status());
  std::unique_ptr<LogSequencer> s(new LogSequencer(store, std::move(secret_key), std::move(origin), clock, options));
  {
    absl::MutexLock lock(&s->append_mu_);
    // An empty log still publishes a signed checkpoint (size 0).
    for (int race = 0; race < kMaxRaces; ++race) {
      RETURN_IF_ERROR(s->Reload());
      ASSIGN_OR_RETURN(auto head, store.Head());
      if (head) break;
      LogAppend init;
      init.expected_size = 0;
      ASSIGN_OR_RETURN(init.head, s->SignHead(s->frontier_, s->origin_));
      absl::Status st = store.Append(init);
      if (st.ok()) break;
      if (!absl::IsAborted(st)) return st;
    }
  }
  s->background_ = options.background && CanLeaveIdlePriority();
  if (options.background && !s->background_) {
    spdlog::info(
        "the log writer keeps normal priority: this process may not leave idle priority (CAP_SYS_NICE or "
        "RLIMIT_NICE 20 would allow it)");
  }
  s->thread_ = std::thread([raw = s.get()] {
    pthread_setname_np(pthread_self(), "log-writer");
    {
      absl::MutexLock lock(&raw->mu_);  // unless a boost came first
      sched_param param{};
      if (raw->background_ && !raw->boosted_) pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    }
    raw->Run();
  });
  return s;
}

LogSequencer::LogSequencer(LogStore& store, std::string secret_key, std::string origin, const Clock& clock,
                           Options options)
    : store_(store), clock_(clock), options_(options), secret_key_(std::move(secret_key)), origin_(std::move(origin)) {}

LogSequencer::~LogSequencer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    AdjustPriority();  // what is left is committed at normal priority
  }
  if (thread_.joinable()) thread_.join();
  sodium_memzero(const_cast<char*>(secret_key_.data()), secret_key_.size());
}

int64_t LogSequencer::Enqueue(Pending p) {
  absl::MutexLock lock(&mu_);
  auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.size() < options_.max_queued; };
  mu_.Await(absl::Condition(&has_room));
  queue_.push_back(std::move(p));
  AdjustPriority();
  return ++enqueued_;
}

void LogSequencer::AdjustPriority() {
  if (!background_) return;
  const bool waited_for = stopping_ || awaited_ > committed_;
  bool boost = boosted_;
  if (waited_for || queue_.size() >= options_.boost_backlog) {
    boost = true;
  } else if (queue_.size() < options_.boost_backlog / 4) {  // caught up
    boost = false;
  }
  if (boost == boosted_) return;
  boosted_ = boost;
  sched_param param{};
  // Under mu_, so that two changes cannot cross. Allowed: CanLeaveIdlePriority said so.
  pthread_setschedparam(thread_.native_handle(), boost ? SCHED_OTHER : SCHED_IDLE, &param);
}

int LogSequencer::writer_policy() {
  int policy = -1;
  sched_param param{};
  pthread_getschedparam(thread_.native_handle(), &policy, &param);
  return policy;
}

void LogSequencer::Record(LogEvent event) { Enqueue(Pending{std::move(event), nullptr}); }

absl::Status LogSequencer::RecordDurably(LogEvent event) {
  ASSIGN_OR_RETURN(PreparedEntry prepared, PrepareEntry(event));
  auto waiter = std::make_shared<Waiter>();
  const int64_t seq = Enqueue(Pending{std::move(prepared), waiter});
  absl::MutexLock lock(&mu_);
  awaited_ = std::max(awaited_, seq);
  AdjustPriority();
  mu_.Await(absl::Condition(&waiter->done));
  return waiter->status;
}

void LogSequencer::Flush() {
  absl::MutexLock lock(&mu_);
  const int64_t target = enqueued_;
  awaited_ = std::max(awaited_, target);
  AdjustPriority();
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return committed_ >= target; };
  mu_.Await(absl::Condition(&done));
}

int64_t LogSequencer::failed() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

absl::Status LogSequencer::health() const {
  absl::MutexLock lock(&mu_);
  return last_commit_;
}

void LogSequencer::Run() {
  for (;;) {
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and nothing left
      auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || queue_.size() >= options_.max_batch || awaited_ > committed_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&full), options_.batch_delay);
      const size_t n = std::min(queue_.size(), options_.max_batch);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<PreparedEntry> entries;
    entries.reserve(batch.size());
    int64_t unpreparable = 0;
    for (Pending& p : batch) {
      if (auto* prepared = std::get_if<PreparedEntry>(&p.item)) {
        entries.push_back(std::move(*prepared));
        continue;
      }
      const LogEvent& event = std::get<LogEvent>(p.item);
      absl::StatusOr<PreparedEntry> prepared = PrepareEntry(event);
      if (!prepared.ok()) {
        spdlog::error("a '{}' event was not logged: {}", event.type, std::string(prepared.status().message()));
        ++unpreparable;
        continue;
      }
      entries.push_back(*std::move(prepared));
    }
    absl::Status status;
    if (!entries.empty()) {
      absl::MutexLock lock(&append_mu_);
      status = Commit(entries);
    }
    if (!status.ok()) {
      spdlog::error("could not log {} events: {}", entries.size(), std::string(status.message()));
    }
    absl::MutexLock lock(&mu_);
    committed_ += static_cast<int64_t>(batch.size());
    failed_ += unpreparable + (status.ok() ? 0 : static_cast<int64_t>(entries.size()));
    if (!entries.empty()) last_commit_ = status;
    for (Pending& p : batch) {
      if (p.waiter) {
        p.waiter->status = status;
        p.waiter->done = true;
      }
    }
    AdjustPriority();  // back to the background once caught up
  }
}

absl::Status LogSequencer::Reload() {
  frontier_valid_ = false;
  ASSIGN_OR_RETURN(std::optional<LogHead> head, store_.Head());
  if (!head) {
    frontier_ = Frontier();
    frontier_valid_ = true;
    return absl::OkStatus();
  }
  const std::vector<LogNodeId> ids = Frontier::NodesFor(head->size);
  ASSIGN_OR_RETURN(std::string stored, store_.Nodes(ids));
  if (stored.size() != ids.size() * 32) return absl::DataLossError("the log store returned malformed tree hashes");
  std::vector<Hash> hashes;
  hashes.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSIGN_OR_RETURN(Hash hash, HashFromBytes(std::string_view(stored).substr(i * 32, 32), "a stored tree hash"));
    hashes.push_back(hash);
  }
  ASSIGN_OR_RETURN(Frontier f, Frontier::FromHashes(head->size, std::move(hashes)));
  if (ToBytes(f.Root()) != head->root) {
    return absl::DataLossError(fmt::format(
        "the stored tree hashes give root {} for size {}, but the signed head says {}; the log's tables were "
        "altered",
        HashHex(f.Root()), head->size, HexEncode(head->root)));
  }
  frontier_ = std::move(f);
  origin_ = head->origin;
  frontier_valid_ = true;
  return absl::OkStatus();
}

absl::StatusOr<LogHead> LogSequencer::SignHead(const Frontier& tree, const std::string& origin) {
  ASSIGN_OR_RETURN(NoteSigner signer, NoteSigner::Create(origin, secret_key_));
  LogHead head;
  head.size = tree.size();
  const Hash root = tree.Root();
  head.root = ToBytes(root);
  head.origin = origin;
  ASSIGN_OR_RETURN(head.checkpoint, signer.Sign(FormatCheckpoint({origin, tree.size(), root})));
  head.updated_at = clock_.NowSeconds();
  return head;
}

absl::Status LogSequencer::Commit(const std::vector<PreparedEntry>& batch) {
  absl::Status last;
  int failures = 0;
  for (int race = 0; race < kMaxRaces && failures < kMaxAttempts; ++race) {
    if (!frontier_valid_) {
      last = Reload();
      if (!last.ok()) {
        if (last.code() == absl::StatusCode::kDataLoss) return last;
        ++failures;
        absl::SleepFor(absl::Milliseconds(20 * failures));
        continue;
      }
    }
    Frontier tree = frontier_;
    LogAppend append;
    append.expected_size = tree.size();
    append.entries.reserve(batch.size());
    append.leaf_hashes.reserve(batch.size());
    append.nodes.reserve(batch.size() * 2 + 64);
    for (const PreparedEntry& p : batch) {
      const Hash leaf = LeafHash(p.entry);
      for (const std::string& principal : p.subjects) append.subjects.emplace_back(principal, tree.size());
      tree.Append(leaf, [&](LogNodeId id, const Hash& h) { append.nodes.emplace_back(id, ToBytes(h)); });
      append.entries.push_back(p.entry);
      append.leaf_hashes.push_back(ToBytes(leaf));
    }
    ASSIGN_OR_RETURN(append.head, SignHead(tree, origin_));
    last = store_.Append(append);
    if (last.ok()) {
      frontier_ = std::move(tree);
      return last;
    }
    frontier_valid_ = false;
    if (!absl::IsAborted(last)) {
      ++failures;
      absl::SleepFor(absl::Milliseconds(20 * failures));
    }
  }
  return last;
}

absl::Status LogSequencer::AdoptOrigin(const std::string& origin) {
  RETURN_IF_ERROR(NoteSigner::Create(origin, secret_key_).status());
  absl::MutexLock lock(&append_mu_);
  for (int race = 0; race < kMaxRaces; ++race) {
    RETURN_IF_ERROR(Reload());
    if (origin_ == origin) return absl::OkStatus();
    spdlog::warn("the log was published as '{}'; it is published as '{}' from now on", origin_, origin);
    LogAppend rename;
    rename.expected_size = frontier_.size();
    ASSIGN_OR_RETURN(rename.head, SignHead(frontier_, origin));
    absl::Status s = store_.Append(rename);
    if (s.ok()) {
      origin_ = origin;
      return s;
    }
    if (!absl::IsAborted(s)) return s;
  }
  return absl::AbortedError("the log kept changing while being renamed; try again");
}

}  // namespace aperture::translog
