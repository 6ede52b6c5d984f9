// Release levels (ordered) and capabilities: the vocabulary of access.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace aperture {

// Ordered from most closed to most open; comparisons follow the order.
enum class Level : int { kClosed = 0, kStaged, kHosted, kApi, kResearch, kDownload, kOpen };

inline constexpr std::array<Level, 7> kAllLevels = {Level::kClosed,   Level::kStaged,   Level::kHosted, Level::kApi,
                                                    Level::kResearch, Level::kDownload, Level::kOpen};

std::string_view LevelName(Level level);
std::optional<Level> ParseLevel(std::string_view name);

// One thing a caller may do with a model.
enum class Capability : int {
  kChat = 0,
  kComplete,
  kLogprobs,
  kEmbed,
  kInspect,
  kIntervene,
  kEvaluate,
  kFinetune,
  kDownload
};

inline constexpr std::array<Capability, 9> kAllCapabilities = {
    Capability::kChat,      Capability::kComplete, Capability::kLogprobs, Capability::kEmbed,   Capability::kInspect,
    Capability::kIntervene, Capability::kEvaluate, Capability::kFinetune, Capability::kDownload};

std::string_view CapabilityName(Capability capability);
std::optional<Capability> ParseCapability(std::string_view name);

// Roles of principals. Owners administer everything; reviewers decide access
// requests and grants; members only use models.
enum class Role : int { kMember = 0, kReviewer, kOwner };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

}  // namespace aperture
