// The records Aperture keeps: principals, API keys, models, grants, access
// requests and log events. Plain values; times are Unix seconds, 0 = none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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
  std::string system_prompt;
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
