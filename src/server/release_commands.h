// `aperture release ...`, `aperture eval ...` and `aperture policy ...`: a
// model's release under the policy (show, propose, advance), evaluation runs
// (locally on --data, or on a running server with --url and --key), and
// checking a policy file before putting it in force.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "server/app.h"

namespace aperture {

// Opens the services on the --data directory with the policy file given
// (or, when empty, the policy in force).
using ServicesOpener = std::function<absl::StatusOr<std::unique_ptr<Services>>(const std::string& policy_path)>;

// Adds the subcommands; a command's outcome is written to `status`. `data`
// and `store` are bound to each command's --data and --store options.
void AddReleaseCommands(CLI::App& cli, absl::Status& status, std::string& data, std::string& store,
                        const ServicesOpener& open);

}  // namespace aperture
