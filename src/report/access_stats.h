// Access statistics of one model per release level, counted from the
// transparency log's entries, so that anyone holding the entries up to a
// checkpoint gets the same numbers. The rules, per entry about the model,
// grouped by the entry's `level` ("none" when it has none):
//
//   access.decision, outcome allow  -> requests + 1; its actor, unless
//                                      "anonymous", is one of the principals
//   access.decision, outcome deny   -> denied + 1
//   access.decision, outcome error  -> failed + 1 (allowed, then an internal
//                                      or engine failure)
//   access.decision allowed on a route named research.*
//                                   -> research_queries + 1
//   completion                      -> tokens + prompt_tokens + completion_tokens
//   embedding                       -> tokens + prompt_tokens
//   download                        -> downloads + 1, download_bytes + bytes_served
//
// Entries that are not JSON, or whose details lack a number, add nothing
// for that number.
//
// Usage:
//   AccessStats stats;
//   for (const std::string& entry : entries) stats.Add(entry);
//   Json j = stats.ToJson("tiny");
//
// Thread-safety: not thread-safe; a value type.
#pragma once

#include <map>
#include <set>
#include <string>

#include "core/json.h"

namespace aperture::report {

struct LevelAccess {
  std::set<std::string> principals;
  int64_t requests = 0;
  int64_t denied = 0;
  int64_t failed = 0;
  int64_t tokens = 0;
  int64_t downloads = 0;
  int64_t download_bytes = 0;
  int64_t research_queries = 0;
};

class AccessStats {
 public:
  // Folds one log entry (its canonical JSON) into the statistics of its model.
  void Add(const std::string& entry);
  // {"<level>": {"principals", "requests", "denied", "failed", "tokens", "downloads",
  //  "download_bytes", "research_queries"}} for `model` (empty when none).
  Json ToJson(const std::string& model) const;

 private:
  std::map<std::string, std::map<std::string, LevelAccess>> by_model_;  // model -> level -> counts
};

}  // namespace aperture::report
