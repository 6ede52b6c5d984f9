// `aperture licence ...`, `aperture model set-card`, `aperture openness ...`,
// `aperture manifest ...` and `aperture report ...`: an owner's licence,
// model card and openness declarations on --data; checking downloaded files
// against a signed manifest, and a transparency report against the
// server's key, offline.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "server/release_commands.h"

namespace aperture {

// Adds the subcommands (`model set-card` under the existing `model`); a
// command's outcome is written to `status`; `data` and `store` are bound to
// each command's --data and --store options.
void AddDistributionCommands(CLI::App& cli, absl::Status& status, std::string& data, std::string& store,
                             const ServicesOpener& open);

}  // namespace aperture
