#include "api/views.h"

#include "filters/status_response.h"

namespace aperture {
namespace {
Json Time(int64_t t) { return t == 0 ? Json(nullptr) : Json(t); }
}  // namespace

Json View(const Principal& p) {
  return {{"id", p.id},
          {"object", "principal"},
          {"name", p.name},
          {"role", RoleName(p.role)},
          {"created_at", p.created_at}};
}

Json View(const ApiKey& k) {
  return {{"id", k.id},
          {"object", "api_key"},
          {"principal", k.principal_id},
          {"created_at", k.created_at},
          {"expires_at", Time(k.expires_at)},
          {"revoked_at", Time(k.revoked_at)},
          {"last_used_at", Time(k.last_used_at)}};
}

Json View(const Model& m, Level caller_level, Level held) {
  Json fields = ParseJson(m.request_fields).value_or(Json::array());
  Json v = {{"id", m.id},
            {"object", "model"},
            {"created", m.created_at},
            {"owned_by", "aperture"},
            {"public_level", LevelName(m.public_level)},
            {"ceiling", LevelName(m.ceiling)},
            {"level", LevelName(caller_level)},
            {"request_fields", std::move(fields)}};
  if (held > caller_level) v["suspended_level"] = LevelName(held);
  return v;
}

Json View(const Grant& g) {
  return {{"id", g.id},
          {"object", "grant"},
          {"principal", g.principal_id},
          {"model", g.model_id},
          {"level", LevelName(g.level)},
          {"expires_at", Time(g.expires_at)},
          {"reason", g.reason},
          {"granted_by", g.granted_by},
          {"created_at", g.created_at},
          {"revoked_at", Time(g.revoked_at)},
          {"scope", ParseJson(g.scope).value_or(Json::object())}};
}

Json View(const AccessRequest& r) {
  return {{"id", r.id},
          {"object", "access_request"},
          {"principal", r.principal_id},
          {"model", r.model_id},
          {"level", LevelName(r.level)},
          {"justification", r.justification},
          {"fields", ParseJson(r.fields).value_or(Json::object())},
          {"state", RequestStateName(r.state)},
          {"decided_by", r.decided_by.empty() ? Json(nullptr) : Json(r.decided_by)},
          {"reason", r.decision_reason.empty() ? Json(nullptr) : Json(r.decision_reason)},
          {"grant", r.grant_id.empty() ? Json(nullptr) : Json(r.grant_id)},
          {"created_at", r.created_at},
          {"decided_at", Time(r.decided_at)}};
}

http::Response JsonResponse(const Json& body, int status) {
  http::Response r;
  r.status = status;
  r.body = DumpJson(body);
  return r;
}

http::Response Answer(const absl::StatusOr<Json>& result, int status) {
  if (!result.ok()) return StatusResponse(result.status());
  return JsonResponse(*result, status);
}

}  // namespace aperture
