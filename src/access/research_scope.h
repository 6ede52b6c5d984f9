// Research scopes (ResearchScope, config.h): which hook sites a research caller may read (`inspect`)
// and write (`intervene`), as glob patterns ("blocks.*.hook_resid_post"),
// and how much one request may compute and return, set per level in the
// config's [levels.*] and narrowed per grant (Grant::scope, a JSON object).
// CheckScope is the admission decision over a request's demand: pure, so
// the research scope quota applies it and the tests can reach every case.
//
// Limits: research_max_tokens (forward-pass tokens per request) and
// research_max_bytes (result bytes per request) of 0 allow nothing;
// research_tokens_per_minute and research_requests_per_day of 0 are
// unlimited. A grant can only narrow: patterns must match the level's and
// the grant's lists; a limit is the smaller of the two.
//
// Usage:
//   ASSIGN_OR_RETURN(GrantScope g, ParseGrantScope(grant.scope));
//   if (auto refusal = CheckScope(ctx.model_id, level, config, g, grant.id, demand)) -> 403 refusal->message
//
// Thread-safety: pure functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aperture/level.h"
#include "config/config.h"

namespace aperture {

// A grant's narrowing: only what it sets.
struct GrantScope {
  std::optional<std::vector<std::string>> inspect_sites, intervene_sites;
  std::optional<int64_t> max_tokens, max_bytes, tokens_per_minute, requests_per_day;
  bool empty() const;
};

// Parses and checks a grant's scope JSON ("{}" or "" is no narrowing);
// InvalidArgument naming the key at fault (unknown keys included).
absl::StatusOr<GrantScope> ParseGrantScope(std::string_view json);
// The canonical JSON of a grant scope (what the store and the log keep).
std::string GrantScopeJson(const GrantScope& scope);
// A site pattern as scopes take it: letters, digits, '_', '.', '*'; 1-128 characters.
bool ValidSitePattern(std::string_view pattern);

// The level's scope narrowed by the grant's.
ResearchScope NarrowScope(const ResearchScope& level, const GrantScope& grant);
bool ScopeReads(const ResearchScope& level, const GrantScope& grant, std::string_view site);
bool ScopeWrites(const ResearchScope& level, const GrantScope& grant, std::string_view site);

// What one research request reads, writes and costs (research/ computes it).
struct ResearchDemand {
  std::vector<std::string> sites_read, sites_written;  // concrete site names
  int64_t forward_tokens = 0;
  int64_t result_bytes = 0;
  bool limits_apply = true;  // false for chat steering: only the sites are checked
};

struct ScopeRefusal {
  std::string reason;   // "research_scope_site" or "research_scope_limit"
  std::string message;  // names the site or limit, and the scope that would allow it
};

// nullopt if the demand is within the scope of `level` (narrowed by
// `grant`, whose id `grant_id` is named in messages; "" for none).
std::optional<ScopeRefusal> CheckScope(std::string_view model, Level level, const Config& config,
                                       const GrantScope& grant, std::string_view grant_id,
                                       const ResearchDemand& demand);

}  // namespace aperture
