// LogSequencer: the Recorder that appends every event to the transparency log.
// Events queue in memory; a background thread commits what is pending every
// few milliseconds as one durable transaction (entries, the full-subtree
// hashes they complete, and a newly signed checkpoint), so the checkpoint a
// reader sees always covers entries that are already on disk.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aperture/log_store.h"
#include "aperture/recorder.h"
#include "core/clock.h"
#include "translog/entry.h"
#include "translog/frontier.h"
#include "translog/note.h"

namespace aperture::translog {

// Thread-safe. Other processes may append to the same store: each commit
// checks the stored size and, if another writer went first, re-reads the
// frontier and tries again.
class LogSequencer final : public Recorder {
 public:
  struct Options {
    // How long a batch keeps collecting after its first event, so that
    // concurrent events share one transaction and one signature. A batch
    // that someone waits for (RecordDurably, Flush) is committed at once.
    absl::Duration batch_delay = absl::Milliseconds(10);
    size_t max_batch = 16384;
    // Record() waits (rather than grow memory without bound) beyond this.
    size_t max_queued = size_t{1} << 20;
    // Commit in the background: the writer thread runs at idle priority
    // (SCHED_IDLE), so on a busy machine its commit, about a millisecond of
    // work every batch, waits for a free core instead of delaying requests.
    // It returns to normal priority while someone waits for it
    // (RecordDurably, Flush) or `boost_backlog` events are queued, so it
    // cannot fall behind a saturated machine. Only where the process may
    // leave idle priority again (CAP_SYS_NICE, or RLIMIT_NICE of 20 or
    // more); elsewhere the writer keeps normal priority.
    bool background = false;
    size_t boost_backlog = 2048;
  };

  // `secret_key`: the server's Ed25519 secret key (64 bytes, libsodium).
  // `origin`: the log name used if the store holds no log yet; an existing
  // log keeps the name it is published under (see AdoptOrigin).
  static absl::StatusOr<std::unique_ptr<LogSequencer>> Open(LogStore& store, std::string secret_key, std::string origin,
                                                            const Clock& clock);
  static absl::StatusOr<std::unique_ptr<LogSequencer>> Open(LogStore& store, std::string secret_key, std::string origin,
                                                            const Clock& clock, Options options);
  // Commits everything still queued.
  ~LogSequencer() override;

  void Record(LogEvent event) override;
  absl::Status RecordDurably(LogEvent event) override;
  void Flush() override;

  // Publishes the log under `origin` from now on, re-signing the current
  // head if its name differs. The server calls this with its configured name.
  absl::Status AdoptOrigin(const std::string& origin);
  // Events that could not be committed (logged as errors).
  int64_t failed() const;
  // Whether the log is being sequenced: OK while the last commit succeeded
  // (or none was needed yet: Open read the tree), else that commit's error.
  // Readiness checks report it.
  absl::Status health() const;
  // The writer thread's scheduling policy now (SCHED_IDLE in the background).
  int writer_policy();

 private:
  struct Waiter {
    bool done = false;
    absl::Status status;
  };
  struct Pending {
    // Record() leaves turning the event into an entry (JSON work) to the
    // writer, off the request path; RecordDurably() does it first, so that
    // its caller gets any error.
    std::variant<LogEvent, PreparedEntry> item;
    std::shared_ptr<Waiter> waiter;  // set for RecordDurably
  };

  LogSequencer(LogStore& store, std::string secret_key, std::string origin, const Clock& clock, Options options);
  // Queues an event; returns its sequence number.
  int64_t Enqueue(Pending p) ABSL_LOCKS_EXCLUDED(mu_);
  // In the background, moves the writer to normal priority while it is
  // waited for (RecordDurably, Flush, stopping) or boost_backlog events are
  // queued, and back to idle priority once it has caught up.
  void AdjustPriority() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();
  absl::Status Commit(const std::vector<PreparedEntry>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  // Re-reads the head and frontier from the store.
  absl::Status Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  absl::StatusOr<LogHead> SignHead(const Frontier& tree, const std::string& origin)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);

  LogStore& store_;
  const Clock& clock_;
  const Options options_;

  absl::Mutex append_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  const std::string secret_key_;
  std::string origin_ ABSL_GUARDED_BY(append_mu_);
  Frontier frontier_ ABSL_GUARDED_BY(append_mu_);
  bool frontier_valid_ ABSL_GUARDED_BY(append_mu_) = false;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  int64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;   // events ever queued
  int64_t committed_ ABSL_GUARDED_BY(mu_) = 0;  // events ever handled (committed or failed)
  int64_t awaited_ ABSL_GUARDED_BY(mu_) = 0;    // the last event someone waits for
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_commit_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool background_ = false;  // set before the thread starts
  bool boosted_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace aperture::translog
