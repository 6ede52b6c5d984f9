#include "config/config.h"

#include <fstream>
#include <sstream>

#include "config/toml_reader.h"
#include "core/time_format.h"
#include "fmt/format.h"

namespace aperture {
namespace {

LevelLimits Make(std::initializer_list<Capability> caps, int64_t max_tokens, int64_t rpm, int64_t tpm,
                 int64_t top_logprobs, int64_t max_n, LogitBias logit_bias, bool system_prompt) {
  LevelLimits l;
  for (Capability c : caps) l.capabilities.set(static_cast<size_t>(c));
  l.max_tokens = max_tokens;
  l.requests_per_minute = rpm;
  l.tokens_per_minute = tpm;
  l.max_top_logprobs = top_logprobs;
  l.max_n = max_n;
  l.logit_bias = logit_bias;
  l.system_prompt = system_prompt;
  return l;
}

using C = Capability;

absl::Status ReadLogitBias(TomlReader& r, std::string_view key, LogitBias& out) {
  const toml::node* node = r.Take(key);
  if (!node) return absl::OkStatus();
  auto v = node->value<std::string>();
  if (v == "never")
    out = LogitBias::kNever;
  else if (v == "without_logprobs")
    out = LogitBias::kWithoutLogprobs;
  else if (v == "always")
    out = LogitBias::kAlways;
  else
    return r.Error(*node, key, "must be \"never\", \"without_logprobs\" or \"always\"");
  return absl::OkStatus();
}

absl::Status ReadCapabilities(TomlReader& r, std::string_view key, LevelLimits& limits) {
  const toml::node* node = r.Take(key);
  if (!node) return absl::OkStatus();
  const toml::array* arr = node->as_array();
  if (!arr) return r.Error(*node, key, "must be an array of capability names");
  limits.capabilities.reset();
  for (const toml::node& item : *arr) {
    auto name = item.value<std::string>();
    auto cap = name ? ParseCapability(*name) : std::nullopt;
    if (!cap) {
      return r.Error(item, key,
                     fmt::format("has an unknown capability '{}'; known: chat, complete, "
                                 "logprobs, embed, inspect, intervene, evaluate, finetune, download",
                                 name.value_or("?")));
    }
    limits.capabilities.set(static_cast<size_t>(*cap));
  }
  return absl::OkStatus();
}

absl::Status ReadSitePatterns(TomlReader& r, std::string_view key, std::vector<std::string>& out) {
  const toml::node* node = r.Take(key);
  if (!node) return absl::OkStatus();
  const toml::array* arr = node->as_array();
  if (!arr) return r.Error(*node, key, "must be an array of site patterns, e.g. [\"blocks.*.hook_resid_post\"]");
  out.clear();
  for (const toml::node& item : *arr) {
    auto p = item.value<std::string>();
    bool ok = p && !p->empty() && p->size() <= 128;
    for (char c : p.value_or(""))
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  c == '*');
    if (!ok) return r.Error(item, key, "holds something that is not a site pattern (letters, digits, '_', '.', '*')");
    out.push_back(*p);
  }
  return absl::OkStatus();
}

// A signed-note key name: non-empty, no spaces, no '+' (c2sp.org/signed-note).
absl::Status ReadLogName(TomlReader& r, std::string_view key, std::string& name) {
  const toml::node* node = r.Take(key);
  if (!node) return absl::OkStatus();
  auto text = node->value<std::string>();
  if (!node->is_string() || !text) return r.Error(*node, key, "must be a string");
  if (text->empty() || text->size() > 256) return r.Error(*node, key, "must be 1 to 256 characters");
  for (unsigned char ch : *text) {
    if (ch == '+' || ch <= ' ' || ch == 0x7f) {
      return r.Error(*node, key, "must not contain spaces, control characters or '+' (it names the signing key)");
    }
  }
  name = *text;
  return absl::OkStatus();
}

absl::Status ReadLevel(TomlReader& r, LevelLimits& limits) {
  constexpr int64_t kMax = int64_t{1} << 40;
  absl::Status s = ReadCapabilities(r, "capabilities", limits);
  if (s.ok()) s = r.Int("max_tokens", limits.max_tokens, 0, kMax);
  if (s.ok()) s = r.Int("requests_per_minute", limits.requests_per_minute, 0, kMax);
  if (s.ok()) s = r.Int("tokens_per_minute", limits.tokens_per_minute, 0, kMax);
  if (s.ok()) s = r.Int("max_top_logprobs", limits.max_top_logprobs, 0, 20);
  if (s.ok()) s = r.Int("max_n", limits.max_n, 1, 128);
  if (s.ok()) s = ReadLogitBias(r, "logit_bias", limits.logit_bias);
  if (s.ok()) s = r.Bool("system_prompt", limits.system_prompt);
  if (s.ok()) s = ReadSitePatterns(r, "inspect_sites", limits.research.inspect_sites);
  if (s.ok()) s = ReadSitePatterns(r, "intervene_sites", limits.research.intervene_sites);
  if (s.ok()) s = r.Int("research_max_tokens", limits.research.max_tokens, 0, kMax);
  if (s.ok()) s = r.Int("research_max_bytes", limits.research.max_bytes, 0, kMax);
  if (s.ok()) s = r.Int("research_tokens_per_minute", limits.research.tokens_per_minute, 0, kMax);
  if (s.ok()) s = r.Int("research_requests_per_day", limits.research.requests_per_day, 0, kMax);
  if (s.ok()) s = r.NoUnknownKeys();
  return s;
}

}  // namespace

std::optional<Level> Config::LowestLevelWith(Capability c) const {
  for (Level l : kAllLevels) {
    if (Limits(l).Allows(c)) return l;
  }
  return std::nullopt;
}

Config DefaultConfig() {
  Config c;
  // closed: owners only, so no level capability at all.
  c.levels[int(Level::kClosed)] = Make({}, 0, 0, 0, 0, 1, LogitBias::kNever, false);
  // staged and hosted: chat within tight limits, no logprobs.
  c.levels[int(Level::kStaged)] = Make({C::kChat}, 1024, 30, 20000, 0, 1, LogitBias::kNever, true);
  c.levels[int(Level::kHosted)] = Make({C::kChat}, 512, 20, 10000, 0, 1, LogitBias::kNever, true);
  c.levels[int(Level::kApi)] = Make({C::kChat, C::kComplete, C::kLogprobs, C::kEmbed}, 4096, 120, 200000, 5, 4,
                                    LogitBias::kWithoutLogprobs, false);
  const auto research = {C::kChat,    C::kComplete,  C::kLogprobs, C::kEmbed,
                         C::kInspect, C::kIntervene, C::kEvaluate, C::kFinetune};
  c.levels[int(Level::kResearch)] = Make(research, 8192, 600, 1000000, 20, 8, LogitBias::kAlways, false);
  const auto all = {C::kChat,      C::kComplete, C::kLogprobs, C::kEmbed,   C::kInspect,
                    C::kIntervene, C::kEvaluate, C::kFinetune, C::kDownload};
  c.levels[int(Level::kDownload)] = Make(all, 8192, 600, 1000000, 20, 8, LogitBias::kAlways, false);
  c.levels[int(Level::kOpen)] = Make(all, 8192, 600, 1000000, 20, 8, LogitBias::kAlways, false);
  // Research scopes: every site, 16,384 forward-pass tokens and 256 MiB per
  // request, 1,000,000 tokens a minute, 10,000 requests a day.
  for (Level l : {Level::kResearch, Level::kDownload, Level::kOpen}) {
    c.levels[int(l)].research = {{"*"}, {"*"}, 16384, int64_t{256} << 20, 1000000, 10000};
  }
  return c;
}

absl::StatusOr<Config> ParseConfig(std::string_view text, std::string_view source) {
  absl::StatusOr<toml::table> parsed = ParseToml(text, source);
  if (!parsed.ok()) return parsed.status();
  Config c = DefaultConfig();
  TomlReader top(*parsed, "", source);
  absl::Status s;
  if (const toml::table* t = top.Table("server", s)) {
    TomlReader r(*t, "server", source);
    int64_t threads = c.server.threads;
    s = r.Int("threads", threads, 0, 256);
    c.server.threads = static_cast<int>(threads);
    if (s.ok()) s = r.Int("max_header_bytes", c.server.max_header_bytes, 1024, 1 << 20);
    if (s.ok()) s = r.Int("max_body_bytes", c.server.max_body_bytes, 1024, int64_t{1} << 32);
    if (s.ok()) s = r.Int("header_timeout_ms", c.server.header_timeout_ms, 10, 3'600'000);
    if (s.ok()) s = r.Int("body_timeout_ms", c.server.body_timeout_ms, 10, 3'600'000);
    if (s.ok()) s = r.Int("idle_timeout_ms", c.server.idle_timeout_ms, 10, 3'600'000);
    if (s.ok()) s = r.Int("max_connections", c.server.max_connections, 1, 1'000'000);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* t = top.Table("rate_limits", s)) {
    TomlReader r(*t, "rate_limits", source);
    s = r.Int("principal_requests_per_minute", c.principal_requests_per_minute, 0, 1'000'000'000);
    if (s.ok()) s = r.Int("anonymous_requests_per_minute", c.anonymous_requests_per_minute, 0, 1'000'000'000);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* t = top.Table("access_requests", s)) {
    TomlReader r(*t, "access_requests", source);
    s = r.Duration("retry_wait", c.access_request_retry_seconds, /*allow_zero=*/true);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* t = top.Table("sessions", s)) {
    TomlReader r(*t, "sessions", source);
    s = r.Duration("ttl", c.sessions.ttl_seconds);
    if (s.ok() && (c.sessions.ttl_seconds < 1 || c.sessions.ttl_seconds > 90 * 86400)) {
      s = absl::InvalidArgumentError(fmt::format("{}: sessions.ttl must be between 1s and 90d", source));
    }
    if (s.ok()) s = r.Bool("secure_cookie", c.sessions.secure_cookie);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* t = top.Table("serving", s)) {
    TomlReader r(*t, "serving", source);
    int64_t threads = c.serving.threads;
    s = r.Int("threads", threads, 0, 256);
    c.serving.threads = static_cast<int>(threads);
    if (s.ok()) s = r.Int("max_active", c.serving.max_active, 1, 4096);
    if (s.ok()) s = r.Int("max_waiting", c.serving.max_waiting, 0, 1'000'000);
    if (s.ok()) s = r.Int("prefill_tokens_per_step", c.serving.prefill_tokens_per_step, 1, 65536);
    if (s.ok()) s = r.Int("research_tokens_per_step", c.serving.research_tokens_per_step, 1, 65536);
    if (s.ok()) s = r.Int("request_timeout_ms", c.serving.request_timeout_ms, 100, 86'400'000);
    if (s.ok()) s = r.Int("max_context", c.serving.max_context, 0, 1 << 24);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* t = top.Table("backends", s)) {
    TomlReader r(*t, "backends", source);
    BackendsConfig& b = c.backends;
    s = r.Int("connect_timeout_ms", b.connect_timeout_ms, 10, 600'000);
    if (s.ok()) s = r.Int("first_byte_timeout_ms", b.first_byte_timeout_ms, 100, 86'400'000);
    if (s.ok()) s = r.Int("idle_timeout_ms", b.idle_timeout_ms, 100, 86'400'000);
    if (s.ok()) s = r.Int("health_interval_ms", b.health_interval_ms, 50, 3'600'000);
    if (s.ok()) s = r.Int("ready_interval_ms", b.ready_interval_ms, 50, 86'400'000);
    if (s.ok()) s = r.Int("breaker_failures", b.breaker_failures, 1, 1000);
    if (s.ok()) s = r.Int("breaker_open_ms", b.breaker_open_ms, 10, 3'600'000);
    if (s.ok()) s = r.Int("max_attempts", b.max_attempts, 1, 16);
    if (s.ok()) s = r.Int("max_response_bytes", b.max_response_bytes, 4096, int64_t{1} << 30);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* t = top.Table("log", s)) {
    TomlReader r(*t, "log", source);
    s = ReadLogName(r, "name", c.log.name);
    if (s.ok()) s = r.NoUnknownKeys();
  }
  if (!s.ok()) return s;
  if (const toml::table* levels = top.Table("levels", s)) {
    TomlReader lr(*levels, "levels", source);
    for (Level l : kAllLevels) {
      if (const toml::table* t = lr.Table(LevelName(l), s)) {
        TomlReader r(*t, fmt::format("levels.{}", LevelName(l)), source);
        s = ReadLevel(r, c.levels[static_cast<size_t>(l)]);
      }
      if (!s.ok()) return s;
    }
    if (const toml::node* node = lr.Take("reviewer_grant_limit")) {
      auto name = node->value<std::string>();
      auto level = name ? ParseLevel(*name) : std::nullopt;
      if (!level) {
        return lr.Error(*node, "reviewer_grant_limit",
                        "must be a level name: closed, staged, hosted, api, research, download or open");
      }
      c.reviewer_grant_limit = *level;
    }
    s = lr.NoUnknownKeys();
    if (!s.ok()) return s;
    if (c.Limits(Level::kClosed).capabilities.any()) {
      return absl::InvalidArgumentError(
          fmt::format("{}: levels.closed.capabilities must be empty: a closed model is for its owners only", source));
    }
  }
  if (!s.ok()) return s;
  s = top.NoUnknownKeys();
  if (!s.ok()) return s;
  return c;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read config file {}", path));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

}  // namespace aperture
