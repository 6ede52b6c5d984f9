#include "aperture/records.h"

#include <array>

namespace aperture {
namespace {
constexpr std::array<std::string_view, 3> kStateNames = {"pending", "approved", "denied"};
}  // namespace

std::string_view RequestStateName(RequestState state) { return kStateNames[static_cast<int>(state)]; }

std::optional<RequestState> ParseRequestState(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<RequestState>(i);
  }
  return std::nullopt;
}

}  // namespace aperture
