#include "api/files/files_routes.h"

#include <unistd.h>

#include "api/files/file_source.h"
#include "api/views.h"
#include "api/visible_model.h"
#include "core/status_macros.h"
#include "distribution/byte_range.h"
#include "distribution/licence_terms.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"
#include "translog/merkle.h"

namespace aperture {
namespace {

using distribution::ModelFile;
using distribution::ModelFiles;
using distribution::RangeKind;
using distribution::RangeRequest;

// The files served without the download capability (see ModelFile::model_data).
constexpr const char* kPublicFiles[] = {"README.md", "LICENSE", "model.sig"};

std::string FileUrl(const std::string& model, const std::string& name) {
  return fmt::format("/v1/models/{}/files/{}", model, name);
}

// What a request asks of the file: the range to send, or why it cannot be served.
struct Plan {
  int status = 200;
  RangeRequest range;  // kWhole or kSatisfiable
};

absl::StatusOr<Plan> PlanRange(const RequestContext& ctx, const ModelFile& file, const std::string& etag) {
  Plan plan;
  std::optional<std::string_view> range_header = ctx.request.Header("Range");
  if (!range_header) return plan;
  // A resumed download whose file changed gets the whole new file (RFC 9110 13.1.5).
  if (std::optional<std::string_view> if_range = ctx.request.Header("If-Range")) {
    if (!distribution::IfRangeAllows(*if_range, etag)) return plan;
  }
  RangeRequest range = distribution::ParseRange(*range_header, file.size);
  switch (range.kind) {
    case RangeKind::kWhole:
      return plan;
    case RangeKind::kMalformed:
      return FieldError("Range", fmt::format("bad Range header: {}", range.error));
    case RangeKind::kUnsatisfiable:
      plan.status = 416;
      plan.range = range;
      return plan;
    case RangeKind::kSatisfiable:
      plan.status = 206;
      plan.range = range;
      return plan;
  }
  return plan;
}

// Who downloads what, kept past the request for the entry written when the
// stream ends.
struct Downloader {
  std::string actor;
  std::string model;
  std::string level;
};

Downloader DownloaderOf(const RequestContext& ctx) {
  return {ctx.caller.actor(), ctx.model_id, ctx.decision ? std::string(LevelName(ctx.decision->level)) : ""};
}

// The `download` log entry of one response.
void RecordDownload(Recorder& recorder, const Clock& clock, const Downloader& who, const ModelFile& file,
                    const Plan& plan, uint64_t sent, bool complete) {
  const uint64_t first = plan.status == 206 ? plan.range.first : 0;
  const uint64_t length = plan.status == 206 ? plan.range.length() : file.size;
  LogEvent e;
  e.type = "download";
  e.time = clock.NowSeconds();
  e.actor = who.actor;
  e.model = who.model;
  e.level = who.level;
  e.outcome = "ok";
  e.reason = complete ? "complete" : "interrupted";
  e.details = CanonicalJson(
      {{"file", file.name},
       {"sha256", file.sha256},
       {"status", plan.status},
       {"range", plan.status == 206 ? Json(distribution::ContentRange(plan.range, file.size)) : Json(nullptr)},
       {"offset", first},
       {"length", length},
       {"bytes_served", sent},
       {"complete", complete}});
  recorder.Record(std::move(e));
}

// Answers a file request from `files` (and `fd` for the weights, owned here).
http::Response ServeFile(ApiDeps& d, RequestContext& ctx, const ModelFiles& files, const ModelFile& file, int fd) {
  const bool head = ctx.request.method == "HEAD";
  const std::string etag = distribution::StrongEtag(file.sha256);
  absl::StatusOr<Plan> plan = PlanRange(ctx, file, etag);
  if (!plan.ok() || plan->status == 416) {
    if (fd >= 0) ::close(fd);
    if (!plan.ok()) return StatusResponse(plan.status());
    ctx.Deny("range_not_satisfiable");
    http::Response r =
        http::ErrorResponse(416, fmt::format("the range starts past the end of '{}' ({} bytes)", file.name, file.size),
                            "range_not_satisfiable", "Range");
    r.SetHeader("Content-Range", distribution::ContentRange(plan->range, file.size));
    return r;
  }
  http::Response r;
  r.status = plan->status;
  r.content_type = file.content_type;
  r.SetHeader("ETag", etag);
  r.SetHeader("Accept-Ranges", "bytes");
  r.SetHeader("Cache-Control", "private, no-transform");
  r.SetHeader("Content-Disposition", fmt::format("attachment; filename=\"{}\"", file.name));
  r.SetHeader("X-Aperture-Manifest-Root", files.manifest.root_sha256);
  r.SetHeader("X-Aperture-Manifest-Leaf", translog::HashHex(translog::LeafHash(files.manifest.log_entry)));
  if (plan->status == 206) r.SetHeader("Content-Range", distribution::ContentRange(plan->range, file.size));
  const uint64_t first = plan->status == 206 ? plan->range.first : 0;
  const uint64_t length = plan->status == 206 ? plan->range.length() : file.size;

  if (fd >= 0) {  // the weights, from disk
    r.stream_length = length;
    FileRangeSource::OnEnd on_end = nullptr;
    if (!head) {
      on_end = [&d, who = DownloaderOf(ctx), file, plan = *plan](uint64_t sent, bool complete) {
        RecordDownload(d.recorder, d.clock, who, file, plan, sent, complete);
      };
    }
    r.stream = std::make_shared<FileRangeSource>(fd, first, length, std::move(on_end));
    return r;
  }
  r.body = file.content->substr(first, length);
  if (!head && file.model_data()) RecordDownload(d.recorder, d.clock, DownloaderOf(ctx), file, *plan, length, true);
  return r;
}

http::Response NotServed(RequestContext& ctx, const std::string& name) {
  ctx.Deny("file_not_found");
  return http::ErrorResponse(404,
                             fmt::format("model '{}' has no file '{}'; GET /v1/models/{}/files lists its files",
                                         ctx.model_id, name.substr(0, 200), ctx.model_id),
                             "file_not_found");
}

// A file of the model by name: the weights are opened for streaming, the
// others come from the listing.
http::Response ServeNamed(ApiDeps& d, RequestContext& ctx, const Model& model, const std::string& name) {
  absl::StatusOr<std::shared_ptr<const ModelFiles>> files = d.distribution.Files(model);
  if (!files.ok()) return StatusResponse(files.status());
  const ModelFile* file = (*files)->Find(name);
  if (file == nullptr) return NotServed(ctx, name);
  if (file->role != distribution::FileRole::kWeights) return ServeFile(d, ctx, **files, *file, -1);
  absl::StatusOr<distribution::OpenedWeights> opened = d.distribution.OpenWeights(model);
  if (!opened.ok()) return StatusResponse(opened.status());
  const ModelFile* weights = opened->files->Find(opened->files->weights_name);
  return ServeFile(d, ctx, *opened->files, *weights, opened->fd);
}

absl::StatusOr<Json> Listing(ApiDeps& d, RequestContext& ctx) {
  ASSIGN_OR_RETURN(VisibleModel visible, FindVisibleModel(d, ctx));
  ASSIGN_OR_RETURN(Decision download, d.authorizer.Authorize(ctx.caller, visible.model.id, Capability::kDownload));
  ASSIGN_OR_RETURN(std::shared_ptr<const ModelFiles> files, d.distribution.Files(visible.model));
  Json data = Json::array();
  for (const ModelFile& f : files->files) {
    if (f.model_data() && !download.allowed()) continue;
    data.push_back({{"name", f.name},
                    {"role", distribution::FileRoleName(f.role)},
                    {"size", f.size},
                    {"sha256", f.sha256},
                    {"content_type", f.content_type},
                    {"url", FileUrl(visible.model.id, f.name)}});
  }
  const ManifestRecord& m = files->manifest;
  Json out = {{"object", "list"},
              {"model", visible.model.id},
              {"level", LevelName(visible.levels.effective)},
              {"data", std::move(data)},
              {"manifest",
               {{"root_sha256", m.root_sha256},
                {"url", fmt::format("/v1/models/{}/manifest", visible.model.id)},
                {"key", "/v1/signing-key"},
                {"key_hint", m.key_hint},
                {"signed_at", m.created_at},
                {"log_entry", m.log_entry},
                {"log_leaf_hash", translog::HashHex(translog::LeafHash(m.log_entry))}}}};
  if (!download.allowed()) out["model_data"] = download.message;
  ASSIGN_OR_RETURN(std::optional<Licence> licence, d.store.FindLicence(visible.model.id));
  if (licence) {
    const Level level = visible.levels.effective;
    out["licence"] = {{"sha256", licence->sha256},
                      {"spdx_id", licence->spdx_id.empty() ? Json(nullptr) : Json(licence->spdx_id)},
                      {"name", licence->name},
                      {"url", fmt::format("/v1/models/{}/licence", visible.model.id)},
                      {"must_accept", level != Level::kOpen && !ctx.caller.IsAtLeast(Role::kOwner) &&
                                          distribution::MaskHas(licence->accept_levels, level)}};
  } else {
    out["licence"] = nullptr;
  }
  return out;
}

}  // namespace

void AddFilesRoutes(Router& router, ApiDeps& d) {
  router.Add(
      {"GET", "/v1/signing-key", "signing_key", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext&) {
         http::Response r;
         r.content_type = "application/x-pem-file";
         r.body = d.distribution.manifest_key().PublicPem();
         r.SetHeader("Cache-Control", "no-cache");
         return r;
       }});
  router.Add({"GET",
              "/v1/models/{model}/files",
              "models.files.list",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) { return Answer(Listing(d, ctx)); }});
  router.Add({"GET",
              "/v1/models/{model}/manifest",
              "models.manifest",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                absl::StatusOr<VisibleModel> visible = FindVisibleModel(d, ctx);
                if (!visible.ok()) return StatusResponse(visible.status());
                return ServeNamed(d, ctx, visible->model, "model.sig");
              }});
  // The public files first: the router takes the first route that matches.
  for (const char* name : kPublicFiles) {
    router.Add({"GET",
                fmt::format("/v1/models/{{model}}/files/{}", name),
                "models.files.public",
                Access::kAnyone,
                ModelFrom::kPath,
                {},
                {},
                [&d, name = std::string(name)](RequestContext& ctx) {
                  absl::StatusOr<VisibleModel> visible = FindVisibleModel(d, ctx);
                  if (!visible.ok()) return StatusResponse(visible.status());
                  return ServeNamed(d, ctx, visible->model, name);
                }});
  }
  router.Add({"GET",
              "/v1/models/{model}/files/{name}",
              "models.files.get",
              Access::kAnyone,
              ModelFrom::kPath,
              Capability::kDownload,
              {},
              [&d](RequestContext& ctx) { return ServeNamed(d, ctx, *ctx.decision->model, ctx.PathParam("name")); }});
  router.Add({"GET",
              "/v1/models/{model}/download",
              "models.download",
              Access::kAnyone,
              ModelFrom::kPath,
              Capability::kDownload,
              {},
              [&d](RequestContext& ctx) {
                const Model& model = *ctx.decision->model;
                absl::StatusOr<distribution::OpenedWeights> opened = d.distribution.OpenWeights(model);
                if (!opened.ok()) return StatusResponse(opened.status());
                const ModelFile* weights = opened->files->Find(opened->files->weights_name);
                return ServeFile(d, ctx, *opened->files, *weights, opened->fd);
              }});
}

}  // namespace aperture
