// `aperture log ...`: verify a log from outside over HTTP (verify), print
// entries for people (show), list a principal's own entries with a verified
// inclusion proof for each (mine), and print the verifier key (key).
#pragma once

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace aperture {

// Adds the `log` subcommand; a command's outcome is written to `status`.
void AddLogCommands(CLI::App& cli, absl::Status& status);

}  // namespace aperture
