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
// command's outcome is written to `status`; `data` is bound to --data.
void AddDistributionCommands(CLI::App& cli, absl::Status& status, std::string& data, const ServicesOpener& open);

}  // namespace aperture
