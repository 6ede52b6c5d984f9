// Log entries: the canonical JSON (sorted keys, no whitespace, UTF-8) of one
// event, which is exactly the bytes hashed into the tree. Events carry only
// hashes of content, never content or secrets, so entries are public.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aperture/records.h"

namespace aperture::translog {

// Largest entry the log accepts: entry bundles prefix each entry with a
// 16-bit length (C2SP tlog-tiles).
inline constexpr size_t kMaxEntryBytes = 65535;

struct PreparedEntry {
  // {"actor","details","level","model","outcome","reason","time","type"} as canonical JSON.
  std::string entry;
  // The principals the event is about: its actor and the principal its
  // details name, leaving out "anonymous" and "cli" (the operator's console).
  std::vector<std::string> subjects;
};

// InvalidArgument if the details are not a JSON object or the entry would
// exceed kMaxEntryBytes.
absl::StatusOr<PreparedEntry> PrepareEntry(const LogEvent& event);
// The event an entry describes (for display and tests).
absl::StatusOr<LogEvent> EventFromEntry(const std::string& entry);

}  // namespace aperture::translog
