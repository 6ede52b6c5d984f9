#include "api/log/log_routes.h"

#include <charconv>

#include "api/body_fields.h"
#include "api/views.h"
#include "core/base64.h"
#include "core/hex.h"
#include "core/status_macros.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"
#include "translog/note.h"

namespace aperture {
namespace {

using translog::Hash;

// A non-negative decimal query parameter; nullopt when absent.
absl::StatusOr<std::optional<int64_t>> QueryInt(const RequestContext& ctx, std::string_view name) {
  std::optional<std::string_view> v = ctx.request.Query(name);
  if (!v) return std::optional<int64_t>();
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size() || out < 0) {
    return FieldError(name, fmt::format("'{}' must be a non-negative integer", name));
  }
  return std::optional<int64_t>(out);
}

absl::StatusOr<int64_t> RequiredQueryInt(const RequestContext& ctx, std::string_view name) {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, QueryInt(ctx, name));
  if (!v) return FieldError(name, fmt::format("'{}' is required", name));
  return *v;
}

// A tree size that the log has published; the latest when absent.
absl::StatusOr<int64_t> TreeSize(const RequestContext& ctx, std::string_view name, int64_t head_size) {
  ASSIGN_OR_RETURN(std::optional<int64_t> size, QueryInt(ctx, name));
  if (!size) return head_size;
  if (*size > head_size) {
    return FieldError(name, fmt::format("'{}' is {}, beyond the log's size {}", name, *size, head_size));
  }
  return *size;
}

// A leaf hash as 64 hex digits or base64 (standard or URL-safe; a '+' that
// the query decoding turned into a space is taken back).
absl::StatusOr<Hash> QueryHash(std::string_view text) {
  std::optional<std::string> bytes;
  if (text.size() == 64) bytes = HexDecode(text);
  if (!bytes) {
    std::string b64(text);
    for (char& c : b64) {
      if (c == ' ') c = '+';
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    while (b64.size() % 4 != 0) b64.push_back('=');
    bytes = Base64Decode(b64);
  }
  if (!bytes || bytes->size() != 32) {
    return FieldError("hash", "'hash' must be a SHA-256 leaf hash in hex (64 digits) or base64");
  }
  return *translog::HashFromBytes(*bytes);
}

Json HashList(const std::vector<Hash>& hashes) {
  Json out = Json::array();
  for (const Hash& h : hashes) out.push_back(Base64Encode(translog::ToBytes(h)));
  return out;
}

http::Response Text(std::string body, std::string cache_control) {
  http::Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  r.SetHeader("Cache-Control", std::move(cache_control));
  return r;
}

absl::StatusOr<Json> InclusionProof(translog::LogReader& log, const RequestContext& ctx) {
  ASSIGN_OR_RETURN(LogHead head, log.Head());
  ASSIGN_OR_RETURN(int64_t size, TreeSize(ctx, "size", head.size));
  ASSIGN_OR_RETURN(std::optional<int64_t> index, QueryInt(ctx, "index"));
  std::optional<std::string_view> hash_text = ctx.request.Query("hash");
  if (index && hash_text) return FieldError("hash", "give 'index' or 'hash', not both");
  Hash leaf{};
  if (hash_text) {
    ASSIGN_OR_RETURN(leaf, QueryHash(*hash_text));
    ASSIGN_OR_RETURN(std::optional<int64_t> found, log.FindLeaf(leaf, size));
    if (!found) {
      return absl::NotFoundError(
          fmt::format("no entry with leaf hash {} in the tree of size {}", translog::HashHex(leaf), size));
    }
    index = found;
  } else if (!index) {
    return FieldError("index", "'index' (or 'hash') is required");
  } else if (*index >= size) {
    return FieldError("index", fmt::format("'index' {} is not below the tree size {}", *index, size));
  } else {
    ASSIGN_OR_RETURN(leaf, log.LeafHashAt(*index));
  }
  ASSIGN_OR_RETURN(std::vector<Hash> proof, log.InclusionProof(*index, size));
  return Json{{"index", *index},
              {"size", size},
              {"leaf_hash", Base64Encode(translog::ToBytes(leaf))},
              {"proof", HashList(proof)}};
}

absl::StatusOr<Json> ConsistencyProof(translog::LogReader& log, const RequestContext& ctx) {
  ASSIGN_OR_RETURN(LogHead head, log.Head());
  ASSIGN_OR_RETURN(int64_t old_size, RequiredQueryInt(ctx, "old"));
  ASSIGN_OR_RETURN(int64_t new_size, TreeSize(ctx, "new", head.size));
  if (old_size > new_size) {
    return FieldError("old", fmt::format("'old' {} is larger than 'new' {}", old_size, new_size));
  }
  ASSIGN_OR_RETURN(std::vector<Hash> proof, log.ConsistencyProof(old_size, new_size));
  return Json{{"old", old_size}, {"new", new_size}, {"proof", HashList(proof)}};
}

absl::StatusOr<Json> Entries(translog::LogReader& log, const RequestContext& ctx) {
  ASSIGN_OR_RETURN(LogHead head, log.Head());
  ASSIGN_OR_RETURN(int64_t start, RequiredQueryInt(ctx, "start"));
  ASSIGN_OR_RETURN(std::optional<int64_t> end, QueryInt(ctx, "end"));
  if (start > head.size) {
    return FieldError("start", fmt::format("'start' {} is beyond the log's size {}", start, head.size));
  }
  if (end && *end < start) return FieldError("end", "'end' must not be below 'start'");
  // The page is bounded; a client continues from the returned end.
  const int64_t stop = std::min({end.value_or(head.size), head.size, start + kMaxLogPage});
  ASSIGN_OR_RETURN(std::vector<std::string> entries, log.Entries(start, stop));
  Json list = Json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    list.push_back({{"index", start + static_cast<int64_t>(i)}, {"entry", std::move(entries[i])}});
  }
  return Json{{"start", start}, {"end", stop}, {"size", head.size}, {"entries", std::move(list)}};
}

absl::StatusOr<Json> Mine(translog::LogReader& log, const RequestContext& ctx) {
  const std::string principal = ctx.caller.actor();
  ASSIGN_OR_RETURN(LogHead head, log.Head());
  ASSIGN_OR_RETURN(std::optional<int64_t> after, QueryInt(ctx, "after"));
  ASSIGN_OR_RETURN(std::optional<int64_t> limit, QueryInt(ctx, "limit"));
  if (limit && (*limit < 1 || *limit > kMaxLogPage)) {
    return FieldError("limit", fmt::format("'limit' must be between 1 and {}", kMaxLogPage));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> indices, log.EntriesAbout(principal, after ? *after : -1, limit.value_or(100)));
  Json list = Json::array();
  for (int64_t index : indices) {
    if (index >= head.size) break;  // logged after this checkpoint: the next call proves it
    ASSIGN_OR_RETURN(std::vector<std::string> entry, log.Entries(index, index + 1));
    ASSIGN_OR_RETURN(std::vector<Hash> proof, log.InclusionProof(index, head.size));
    list.push_back({{"index", index}, {"entry", std::move(entry[0])}, {"proof", HashList(proof)}});
  }
  Json out = {{"principal", principal}, {"size", head.size}, {"checkpoint", head.checkpoint}};
  out["next_after"] = list.empty() ? Json() : list.back()["index"];
  out["entries"] = std::move(list);
  return out;
}

http::Response Tile(translog::LogReader& log, const RequestContext& ctx) {
  absl::StatusOr<translog::TileRef> tile = translog::ParseTilePath(std::string_view(ctx.request.path).substr(5));
  if (!tile.ok()) return StatusResponse(FieldError("path", std::string(tile.status().message())));
  absl::StatusOr<std::string> bytes = log.Tile(*tile);
  if (!bytes.ok()) return StatusResponse(bytes.status());
  http::Response r;
  r.content_type = "application/octet-stream";
  r.body = std::move(*bytes);
  // A tile never changes once served (a partial one is named by its width).
  r.SetHeader("Cache-Control", "public, max-age=31536000, immutable");
  return r;
}

}  // namespace

void AddLogRoutes(Router& router, translog::LogReader& reader, std::string public_key) {
  translog::LogReader* log = &reader;  // outlives the router (both are owned by the app)
  auto json = [log](absl::StatusOr<Json> (*fn)(translog::LogReader&, const RequestContext&)) {
    return [log, fn](RequestContext& ctx) { return Answer(fn(*log, ctx)); };
  };
  router.Add(
      {"GET", "/log/checkpoint", "log.checkpoint", Access::kAnyone, ModelFrom::kNone, {}, {}, [log](RequestContext&) {
         absl::StatusOr<LogHead> head = log->Head();
         if (!head.ok()) return StatusResponse(head.status());
         return Text(head->checkpoint, "no-cache");
       }});
  router.Add(
      {"GET", "/log/key", "log.key", Access::kAnyone, ModelFrom::kNone, {}, {}, [log, public_key](RequestContext&) {
         absl::StatusOr<LogHead> head = log->Head();
         if (!head.ok()) return StatusResponse(head.status());
         return Text(translog::Ed25519VerifierKey(head->origin, public_key) + "\n", "no-cache");
       }});
  router.Add({"GET",
              "/log/proof/inclusion",
              "log.proof.inclusion",
              Access::kAnyone,
              ModelFrom::kNone,
              {},
              {},
              json(&InclusionProof)});
  router.Add({"GET",
              "/log/proof/consistency",
              "log.proof.consistency",
              Access::kAnyone,
              ModelFrom::kNone,
              {},
              {},
              json(&ConsistencyProof)});
  router.Add({"GET", "/log/entries", "log.entries", Access::kAnyone, ModelFrom::kNone, {}, {}, json(&Entries)});
  router.Add({"GET", "/log/mine", "log.mine", Access::kPrincipal, ModelFrom::kNone, {}, {}, json(&Mine)});
  // tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>], N in 1 to 6 path
  // elements: every depth is one route, all parsed by ParseTilePath.
  std::string pattern = "/log/tile/{a}";
  for (int depth = 2; depth <= 9; ++depth) {
    pattern += fmt::format("/{{s{}}}", depth);
    router.Add({"GET", pattern, "log.tile", Access::kAnyone, ModelFrom::kNone, {}, {}, [log](RequestContext& ctx) {
                  return Tile(*log, ctx);
                }});
  }
}

}  // namespace aperture
