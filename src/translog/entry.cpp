#include "translog/entry.h"

#include "core/json.h"
#include "fmt/format.h"

namespace aperture::translog {
namespace {

bool IsPrincipal(const std::string& actor) { return !actor.empty() && actor != "anonymous" && actor != "cli"; }

}  // namespace

absl::StatusOr<PreparedEntry> PrepareEntry(const LogEvent& e) {
  absl::StatusOr<Json> details = ParseJson(e.details.empty() ? "{}" : e.details);
  if (!details.ok() || !details->is_object()) {
    return absl::InvalidArgumentError(fmt::format("the details of a '{}' event are not a JSON object", e.type));
  }
  PreparedEntry out;
  if (IsPrincipal(e.actor)) out.subjects.push_back(e.actor);
  auto named = details->find("principal");
  if (named != details->end() && named->is_string()) {
    std::string p = named->get<std::string>();
    if (IsPrincipal(p) && p != e.actor) out.subjects.push_back(std::move(p));
  }
  Json entry = {{"type", e.type},   {"time", e.time},       {"actor", e.actor},   {"model", e.model},
                {"level", e.level}, {"outcome", e.outcome}, {"reason", e.reason}, {"details", std::move(*details)}};
  out.entry = CanonicalJson(entry);
  if (out.entry.size() > kMaxEntryBytes) {
    return absl::InvalidArgumentError(fmt::format("a '{}' entry would be {} bytes; the log takes at most {}", e.type,
                                                  out.entry.size(), kMaxEntryBytes));
  }
  return out;
}

absl::StatusOr<LogEvent> EventFromEntry(const std::string& entry) {
  absl::StatusOr<Json> j = ParseJson(entry);
  if (!j.ok()) return j.status();
  if (!j->is_object()) return absl::InvalidArgumentError("a log entry is a JSON object");
  LogEvent e;
  auto text = [&](const char* key) {
    auto it = j->find(key);
    return it != j->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  e.type = text("type");
  e.actor = text("actor");
  e.model = text("model");
  e.level = text("level");
  e.outcome = text("outcome");
  e.reason = text("reason");
  auto time = j->find("time");
  e.time = time != j->end() && time->is_number_integer() ? time->get<int64_t>() : 0;
  auto details = j->find("details");
  e.details = details != j->end() ? CanonicalJson(*details) : "{}";
  return e;
}

}  // namespace aperture::translog
