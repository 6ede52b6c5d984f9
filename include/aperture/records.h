// The records Aperture keeps: principals, API keys, models, grants, access
// requests and log events. Plain values; times are Unix seconds, 0 = none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aperture/level.h"

namespace aperture {

struct Principal {
  std::string id;
  std::string name;
  Role role = Role::kMember;
  int64_t created_at = 0;
};

// An API key as stored: never the key itself, only its keyed hash.
struct ApiKey {
  std::string id;
  std::string principal_id;
  std::string hash;  // 32 raw bytes of keyed BLAKE2b
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;
  int64_t last_used_at = 0;
};

struct Model {
  std::string id;
  std::string path;
  Level public_level = Level::kClosed;
  // JSON array of the custom fields an access request must fill in, e.g.
  // [{"name":"affiliation","type":"text","required":true},
  //  {"name":"use","type":"select","options":["research","commercial"]},
  //  {"name":"licence","type":"checkbox","required":true}]
  std::string request_fields = "[]";
  int64_t created_at = 0;
  // Put before every chat at levels whose config says so (hosted by default).
  std::string system_prompt = {};
  int64_t level_since = 0;  // when public_level was reached (stage time gates count from it)
  // The highest level the release policy permits now; above it, the public
  // level and grants are suspended. Kept here so every reader sees it at once.
  Level ceiling = Level::kOpen;
  std::string ceiling_reason = {};  // why the ceiling is below open, for callers
  // For a model served by remote backends: the digest of its weights as its
  // owner declares them ("sha256:<64 hex>"), shown as declared, never
  // verified (Aperture does not hold the remote weights).
  std::string declared_digest = {};
  // The licence in force (copied from the latest Licence, so every request
  // sees it with the model): its SHA-256 ("" = none set) and the levels
  // whose callers must accept it (bit i for Level i; never open).
  std::string licence_sha256 = {};
  uint32_t licence_levels = 0;
};

// One server a model's hosted and api traffic may go to, with its share of
// that traffic (weight). `url` is an OpenAI-compatible server
// (http://host:port[/prefix], speaking /v1/chat/completions and
// /v1/completions), or "embedded" for this server's own engine.
struct ModelBackend {
  std::string id;
  std::string model_id;
  std::string url;
  std::string api_model;  // the model name the backend knows it by ("" = the model's id)
  int64_t weight = 1;     // 1..1000
  // The environment variable holding the bearer token the backend wants,
  // or "": the token itself is never stored (every replica reads it from
  // its own environment).
  std::string api_key_env;
  std::string added_by;  // principal id, or "cli"
  int64_t created_at = 0;
};

// The url of the backends row that stands for this server's own engine.
inline constexpr std::string_view kEmbeddedBackendUrl = "embedded";

// A server process sharing the store (a replica): seen_at is refreshed every
// second while it runs.
struct ReplicaRecord {
  std::string id;
  std::string address;  // where it listens, for operators
  int64_t started_at = 0;
  int64_t seen_at = 0;
};

struct Grant {
  std::string id;
  std::string principal_id;
  std::string model_id;
  Level level = Level::kClosed;
  int64_t expires_at = 0;
  std::string reason;
  std::string granted_by;  // principal id of the granter, or "cli"
  int64_t created_at = 0;
  int64_t revoked_at = 0;
  // The research scope, narrowed for this grant: a JSON object with any of
  // inspect_sites, intervene_sites (arrays of site patterns),
  // research_max_tokens, research_max_bytes, research_tokens_per_minute,
  // research_requests_per_day; "{}" narrows nothing (docs/research.md).
  std::string scope = "{}";
};

enum class RequestState : int { kPending = 0, kApproved, kDenied };
std::string_view RequestStateName(RequestState state);
std::optional<RequestState> ParseRequestState(std::string_view name);

struct AccessRequest {
  std::string id;
  std::string principal_id;
  std::string model_id;
  Level level = Level::kClosed;  // what was asked for
  std::string justification;
  std::string fields = "{}";  // JSON object answering the model's request fields
  RequestState state = RequestState::kPending;
  std::string decided_by;
  std::string decision_reason;
  std::string grant_id;  // set when approved
  int64_t created_at = 0;
  int64_t decided_at = 0;
};

// Tokens served to one principal on one model on one UTC day.
struct UsageRow {
  std::string principal;  // principal id, or "anonymous"
  std::string model;
  std::string day;  // "2026-11-23"
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t research_requests = 0;  // research routes (run, patch, directions)
  int64_t research_tokens = 0;    // their forward-pass tokens
};

// One run of an evaluation suite on a model.
enum class EvalRunState : int { kRunning = 0, kFinished, kFailed, kCancelled };
std::string_view EvalRunStateName(EvalRunState state);
std::optional<EvalRunState> ParseEvalRunState(std::string_view name);

struct EvalRun {
  std::string id;
  std::string model_id;
  std::string suite_name;
  std::string suite_domain;
  std::string suite_version;
  std::string suite_sha256;  // hex, of the suite's files
  std::string suite_path;    // where it was read from (to resume)
  EvalRunState state = EvalRunState::kRunning;
  int64_t total_items = 0;
  int64_t done_items = 0;
  std::string metrics = "{}";  // JSON object: metric name -> value
  std::string tiers = "{}";    // JSON object: domain -> risk tier, under the policy when it finished
  std::string results_sha256;  // hex, of the canonical per-item results
  std::string started_by;      // principal id, or "cli"
  int64_t created_at = 0;
  int64_t finished_at = 0;
  std::string error;
};

// One step in a model's release history.
struct ReleaseEvent {
  int64_t id = 0;  // assigned by the store, ascending
  std::string model_id;
  int64_t time = 0;
  // "changed" (an owner's accepted proposal), "refused", "advanced" (an
  // automatic stage), "ceiling" (the policy's ceiling moved).
  std::string kind;
  Level from = Level::kClosed;
  Level to = Level::kClosed;
  std::string actor;           // principal id, "cli" or "policy"
  std::string reason;          // one line for people
  std::string details = "{}";  // JSON object: every reason, machine-readable
};

// A release policy file as it was put in force: kept so every process on
// the data directory applies the same one, and so its history is known.
struct PolicyRecord {
  int64_t id = 0;      // ascending
  std::string source;  // absolute path it was read from (suite files resolve against it)
  std::string sha256;  // hex, of text
  std::string text;
  int64_t loaded_at = 0;
};

// A browser session: signing in with an API key makes one, and its cookie
// then stands in for the key. Only the keyed hash of the cookie's secret is
// stored; the session ends at expires_at, at sign-out, or with its key.
struct Session {
  std::string id;    // "ses_..." (named in records; not the secret)
  std::string hash;  // 32 raw bytes: keyed hash of the cookie's secret
  std::string principal_id;
  std::string key_id;  // the key signed in with
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t ended_at = 0;  // signed out
};

// A model's card: the owner's Markdown, shown on the model page.
struct ModelCard {
  std::string model_id;
  std::string markdown;
  int64_t updated_at = 0;
  std::string updated_by;  // principal id or "cli"
};

// A model's licence as its owner set it; each change is kept, the latest is
// in force.
struct Licence {
  int64_t id = 0;  // ascending
  std::string model_id;
  std::string spdx_id;         // "Apache-2.0", or "" for a custom licence
  std::string name;            // "Apache License 2.0", or the custom licence's title
  std::string text;            // the full text callers accept
  std::string sha256;          // hex, of text
  uint32_t accept_levels = 0;  // as Model::licence_levels
  std::string set_by;          // principal id or "cli"
  int64_t set_at = 0;
};

// A principal's acceptance of one licence text (by its SHA-256).
struct LicenceAcceptance {
  std::string principal_id;
  std::string model_id;
  std::string licence_sha256;
  int64_t accepted_at = 0;
};

// An owner's claim that an openness component (a Model Openness Framework
// component the server does not serve itself) is available at `url`.
struct OpennessDeclaration {
  std::string model_id;
  std::string component;  // e.g. "data-card"
  std::string url;
  std::string licence;  // SPDX id, or "" when not stated
  std::string note;
  std::string declared_by;
  int64_t declared_at = 0;
};

// A signed manifest of a model's files, one per version of the files.
struct ManifestRecord {
  int64_t id = 0;  // ascending
  std::string model_id;
  std::string root_sha256;  // hex
  std::string files;        // JSON array of {"name","sha256","size","role"}
  std::string bundle;       // the Sigstore bundle JSON, as served
  std::string key_hint;     // SHA-256 of the signing key's public PEM
  std::string log_entry;    // the manifest.signed log entry, exactly as logged
  int64_t created_at = 0;
};

// One event for the record: an access decision, a key created, a grant...
struct LogEvent {
  std::string type;            // "access.decision", "key.created", "grant.created", ...
  int64_t time = 0;            // Unix seconds
  std::string actor;           // principal id, or "anonymous", or "cli"
  std::string model;           // model id, or ""
  std::string level;           // level name relevant to the event, or ""
  std::string outcome;         // "allow", "deny", "ok"
  std::string reason;          // machine-readable reason code
  std::string details = "{}";  // canonical JSON object with event-specific fields (no secrets, no content)
};

}  // namespace aperture
