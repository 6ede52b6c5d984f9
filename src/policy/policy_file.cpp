// Reading and validating policy files (the TOML shape is in docs/policy.md).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/toml_reader.h"
#include "core/hash.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "policy/policy.h"

namespace aperture::policy {
namespace {

constexpr size_t kMaxPolicyBytes = 1 << 20;
constexpr size_t kMaxNameLength = 128;
constexpr int64_t kMaxDurationSeconds = int64_t{100} * 365 * 86400;

// A duration such as "14d", at most a century (so times never overflow).
absl::Status ReadDuration(TomlReader& r, std::string_view key, int64_t& seconds) {
  RETURN_IF_ERROR(r.Duration(key, seconds));
  if (seconds > kMaxDurationSeconds) return r.Error(*r.Take(key), key, "is longer than 100 years");
  return absl::OkStatus();
}

absl::Status ReadLevel(TomlReader& r, std::string_view key, Level& out, bool required, const toml::node* where) {
  const toml::node* node = r.Take(key);
  if (!node) {
    if (!required) return absl::OkStatus();
    return r.Error(*where, key, "is required");
  }
  constexpr std::string_view kLevels = "closed, staged, hosted, api, research, download or open";
  if (!node->is_string()) return r.Error(*node, key, fmt::format("must be a level name: {}", kLevels));
  const std::string text = *node->value<std::string>();
  std::optional<Level> level = ParseLevel(text);
  if (!level) return r.Error(*node, key, fmt::format("has an unknown level \"{}\"; use {}", text, kLevels));
  out = *level;
  return absl::OkStatus();
}

absl::Status ReadSeverity(TomlReader& r, std::string_view key, std::optional<Severity>& out, const toml::node& where,
                          bool required) {
  const toml::node* node = r.Take(key);
  if (!node) return required ? r.Error(where, key, "is required") : absl::OkStatus();
  constexpr std::string_view kSeverities = "low, medium, high or critical";
  if (!node->is_string()) return r.Error(*node, key, fmt::format("must be a severity: {}", kSeverities));
  const std::string text = *node->value<std::string>();
  std::optional<Severity> s = ParseSeverity(text);
  if (!s) return r.Error(*node, key, fmt::format("has an unknown severity \"{}\"; use {}", text, kSeverities));
  out = *s;
  return absl::OkStatus();
}

absl::Status ReadName(TomlReader& r, std::string_view key, std::string& out, const toml::node& where) {
  RETURN_IF_ERROR(r.String(key, out));
  if (out.empty()) {
    const toml::node* node = where.as_table() ? where.as_table()->get(key) : nullptr;
    return node ? r.Error(*node, key, "must not be empty") : r.Error(where, key, "is required");
  }
  if (out.size() > kMaxNameLength) return r.Error(where, key, "is longer than 128 characters");
  return absl::OkStatus();
}

absl::Status ReadCeilings(TomlReader& top, Policy& p) {
  absl::Status s;
  if (const toml::table* t = top.Table("ceilings", s)) {
    TomlReader r(*t, "ceilings", top.source());
    for (RiskTier tier : {RiskTier::kLow, RiskTier::kMedium, RiskTier::kHigh, RiskTier::kCritical}) {
      RETURN_IF_ERROR(ReadLevel(r, RiskTierName(tier), p.tier_ceiling[static_cast<int>(tier)], false, t));
    }
    RETURN_IF_ERROR(r.NoUnknownKeys());
    for (int i = 1; i < 4; ++i) {
      if (p.tier_ceiling[i] <= p.tier_ceiling[i - 1]) continue;
      const std::string_view riskier = RiskTierName(static_cast<RiskTier>(i));
      const std::string_view milder = RiskTierName(static_cast<RiskTier>(i - 1));
      // Either may be a default the file left out: point at the one written.
      const toml::node* riskier_node = t->get(riskier);
      const toml::node* milder_node = t->get(milder);
      const toml::node& where = riskier_node ? *riskier_node : milder_node ? *milder_node : *t;
      return r.Error(where, riskier,
                     fmt::format("({}{}) is above the ceiling of the less risky tier {} ({}{}): a riskier tier may "
                                 "not be more open",
                                 LevelName(p.tier_ceiling[i]), riskier_node ? "" : ", the default", milder,
                                 LevelName(p.tier_ceiling[i - 1]), milder_node ? "" : ", the default"));
    }
  }
  return s;
}

absl::Status ReadSuite(TomlReader& r, const toml::table& t, const std::string& base_dir, SuiteRule& rule) {
  RETURN_IF_ERROR(ReadName(r, "name", rule.name, t));
  RETURN_IF_ERROR(ReadName(r, "file", rule.file, t));
  RETURN_IF_ERROR(ReadName(r, "metric", rule.metric, t));
  std::filesystem::path file(rule.file);
  if (file.is_relative()) file = std::filesystem::path(base_dir) / file;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return r.Error(*t.get("file"), "file",
                   fmt::format("names no such file \"{}\" (resolved to {})", rule.file, file.string()));
  }
  rule.file = file.lexically_normal().string();

  absl::Status s;
  const toml::table* thresholds = r.Table("thresholds", s);
  RETURN_IF_ERROR(s);
  if (!thresholds) return r.Error(t, "thresholds", "is required: { medium = ..., high = ..., critical = ... }");
  TomlReader tr(*thresholds, r.Name("thresholds"), r.source());
  double* values[] = {&rule.medium, &rule.high, &rule.critical};
  const char* names[] = {"medium", "high", "critical"};
  for (int i = 0; i < 3; ++i) {
    if (!thresholds->get(names[i])) return tr.Error(*thresholds, names[i], "is required");
    RETURN_IF_ERROR(tr.Number(names[i], *values[i]));
    // An infinite threshold is never reached: it would silently drop a tier.
    if (!std::isfinite(*values[i])) return tr.Error(*thresholds->get(names[i]), names[i], "must be a finite number");
  }
  RETURN_IF_ERROR(tr.NoUnknownKeys());
  for (int i = 1; i < 3; ++i) {
    if (*values[i] < *values[i - 1]) {
      return tr.Error(*thresholds->get(names[i]), names[i],
                      fmt::format("({}) is below {} ({}): thresholds must not decrease from medium to critical",
                                  *values[i], names[i - 1], *values[i - 1]));
    }
  }
  return r.NoUnknownKeys();
}

absl::Status ReadDomains(TomlReader& top, const std::string& base_dir, Policy& p) {
  absl::Status s;
  const toml::array* domains = top.Tables("domains", s);
  RETURN_IF_ERROR(s);
  if (!domains) return absl::OkStatus();
  std::set<std::string> domain_names, suite_names;
  for (size_t i = 0; i < domains->size(); ++i) {
    const toml::table& t = *(*domains)[i].as_table();
    TomlReader r(t, fmt::format("domains[{}]", i), top.source());
    Domain d;
    RETURN_IF_ERROR(ReadName(r, "name", d.name, t));
    if (!domain_names.insert(d.name).second) {
      return r.Error(*t.get("name"), "name", fmt::format("repeats the domain \"{}\"", d.name));
    }
    const toml::array* suites = r.Tables("suites", s);
    RETURN_IF_ERROR(s);
    if (!suites || suites->empty()) return r.Error(t, "suites", "is required: at least one [[domains.suites]]");
    for (size_t j = 0; j < suites->size(); ++j) {
      const toml::table& st = *(*suites)[j].as_table();
      TomlReader sr(st, fmt::format("domains[{}].suites[{}]", i, j), top.source());
      SuiteRule rule;
      RETURN_IF_ERROR(ReadSuite(sr, st, base_dir, rule));
      if (!suite_names.insert(rule.name).second) {
        return sr.Error(*st.get("name"), "name",
                        fmt::format("repeats the suite \"{}\" (each suite belongs to one domain)", rule.name));
      }
      d.suites.push_back(std::move(rule));
    }
    RETURN_IF_ERROR(r.NoUnknownKeys());
    p.domains.push_back(std::move(d));
  }
  return absl::OkStatus();
}

absl::Status ReadStages(TomlReader& top, Policy& p) {
  absl::Status s;
  const toml::array* stages = top.Tables("stages", s);
  RETURN_IF_ERROR(s);
  if (!stages) return absl::OkStatus();
  for (size_t i = 0; i < stages->size(); ++i) {
    const toml::table& t = *(*stages)[i].as_table();
    TomlReader r(t, fmt::format("stages[{}]", i), top.source());
    Stage stage;
    RETURN_IF_ERROR(ReadLevel(r, "level", stage.level, true, &t));
    if (stage.level == Level::kClosed) {
      return r.Error(*t.get("level"), "level", "is closed: every model starts closed, so it is not a stage");
    }
    if (!p.stages.empty() && stage.level <= p.stages.back().level) {
      return r.Error(*t.get("level"), "level",
                     fmt::format("{} does not come after {} (stages[{}]): stages must rise, each level once",
                                 LevelName(stage.level), LevelName(p.stages.back().level), i - 1));
    }
    std::string approval = "owner";
    RETURN_IF_ERROR(r.String("approval", approval));
    if (approval != "owner" && approval != "automatic") {
      return r.Error(*t.get("approval"), "approval", "must be \"owner\" or \"automatic\"");
    }
    stage.automatic = approval == "automatic";
    RETURN_IF_ERROR(ReadDuration(r, "min_time_at_previous", stage.min_seconds_at_previous));
    RETURN_IF_ERROR(ReadSeverity(r, "no_open_findings_at", stage.blocking_severity, t, false));
    if (const toml::node* fresh = r.Take("fresh_evals")) {
      const toml::array* arr = fresh->as_array();
      if (!arr || !arr->is_array_of_tables()) {
        return r.Error(*fresh, "fresh_evals", "must be a list such as [{ suite = \"x\", max_age = \"30d\" }]");
      }
      for (size_t j = 0; j < arr->size(); ++j) {
        const toml::table& ft = *(*arr)[j].as_table();
        TomlReader fr(ft, fmt::format("stages[{}].fresh_evals[{}]", i, j), top.source());
        Stage::FreshEval fe;
        RETURN_IF_ERROR(ReadName(fr, "suite", fe.suite, ft));
        if (!p.FindSuite(fe.suite)) {
          return fr.Error(*ft.get("suite"), "suite", fmt::format("names \"{}\", which no domain declares", fe.suite));
        }
        if (!ft.get("max_age")) return fr.Error(ft, "max_age", "is required (e.g. \"30d\")");
        RETURN_IF_ERROR(ReadDuration(fr, "max_age", fe.max_age_seconds));
        RETURN_IF_ERROR(fr.NoUnknownKeys());
        stage.fresh_evals.push_back(std::move(fe));
      }
    }
    RETURN_IF_ERROR(r.NoUnknownKeys());
    p.stages.push_back(std::move(stage));
  }
  return absl::OkStatus();
}

absl::Status ReadRollback(TomlReader& top, Policy& p) {
  absl::Status s;
  const toml::array* rules = top.Tables("rollback", s);
  RETURN_IF_ERROR(s);
  if (!rules) return absl::OkStatus();
  for (size_t i = 0; i < rules->size(); ++i) {
    const toml::table& t = *(*rules)[i].as_table();
    TomlReader r(t, fmt::format("rollback[{}]", i), top.source());
    std::optional<Severity> severity;
    RollbackRule rule;
    RETURN_IF_ERROR(ReadSeverity(r, "severity", severity, t, true));
    rule.severity = *severity;
    RETURN_IF_ERROR(ReadLevel(r, "ceiling", rule.ceiling, true, &t));
    for (const RollbackRule& other : p.rollback) {
      if (other.severity == rule.severity) {
        return r.Error(*t.get("severity"), "severity",
                       fmt::format("repeats the severity {}", SeverityName(rule.severity)));
      }
      // A finding matches every rule at or below its severity and the lowest
      // ceiling wins, so such a rule would never apply: surely a mistake.
      const RollbackRule& milder = other.severity < rule.severity ? other : rule;
      const RollbackRule& graver = other.severity < rule.severity ? rule : other;
      if (graver.ceiling > milder.ceiling) {
        return r.Error(*t.get("ceiling"), "ceiling",
                       fmt::format("({}): a {} finding would leave the model at {} but a {} one at {}; a more "
                                   "severe finding may not leave it more open",
                                   LevelName(rule.ceiling), SeverityName(graver.severity), LevelName(graver.ceiling),
                                   SeverityName(milder.severity), LevelName(milder.ceiling)));
      }
    }
    RETURN_IF_ERROR(r.NoUnknownKeys());
    p.rollback.push_back(rule);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Policy> ParsePolicy(std::string_view text, std::string_view source, const std::string& base_dir) {
  if (text.size() > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(fmt::format("{}: a policy file is at most 1 MiB", source));
  }
  ASSIGN_OR_RETURN(toml::table table, ParseToml(text, source));
  Policy p;
  p.source = std::string(source);
  p.sha256 = Sha256Hex(text);
  TomlReader top(table, "", source);
  RETURN_IF_ERROR(ReadLevel(top, "unknown_ceiling", p.unknown_ceiling, false, &table));
  RETURN_IF_ERROR(ReadCeilings(top, p));
  RETURN_IF_ERROR(ReadDomains(top, base_dir, p));
  RETURN_IF_ERROR(ReadStages(top, p));
  RETURN_IF_ERROR(ReadRollback(top, p));
  RETURN_IF_ERROR(top.NoUnknownKeys());
  return p;
}

absl::StatusOr<Policy> LoadPolicy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read policy file {}", path));
  std::ostringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ParsePolicy(text.str(), path, absolute.parent_path().string());
}

Policy DefaultPolicy() {
  Policy p;
  p.source = "(default: no policy file in force)";
  p.tier_ceiling = {Level::kOpen, Level::kOpen, Level::kOpen, Level::kOpen};
  return p;
}

const SuiteRule* Policy::FindSuite(std::string_view name) const {
  for (const Domain& d : domains) {
    for (const SuiteRule& s : d.suites) {
      if (s.name == name) return &s;
    }
  }
  return nullptr;
}

}  // namespace aperture::policy
