// TileMirror: a memory-mapped copy of the bottom tiles of the transparency
// log (tile level 0 of log_tiles: tree levels 0..5), so that a proof reads
// them with no system call and no SQLite statement. SQLite stays the only
// durable record; the mirror is derived data, rebuilt from log_tiles whenever
// it cannot be trusted.
//
// The file (`<database>-tiles`, beside the database's -wal and -shm) is a
// 4 KB header page followed by one 4 KB slot per tile: tile N at byte
// 4096 * (N + 1), each hash at a fixed place within it (tree level l from
// hash 128 - (128 >> l): the levels below it at full width), so the
// right-edge tile is filled in place as the log grows and a hash, once
// written, never moves or changes. The file is mapped in chunks of 64 MiB
// that never move once mapped, so readers need no lock against growth.
//
// What it covers is a tree size: every node of levels 0..5 of the tree of
// that size. The writer writes nodes beyond it, then advances it (release);
// readers take a node only if it lies below the covered size (acquire).
//
// Trust after a crash: the header holds a "clean" flag, set (and synced,
// after the data) only by an orderly close and cleared (and synced) at open
// before any write, and the kernel's boot id of the process that last wrote
// it. A file is trusted if it is clean, or if it was written during this
// boot (a process killed with -9 leaves its writes in the page cache; only a
// power loss or kernel crash loses unsynced pages, and those change the boot
// id). Anything else (no file, a short file, a malformed header, another
// format) starts empty, to be filled from log_tiles. Only one process owns
// the file (an exclusive flock); another gets no mirror.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "aperture/log_store.h"

namespace aperture::store {

class TileMirror {
 public:
  static constexpr int kLevels = 6;                                   // tree levels 0..5
  static constexpr int64_t kSlotBytes = 4096;                         // one tile, and the header
  static constexpr int64_t kChunkSlots = 16384;                       // 64 MiB mapped at a time
  static constexpr int64_t kMaxChunks = 4096;                         // 256 GiB: 2^32 leaves
  static constexpr int64_t kMaxSize = kMaxChunks * kChunkSlots * 64;  // leaves it can cover

  // Whether the file's contents were kept: trusted at open; not trusted at
  // open (new, short, malformed, or not closed cleanly in an earlier boot),
  // so started empty; or emptied later by Reset (it disagreed with SQLite).
  enum class Opened { kTrusted, kUntrusted, kReset };

  // Opens or creates the mirror at `path`. Returns nullptr when another
  // process (or another store in this one) owns it. The header is marked
  // not clean (and synced) before this returns.
  static absl::StatusOr<std::unique_ptr<TileMirror>> Open(const std::string& path);
  // Syncs the data, then marks the file clean (and syncs that).
  ~TileMirror();
  TileMirror(const TileMirror&) = delete;
  TileMirror& operator=(const TileMirror&) = delete;

  Opened opened() const { return opened_; }
  // The covered tree size (acquire).
  int64_t size() const { return size_.load(std::memory_order_acquire); }

  // Readers (any thread). `covered` is a value size() returned. Copies the
  // 32-byte hash of `id` to `out` and returns true if the tree of size
  // `covered` has the node and it is one of the mirror's levels.
  bool Get(LogNodeId id, int64_t covered, char* out) const;
  // Appends the hashes of `level`, indices [begin, end), to `out` if all of
  // them are covered; returns false (leaving `out` alone) otherwise.
  bool GetRange(int level, int64_t begin, int64_t end, int64_t covered, std::string& out) const;

  // The writer (one thread at a time). Writes the hash of a node beyond the
  // covered size; nodes of other levels, or beyond kMaxSize, are ignored.
  absl::Status Put(LogNodeId id, std::string_view hash);
  // Writes the hashes of tile `tile` (a stored log_tiles row of tile level
  // 0, SQLite's layout) that lie beyond the covered size. Several threads
  // may write distinct tiles at once if Reserve has made room for them.
  absl::Status PutTile(int64_t tile, std::string_view stored);
  // Maps (growing the file) all that a tree of `size` leaves needs.
  absl::Status Reserve(int64_t size);
  // Whether every covered hash of tile `tile` equals the stored row's.
  bool Matches(int64_t tile, std::string_view stored) const;
  // Advances the covered size (capped at kMaxSize): the hashes written for
  // it must all be there.
  void Publish(int64_t size);
  // Forgets everything (the file is truncated to its header). Not while
  // readers may be reading.
  absl::Status Reset();

 private:
  struct Header;
  TileMirror(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  // The chunk holding `tile`, mapped (and the file grown) if needed.
  absl::StatusOr<char*> WritableTile(int64_t tile);
  char* ReadableTile(int64_t tile) const;
  void WriteHeader(int64_t size);

  const std::string path_;
  const int fd_;
  Opened opened_ = Opened::kUntrusted;
  std::string boot_id_;
  Header* header_ = nullptr;  // the mapped header page
  int64_t file_bytes_ = 0;    // the file's length, as this process left it
  std::atomic<int64_t> size_{0};
  std::array<std::atomic<char*>, kMaxChunks> chunks_{};
};

}  // namespace aperture::store
