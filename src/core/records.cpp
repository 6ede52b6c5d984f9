#include "aperture/records.h"

#include <array>

namespace aperture {
namespace {

constexpr std::array<std::string_view, 3> kStateNames = {"pending", "approved", "denied"};
constexpr std::array<std::string_view, 4> kRunStateNames = {"running", "finished", "failed", "cancelled"};

template <typename Enum, size_t N>
std::optional<Enum> ParseName(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view RequestStateName(RequestState state) { return kStateNames[static_cast<int>(state)]; }

std::optional<RequestState> ParseRequestState(std::string_view name) {
  return ParseName<RequestState>(kStateNames, name);
}

std::string_view EvalRunStateName(EvalRunState state) { return kRunStateNames[static_cast<int>(state)]; }

std::optional<EvalRunState> ParseEvalRunState(std::string_view name) {
  return ParseName<EvalRunState>(kRunStateNames, name);
}

}  // namespace aperture
