// Verifying a log from the outside, trusting nothing the server says: the
// checkpoint's signature, its consistency with the checkpoint remembered from
// the last run, and the root recomputed from every entry not seen before
// (fetched as C2SP entry bundles beside the level-0 hash tiles, so a
// mismatch can be pinned to one entry).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "translog/checkpoint.h"
#include "translog/merkle.h"
#include "translog/note.h"
#include "translog/tile_path.h"

namespace aperture::translog {

// A log as a verifier reaches it (HTTP in the CLI, in-process in tests).
class LogSource {
 public:
  virtual ~LogSource() = default;
  virtual absl::StatusOr<std::string> Checkpoint() = 0;  // the signed note
  virtual absl::StatusOr<std::vector<Hash>> ConsistencyProof(int64_t old_size, int64_t new_size) = 0;
  virtual absl::StatusOr<std::string> Tile(const TileRef& tile) = 0;  // bytes as served
};

// What a verifier remembers between runs: the last verified checkpoint and
// the frontier of that tree, so the next run hashes only new entries.
struct VerifiedState {
  std::string origin;
  int64_t size = 0;
  Hash root = EmptyRoot();
  std::string checkpoint;      // the signed note as received
  std::vector<Hash> frontier;  // Frontier::hashes() of the tree at `size`
};

std::string SerializeState(const VerifiedState& state);  // JSON
// Refuses a state whose frontier does not give its root.
absl::StatusOr<VerifiedState> ParseState(std::string_view json);

// Opens a signed checkpoint with `key`: signature checked, text parsed, and
// the origin must be the key's name.
absl::StatusOr<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& key);

// Splits an entry bundle into its entries.
absl::StatusOr<std::vector<std::string>> ParseEntryBundle(std::string_view bundle);

struct VerifyResult {
  VerifiedState state;  // to save for the next run
  int64_t previous_size = 0;
  int64_t new_entries = 0;
};

// Verifies the log's current checkpoint against `previous` (nullopt on a
// first run) and every entry since. Errors say what failed: the index and
// both hashes when an entry does not match the tree the log committed to.
// `on_entry`, if set, sees each new entry after it is hashed.
absl::StatusOr<VerifyResult> VerifyLog(LogSource& source, const NoteVerifier& key,
                                       const std::optional<VerifiedState>& previous,
                                       const std::function<void(int64_t, const std::string&)>& on_entry = {});

}  // namespace aperture::translog
