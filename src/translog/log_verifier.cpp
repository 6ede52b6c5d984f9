#include "translog/log_verifier.h"

#include <algorithm>

#include "core/base64.h"
#include "core/json.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "translog/frontier.h"

namespace aperture::translog {
namespace {

std::string B64(const Hash& h) { return Base64Encode(ToBytes(h)); }

absl::StatusOr<Hash> HashFromBase64(const Json& v, std::string_view what) {
  if (!v.is_string()) return absl::InvalidArgumentError(fmt::format("{} must be a base64 string", what));
  std::optional<std::string> bytes = Base64Decode(v.get<std::string>());
  if (!bytes) return absl::InvalidArgumentError(fmt::format("{} is not valid base64", what));
  return HashFromBytes(*bytes, what);
}

}  // namespace

std::string SerializeState(const VerifiedState& s) {
  Json frontier = Json::array();
  for (const Hash& h : s.frontier) frontier.push_back(B64(h));
  Json j = {{"origin", s.origin},
            {"size", s.size},
            {"root", B64(s.root)},
            {"checkpoint", s.checkpoint},
            {"frontier", std::move(frontier)}};
  return DumpJson(j, 2) + "\n";
}

absl::StatusOr<VerifiedState> ParseState(std::string_view json) {
  ASSIGN_OR_RETURN(Json j, ParseJson(json));
  if (!j.is_object()) return absl::InvalidArgumentError("the state file is not a JSON object");
  VerifiedState s;
  ASSIGN_OR_RETURN(s.origin, RequiredString(j, "origin"));
  ASSIGN_OR_RETURN(std::optional<int64_t> size, OptionalInt(j, "size"));
  s.size = size.value_or(-1);
  if (s.size < 0) return absl::InvalidArgumentError("the state file's size is missing or negative");
  ASSIGN_OR_RETURN(s.root, HashFromBase64(j.value("root", Json()), "the state file's root"));
  ASSIGN_OR_RETURN(s.checkpoint, RequiredString(j, "checkpoint"));
  const Json& frontier = j.value("frontier", Json());
  if (!frontier.is_array()) return absl::InvalidArgumentError("the state file's frontier must be an array");
  for (const Json& h : frontier) {
    ASSIGN_OR_RETURN(Hash hash, HashFromBase64(h, "a frontier hash in the state file"));
    s.frontier.push_back(hash);
  }
  ASSIGN_OR_RETURN(Frontier f, Frontier::FromHashes(s.size, s.frontier));
  if (f.Root() != s.root) {
    return absl::InvalidArgumentError("the state file is damaged: its frontier does not give its root");
  }
  return s;
}

absl::StatusOr<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& key) {
  ASSIGN_OR_RETURN(std::string text, key.Open(note));
  ASSIGN_OR_RETURN(Checkpoint c, ParseCheckpoint(text));
  if (c.origin != key.name()) {
    return absl::PermissionDeniedError(
        fmt::format("the checkpoint is for log '{}' but the key is for '{}'", c.origin, key.name()));
  }
  return c;
}

absl::StatusOr<std::vector<std::string>> ParseEntryBundle(std::string_view bundle) {
  std::vector<std::string> out;
  while (!bundle.empty()) {
    if (bundle.size() < 2) return absl::DataLossError("an entry bundle ends inside a length prefix");
    const size_t len = (size_t{static_cast<uint8_t>(bundle[0])} << 8) | static_cast<uint8_t>(bundle[1]);
    bundle.remove_prefix(2);
    if (bundle.size() < len) return absl::DataLossError("an entry bundle ends inside an entry");
    out.emplace_back(bundle.substr(0, len));
    bundle.remove_prefix(len);
  }
  return out;
}

absl::StatusOr<VerifyResult> VerifyLog(LogSource& source, const NoteVerifier& key,
                                       const std::optional<VerifiedState>& previous,
                                       const std::function<void(int64_t, const std::string&)>& on_entry) {
  ASSIGN_OR_RETURN(std::string note, source.Checkpoint());
  ASSIGN_OR_RETURN(Checkpoint cp, OpenCheckpoint(note, key));

  Frontier tree;
  if (previous) {
    ASSIGN_OR_RETURN(tree, Frontier::FromHashes(previous->size, previous->frontier));
    if (tree.Root() != previous->root) {
      return absl::InvalidArgumentError("the saved state is damaged: its frontier does not give its root");
    }
    if (previous->origin != cp.origin) {
      return absl::FailedPreconditionError(
          fmt::format("the saved state is for log '{}', this checkpoint is for '{}'", previous->origin, cp.origin));
    }
    if (cp.size < previous->size) {
      return absl::DataLossError(
          fmt::format("the log shrank: the checkpoint has size {}, the saved one had {} (root {})", cp.size,
                      previous->size, HashHex(previous->root)));
    }
    if (cp.size == previous->size && cp.root != previous->root) {
      return absl::DataLossError(fmt::format("the log forked: size {} had root {} and now has root {}", cp.size,
                                             HashHex(previous->root), HashHex(cp.root)));
    }
    if (cp.size > previous->size && previous->size > 0) {
      ASSIGN_OR_RETURN(std::vector<Hash> proof, source.ConsistencyProof(previous->size, cp.size));
      absl::Status consistent = VerifyConsistency(previous->size, cp.size, proof, previous->root, cp.root);
      if (!consistent.ok()) {
        return absl::DataLossError(fmt::format(
            "the checkpoint (size {}, root {}) is not consistent with the saved one (size {}, root {}): {}", cp.size,
            HashHex(cp.root), previous->size, HashHex(previous->root), std::string(consistent.message())));
      }
    }
  }

  // Recompute the root from the new entries, and alongside it from the
  // level-0 tile hashes, to tell an altered entry from an altered tree.
  const int64_t start = tree.size();
  Frontier from_tiles = tree;
  struct Mismatch {
    int64_t index;
    Hash entry_hash;
    Hash tree_hash;
  };
  std::optional<Mismatch> mismatch;
  for (int64_t chunk = start / kTileWidth; chunk * kTileWidth < cp.size; ++chunk) {
    const int64_t first = chunk * kTileWidth;
    const int width = static_cast<int>(std::min<int64_t>(kTileWidth, cp.size - first));
    const TileRef bundle_ref{true, 0, chunk, width};
    const TileRef tile_ref{false, 0, chunk, width};
    ASSIGN_OR_RETURN(std::string bundle, source.Tile(bundle_ref));
    ASSIGN_OR_RETURN(std::string tile, source.Tile(tile_ref));
    ASSIGN_OR_RETURN(std::vector<std::string> entries, ParseEntryBundle(bundle));
    if (static_cast<int>(entries.size()) != width) {
      return absl::DataLossError(
          fmt::format("{} holds {} entries, not {}", TilePath(bundle_ref), entries.size(), width));
    }
    if (tile.size() != static_cast<size_t>(width) * 32) {
      return absl::DataLossError(fmt::format("{} is {} bytes, not {}", TilePath(tile_ref), tile.size(), width * 32));
    }
    for (int64_t i = std::max(start, first); i < first + width; ++i) {
      const std::string& entry = entries[i - first];
      const Hash entry_hash = LeafHash(entry);
      const Hash tree_hash = *HashFromBytes(std::string_view(tile).substr((i - first) * 32, 32));
      if (entry_hash != tree_hash && !mismatch) mismatch = Mismatch{i, entry_hash, tree_hash};
      tree.Append(entry_hash);
      from_tiles.Append(tree_hash);
      if (on_entry) on_entry(i, entry);
    }
  }

  const Hash root = tree.Root();
  if (root == cp.root) {
    if (mismatch) {
      return absl::DataLossError(fmt::format(
          "the entries reproduce the checkpoint root, but the level-0 tile serves hash {} for index {} whose entry "
          "hashes to {}: the server's tree hashes are damaged",
          HashHex(mismatch->tree_hash), mismatch->index, HashHex(mismatch->entry_hash)));
    }
  } else if (mismatch && from_tiles.Root() == cp.root) {
    return absl::DataLossError(fmt::format(
        "entry at index {} was altered after it was logged: it hashes to {}, but checkpoint {} (size {}, root {}) "
        "committed leaf hash {}",
        mismatch->index, HashHex(mismatch->entry_hash), cp.origin, cp.size, HashHex(cp.root),
        HashHex(mismatch->tree_hash)));
  } else if (mismatch) {
    return absl::DataLossError(fmt::format(
        "entry at index {} hashes to {} but the served tree has {}, and neither reproduces the checkpoint root {} "
        "(size {})",
        mismatch->index, HashHex(mismatch->entry_hash), HashHex(mismatch->tree_hash), HashHex(cp.root), cp.size));
  } else {
    return absl::DataLossError(fmt::format("the entries from index {} to {} give root {}, not the checkpoint's root {}",
                                           start, cp.size - 1, HashHex(root), HashHex(cp.root)));
  }

  VerifyResult result;
  result.previous_size = start;
  result.new_entries = cp.size - start;
  result.state = VerifiedState{cp.origin, cp.size, cp.root, std::move(note), tree.hashes()};
  return result;
}

}  // namespace aperture::translog
