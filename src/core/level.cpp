#include "aperture/level.h"

namespace aperture {
namespace {

constexpr std::array<std::string_view, 7> kLevelNames = {"closed",   "staged",   "hosted", "api",
                                                         "research", "download", "open"};
constexpr std::array<std::string_view, 9> kCapabilityNames = {"chat",      "complete", "logprobs", "embed",   "inspect",
                                                              "intervene", "evaluate", "finetune", "download"};
constexpr std::array<std::string_view, 3> kRoleNames = {"member", "reviewer", "owner"};

template <typename E, size_t N>
std::optional<E> ParseName(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view LevelName(Level level) { return kLevelNames[static_cast<int>(level)]; }
std::optional<Level> ParseLevel(std::string_view name) { return ParseName<Level>(kLevelNames, name); }

std::string_view CapabilityName(Capability c) { return kCapabilityNames[static_cast<int>(c)]; }
std::optional<Capability> ParseCapability(std::string_view name) {
  return ParseName<Capability>(kCapabilityNames, name);
}

std::string_view RoleName(Role role) { return kRoleNames[static_cast<int>(role)]; }
std::optional<Role> ParseRole(std::string_view name) { return ParseName<Role>(kRoleNames, name); }

}  // namespace aperture
