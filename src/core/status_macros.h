// RETURN_IF_ERROR / ASSIGN_OR_RETURN: propagate absl::Status without exceptions.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define APERTURE_CONCAT_INNER(a, b) a##b
#define APERTURE_CONCAT(a, b) APERTURE_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    ::absl::Status aperture_status_ = (expr);            \
    if (!aperture_status_.ok()) return aperture_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(APERTURE_CONCAT(aperture_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)    \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()
