#include "core/error_code.h"

#include "absl/strings/cord.h"

namespace aperture {
namespace {

constexpr char kCodePayload[] = "aperture/code";

}  // namespace

absl::Status WithErrorCode(absl::Status status, std::string_view code) {
  status.SetPayload(kCodePayload, absl::Cord(std::string(code)));
  return status;
}

std::string ErrorCode(const absl::Status& status) {
  auto code = status.GetPayload(kCodePayload);
  return code ? std::string(*code) : std::string();
}

}  // namespace aperture
