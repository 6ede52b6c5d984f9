#include "access/research_scope.h"

#include <algorithm>

#include "config/config.h"
#include "core/glob.h"
#include "core/json.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

absl::Status Bad(std::string_view key, std::string_view message) {
  absl::Status s = absl::InvalidArgumentError(fmt::format("scope.{} {}", key, message));
  s.SetPayload("aperture/param", absl::Cord(fmt::format("scope.{}", key)));
  return s;
}

bool AnyMatch(const std::vector<std::string>& patterns, std::string_view site) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return GlobMatch(p, site); });
}

// The smaller limit, where 0 means unlimited (the rates).
int64_t MinRate(int64_t a, int64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

std::string Patterns(const std::vector<std::string>& p) { return DumpJson(Json(p)); }

// The lowest level above `level` whose own scope reads/writes `site`, for messages.
std::optional<Level> LevelAllowing(const Config& config, Level level, std::string_view site, bool write) {
  for (Level l : kAllLevels) {
    if (l <= level) continue;
    const LevelLimits& limits = config.Limits(l);
    if (!limits.Allows(write ? Capability::kIntervene : Capability::kInspect)) continue;
    if (AnyMatch(write ? limits.research.intervene_sites : limits.research.inspect_sites, site)) return l;
  }
  return std::nullopt;
}

}  // namespace

bool GrantScope::empty() const {
  return !inspect_sites && !intervene_sites && !max_tokens && !max_bytes && !tokens_per_minute && !requests_per_day;
}

bool ValidSitePattern(std::string_view p) {
  if (p.empty() || p.size() > 128) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '*';
  });
}

absl::StatusOr<GrantScope> ParseGrantScope(std::string_view text) {
  GrantScope g;
  if (text.empty()) return g;
  ASSIGN_OR_RETURN(Json json, ParseJson(text));
  if (!json.is_object()) return absl::InvalidArgumentError("a grant's scope must be a JSON object");
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "inspect_sites" || key == "intervene_sites") {
      if (!v.is_array() || v.size() > 256) return Bad(key, "must be an array of at most 256 site patterns");
      std::vector<std::string> patterns;
      for (const Json& p : v) {
        if (!p.is_string() || !ValidSitePattern(p.get<std::string>())) {
          return Bad(key,
                     "holds a pattern that is not a site pattern (letters, digits, '_', '.', '*'; e.g. "
                     "\"blocks.*.hook_resid_post\")");
        }
        patterns.push_back(p.get<std::string>());
      }
      (key == "inspect_sites" ? g.inspect_sites : g.intervene_sites) = std::move(patterns);
      continue;
    }
    std::optional<int64_t>* limit = key == "research_max_tokens"          ? &g.max_tokens
                                    : key == "research_max_bytes"         ? &g.max_bytes
                                    : key == "research_tokens_per_minute" ? &g.tokens_per_minute
                                    : key == "research_requests_per_day"  ? &g.requests_per_day
                                                                          : nullptr;
    if (limit == nullptr) {
      return Bad(key,
                 "is not a scope field (known: inspect_sites, intervene_sites, research_max_tokens, "
                 "research_max_bytes, research_tokens_per_minute, research_requests_per_day)");
    }
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (int64_t{1} << 40)) {
      return Bad(key, "must be an integer from 0 to 2^40");
    }
    *limit = v.get<int64_t>();
  }
  return g;
}

std::string GrantScopeJson(const GrantScope& g) {
  Json out = Json::object();
  if (g.inspect_sites) out["inspect_sites"] = *g.inspect_sites;
  if (g.intervene_sites) out["intervene_sites"] = *g.intervene_sites;
  if (g.max_tokens) out["research_max_tokens"] = *g.max_tokens;
  if (g.max_bytes) out["research_max_bytes"] = *g.max_bytes;
  if (g.tokens_per_minute) out["research_tokens_per_minute"] = *g.tokens_per_minute;
  if (g.requests_per_day) out["research_requests_per_day"] = *g.requests_per_day;
  return CanonicalJson(out);
}

ResearchScope NarrowScope(const ResearchScope& level, const GrantScope& grant) {
  ResearchScope s = level;
  if (grant.max_tokens) s.max_tokens = std::min(s.max_tokens, *grant.max_tokens);
  if (grant.max_bytes) s.max_bytes = std::min(s.max_bytes, *grant.max_bytes);
  if (grant.tokens_per_minute) s.tokens_per_minute = MinRate(s.tokens_per_minute, *grant.tokens_per_minute);
  if (grant.requests_per_day) s.requests_per_day = MinRate(s.requests_per_day, *grant.requests_per_day);
  return s;
}

bool ScopeReads(const ResearchScope& level, const GrantScope& grant, std::string_view site) {
  return AnyMatch(level.inspect_sites, site) && (!grant.inspect_sites || AnyMatch(*grant.inspect_sites, site));
}

bool ScopeWrites(const ResearchScope& level, const GrantScope& grant, std::string_view site) {
  return AnyMatch(level.intervene_sites, site) && (!grant.intervene_sites || AnyMatch(*grant.intervene_sites, site));
}

std::optional<ScopeRefusal> CheckScope(std::string_view model, Level level, const Config& config,
                                       const GrantScope& grant, std::string_view grant_id,
                                       const ResearchDemand& demand) {
  const ResearchScope& base = config.Limits(level).research;
  const std::string level_name(LevelName(level));
  for (bool write : {false, true}) {
    const std::vector<std::string>& sites = write ? demand.sites_written : demand.sites_read;
    const char* key = write ? "intervene_sites" : "inspect_sites";
    for (const std::string& site : sites) {
      if (write ? ScopeWrites(base, grant, site) : ScopeReads(base, grant, site)) continue;
      const std::optional<std::vector<std::string>>& narrowed = write ? grant.intervene_sites : grant.inspect_sites;
      const bool level_allows = AnyMatch(write ? base.intervene_sites : base.inspect_sites, site);
      std::string why = fmt::format("level '{}' allows {} {}", level_name, key,
                                    Patterns(write ? base.intervene_sites : base.inspect_sites));
      if (level_allows && narrowed) why += fmt::format(", narrowed by grant {} to {}", grant_id, Patterns(*narrowed));
      std::string allow;
      if (level_allows) {
        allow = fmt::format("a grant whose {} include it would allow it (ask the model's owner)", key);
      } else if (std::optional<Level> higher = LevelAllowing(config, level, site, write)) {
        allow = fmt::format("level '{}' allows it", LevelName(*higher));
      } else {
        allow = fmt::format("no level of this server allows it; the server's config sets {} per level", key);
      }
      return ScopeRefusal{"research_scope_site",
                          fmt::format("Research scope: this request {} '{}', outside your scope on '{}' ({}); {}.",
                                      write ? "writes" : "reads", site, model, why, allow)};
    }
  }
  if (!demand.limits_apply) return std::nullopt;
  const ResearchScope scope = NarrowScope(base, grant);
  struct Limit {
    const char* key;
    int64_t asked, allowed, level_value;
    std::optional<int64_t> grant_value;
    const char* what;
  };
  for (const Limit& l : {Limit{"research_max_tokens", demand.forward_tokens, scope.max_tokens, base.max_tokens,
                               grant.max_tokens, "forward-pass tokens"},
                         Limit{"research_max_bytes", demand.result_bytes, scope.max_bytes, base.max_bytes,
                               grant.max_bytes, "result bytes"},
                         Limit{"research_tokens_per_minute", demand.forward_tokens,
                               scope.tokens_per_minute == 0 ? demand.forward_tokens : scope.tokens_per_minute,
                               base.tokens_per_minute, grant.tokens_per_minute, "forward-pass tokens"}}) {
    if (l.asked <= l.allowed) continue;
    std::string where = fmt::format("{} for level '{}'", l.level_value, level_name);
    if (l.grant_value && *l.grant_value < l.level_value) {
      where = fmt::format("{} for grant {} (level '{}': {})", *l.grant_value, grant_id, level_name, l.level_value);
    }
    std::optional<Level> higher;
    for (Level x : kAllLevels) {
      if (x <= level || !config.Limits(x).Allows(Capability::kInspect)) continue;
      const ResearchScope& s = config.Limits(x).research;
      const int64_t v = std::string_view(l.key) == "research_max_tokens"  ? s.max_tokens
                        : std::string_view(l.key) == "research_max_bytes" ? s.max_bytes
                                                                          : s.tokens_per_minute;
      if (v == 0 ? std::string_view(l.key) == "research_tokens_per_minute" : v >= l.asked) {
        higher = x;
        break;
      }
    }
    return ScopeRefusal{
        "research_scope_limit",
        fmt::format("Research scope: this request needs {} {}; {} on '{}' is {}. Split the request, or ask for a "
                    "scope with {} of at least {}{}.",
                    l.asked, l.what, l.key, model, where, l.key, l.asked,
                    higher ? fmt::format(" (level '{}' has it)", LevelName(*higher)) : "")};
  }
  return std::nullopt;
}

}  // namespace aperture
