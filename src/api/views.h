// JSON views of records for API responses (never a key hash or a secret),
// and the helpers handlers use to answer.
#pragma once

#include "absl/status/statusor.h"
#include "aperture/records.h"
#include "core/json.h"
#include "http/response.h"

namespace aperture {

Json View(const Principal& p);
Json View(const ApiKey& k);
// `held`: the level the caller holds before the ceiling; shown as
// "suspended_level" when the ceiling keeps it above `caller_level`.
Json View(const Model& m, Level caller_level, Level held = Level::kClosed);
Json View(const Grant& g);
Json View(const ModelBackend& b);
Json View(const AccessRequest& r);

http::Response JsonResponse(const Json& body, int status = 200);
// A list in the OpenAI shape: {"object":"list","data":[...]}.
template <typename T>
Json ListOf(const std::vector<T>& items) {
  Json data = Json::array();
  for (const T& item : items) data.push_back(View(item));
  return {{"object", "list"}, {"data", std::move(data)}};
}
// The response for a StatusOr: the value as JSON, or the mapped error.
http::Response Answer(const absl::StatusOr<Json>& result, int status = 200);

}  // namespace aperture
