#include "filters/admission/charges.h"

#include <utility>

namespace aperture {

void Charges::Add(std::function<void(const Usage&)> settle) {
  if (!state_) state_ = std::make_shared<State>();
  state_->settles.push_back(std::move(settle));
}

void Charges::Settle(const Usage& used) const {
  if (!state_ || state_->settled.exchange(true)) return;
  for (const auto& settle : state_->settles) settle(used);
}

}  // namespace aperture
