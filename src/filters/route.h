// Route: one endpoint and what the filter chain must check before its handler
// runs (who may call it, which capability on which model).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "access/research_scope.h"
#include "aperture/level.h"
#include "core/json.h"
#include "http/response.h"

namespace aperture {

struct RequestContext;

// Who may call a route at all, before any model is considered.
enum class Access { kAnyone, kPrincipal, kReviewer, kOwner };

// Which credentials authn reads for a route: an API key (Authorization:
// Bearer) or a browser session cookie (kAny); only a key, the cookie being
// ignored (kKeyOnly: signing in); or none (kNone: static content, the same
// bytes for everyone, so a stale cookie never breaks a page).
enum class Credentials { kAny, kKeyOnly, kNone };

// Where a model-scoped route finds its model id.
enum class ModelFrom { kNone, kPath, kBody };

struct Route {
  std::string method;   // "GET", "POST", ...
  std::string pattern;  // "/v1/models/{model}"; a {name} segment matches one path segment
  std::string name;     // for metrics and records, e.g. "chat.completions"
  Access access = Access::kAnyone;
  ModelFrom model_from = ModelFrom::kNone;
  std::optional<Capability> capability = std::nullopt;  // needed on the model
  // Further capabilities a request body asks for (e.g. logprobs on a completion).
  std::function<std::vector<Capability>(const Json& body)> body_capabilities = nullptr;
  std::function<http::Response(RequestContext&)> handler = nullptr;
  // For routes that spend model tokens: the most this request may spend
  // (prompt and completion), charged to the caller's tokens-per-minute
  // budget on admission (TokenRateQuota) and settled to what it used.
  std::function<int64_t(const RequestContext&)> token_estimate = nullptr;
  Credentials credentials = Credentials::kAny;
  // Research requests: what the request reads, writes and costs, worked out
  // after authz (nullopt: not a research request, e.g. a chat without
  // interventions), so the research scope quota can decide on it. It may
  // leave what it prepared in ctx.prepared for the handler.
  std::function<absl::StatusOr<std::optional<ResearchDemand>>(RequestContext&)> research_demand = nullptr;
};

// Matches method + path to a route. Not thread-safe to modify; read-only
// (and so thread-safe) once the server starts.
class Router {
 public:
  void Add(Route route);
  // The matching route and its path parameters; nullptr if none. Sets
  // `method_mismatch` when the path exists under another method (405). A
  // HEAD request matches the GET route of its path.
  const Route* Match(std::string_view method, std::string_view path,
                     std::vector<std::pair<std::string, std::string>>& params, bool& method_mismatch) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;
  };
  std::vector<Compiled> routes_;
};

}  // namespace aperture
