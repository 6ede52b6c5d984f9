#include "distribution/distribution_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/hash.h"
#include "core/status_macros.h"
#include "distribution/gguf_files.h"
#include "distribution/model_manifest.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/model/llama_config.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "translog/entry.h"

namespace aperture::distribution {
namespace {

constexpr char kTokenizerName[] = "tokenizer.json";
constexpr char kChatTemplateName[] = "chat_template.jinja";
constexpr char kModelCardName[] = "README.md";
constexpr char kLicenceName[] = "LICENSE";

bool SafeFileName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

// The weights keep their file's name where it is a plain "*.gguf" name that
// cannot be mistaken for another file of the model.
std::string WeightsName(const std::string& path) {
  std::string base = std::filesystem::path(path).filename().string();
  const bool gguf = base.size() > 5 && base.compare(base.size() - 5, 5, ".gguf") == 0;
  if (gguf && SafeFileName(base)) return base;
  return "model.gguf";
}

ModelFile InMemory(std::string name, FileRole role, std::string content_type, std::string bytes) {
  ModelFile f;
  f.name = std::move(name);
  f.role = role;
  f.size = bytes.size();
  f.sha256 = Sha256Hex(bytes);
  f.content_type = std::move(content_type);
  f.content = std::make_shared<const std::string>(std::move(bytes));
  return f;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::StatusOr<int> OpenForReading(const Model& model) {
  int fd = ::open(model.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    spdlog::error("cannot open the weights of model {} ({}): {}", model.id, model.path, std::strerror(errno));
    return absl::UnavailableError(fmt::format("the files of model '{}' are not readable on this server", model.id));
  }
  return fd;
}

}  // namespace

std::string_view FileRoleName(FileRole role) {
  switch (role) {
    case FileRole::kWeights:
      return "weights";
    case FileRole::kTokenizer:
      return "tokenizer";
    case FileRole::kChatTemplate:
      return "chat_template";
    case FileRole::kModelCard:
      return "model_card";
    case FileRole::kLicence:
      return "licence";
    case FileRole::kManifest:
      return "manifest";
  }
  return "unknown";
}

bool ModelFile::model_data() const {
  return role == FileRole::kWeights || role == FileRole::kTokenizer || role == FileRole::kChatTemplate;
}

const ModelFile* ModelFiles::Find(std::string_view name) const {
  for (const ModelFile& f : files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status DistributionService::Record(const Caller& actor, std::string type, const std::string& model,
                                         const Json& details) {
  LogEvent e;
  e.type = std::move(type);
  e.time = clock_.NowSeconds();
  e.actor = actor.actor();
  e.model = model;
  e.outcome = "ok";
  e.reason = "ok";
  e.details = CanonicalJson(details);
  return recorder_.RecordDurably(std::move(e));
}

absl::StatusOr<Licence> DistributionService::SetLicence(const Caller& actor, const std::string& model_id,
                                                        const LicenceTerms& terms) {
  if (!actor.IsAtLeast(Role::kOwner)) return absl::PermissionDeniedError("setting a licence needs the 'owner' role");
  ASSIGN_OR_RETURN(std::optional<Licence> previous, store_.FindLicence(model_id));
  Licence l;
  l.model_id = model_id;
  l.spdx_id = terms.spdx_id;
  l.name = terms.name;
  l.text = terms.text;
  l.sha256 = Sha256Hex(terms.text);
  l.accept_levels = terms.accept_levels;
  l.set_by = actor.actor();
  l.set_at = clock_.NowSeconds();
  RETURN_IF_ERROR(store_.SetLicence(l));
  Json levels = Json::array();
  for (Level level : MaskLevels(l.accept_levels)) levels.push_back(LevelName(level));
  RETURN_IF_ERROR(Record(actor, "licence.set", model_id,
                         {{"licence_sha256", l.sha256},
                          {"spdx_id", l.spdx_id},
                          {"name", l.name},
                          {"accept_levels", std::move(levels)},
                          {"previous_sha256", previous ? Json(previous->sha256) : Json(nullptr)}}));
  return l;
}

absl::StatusOr<Licence> DistributionService::AcceptLicence(const Caller& actor, const std::string& model_id,
                                                           const std::string& sha256) {
  if (actor.anonymous()) {
    return absl::UnauthenticatedError(
        "accepting a licence needs an API key: the acceptance is recorded under your principal");
  }
  ASSIGN_OR_RETURN(std::optional<Licence> licence, store_.FindLicence(model_id));
  if (!licence) {
    return absl::FailedPreconditionError(fmt::format("model '{}' has no licence to accept", model_id));
  }
  if (!ConstantTimeEquals(sha256, licence->sha256)) {
    return absl::FailedPreconditionError(
        fmt::format("the licence of '{}' is not the text you accepted: its SHA-256 is {}; read it again "
                    "(GET /v1/models/{}/licence) and accept that text",
                    model_id, licence->sha256, model_id));
  }
  ASSIGN_OR_RETURN(bool already, store_.HasAcceptedLicence(actor.principal->id, model_id, licence->sha256));
  if (already) return *licence;
  absl::Status added =
      store_.AddLicenceAcceptance({actor.principal->id, model_id, licence->sha256, clock_.NowSeconds()});
  if (absl::IsAlreadyExists(added)) return *licence;  // accepted at the same moment by another request
  RETURN_IF_ERROR(added);
  RETURN_IF_ERROR(Record(actor, "licence.accepted", model_id,
                         {{"licence_sha256", licence->sha256}, {"spdx_id", licence->spdx_id}}));
  return *licence;
}

absl::StatusOr<std::string> DistributionService::WeightsDigest(const std::string& path, int fd,
                                                               const FileIdentity& identity) {
  const std::string key = identity.Key();
  ASSIGN_OR_RETURN(std::optional<Store::FileDigest> known, store_.FindFileDigest(path));
  if (known && known->identity == key) return known->sha256;
  ASSIGN_OR_RETURN(std::string digest, Sha256OfFile(fd, path));
  RETURN_IF_ERROR(store_.SaveFileDigest(path, {key, digest}));
  return digest;
}

absl::StatusOr<ManifestRecord> DistributionService::Manifest(const ModelFiles& files) {
  std::vector<ManifestFile> entries;
  Json listed = Json::array();
  for (const ModelFile& f : files.files) {
    entries.push_back({f.name, f.sha256});
    listed.push_back({{"name", f.name}, {"sha256", f.sha256}, {"size", f.size}, {"role", FileRoleName(f.role)}});
  }
  ASSIGN_OR_RETURN(ModelManifest manifest, MakeManifest(files.model_id, std::move(entries)));
  ASSIGN_OR_RETURN(EcdsaP256Verifier public_key, EcdsaP256Verifier::FromPem(key_.PublicPem()));
  const std::string hint = public_key.Hint();
  ASSIGN_OR_RETURN(std::optional<ManifestRecord> latest, store_.LatestManifest(files.model_id));
  if (latest && latest->root_sha256 == manifest.root_sha256 && latest->key_hint == hint) return *latest;

  ASSIGN_OR_RETURN(std::string bundle, SignManifestBundle(manifest, key_));
  ManifestRecord record;
  record.model_id = files.model_id;
  record.root_sha256 = manifest.root_sha256;
  record.files = CanonicalJson(listed);
  record.bundle = std::move(bundle);
  record.key_hint = hint;
  record.created_at = clock_.NowSeconds();
  // The manifest's digest is a log entry, so a downloaded file can be tied
  // to a checkpoint: the entry is kept exactly as logged, and its leaf hash
  // finds its inclusion proof.
  LogEvent e;
  e.type = "manifest.signed";
  e.time = record.created_at;
  e.actor = "server";
  e.model = files.model_id;
  e.outcome = "ok";
  e.reason = "ok";
  e.details = CanonicalJson({{"root_sha256", record.root_sha256},
                             {"bundle_sha256", Sha256Hex(record.bundle)},
                             {"key_hint", hint},
                             {"files", std::move(listed)}});
  ASSIGN_OR_RETURN(translog::PreparedEntry entry, translog::PrepareEntry(e));
  record.log_entry = entry.entry;
  RETURN_IF_ERROR(recorder_.RecordDurably(std::move(e)));
  RETURN_IF_ERROR(store_.AddManifest(record));
  return record;
}

absl::StatusOr<std::shared_ptr<const ModelFiles>> DistributionService::FilesLocked(const Model& model, int fd,
                                                                                   const FileIdentity& identity) {
  ASSIGN_OR_RETURN(std::optional<ModelCard> card, store_.FindModelCard(model.id));
  ASSIGN_OR_RETURN(std::optional<Licence> licence, store_.FindLicence(model.id));
  const std::string key = fmt::format("{}|{}|{}|{}", identity.Key(), card ? Sha256Hex(card->markdown) : "",
                                      licence ? licence->sha256 : "", Sha256Hex(key_.PublicPem()));
  Cached& cached = cache_[model.id];
  if (cached.files && cached.key == key) return cached.files;

  auto files = std::make_shared<ModelFiles>();
  files->model_id = model.id;
  files->weights_name = WeightsName(model.path);
  files->weights_identity = identity;
  ModelFile weights;
  weights.name = files->weights_name;
  weights.role = FileRole::kWeights;
  weights.size = identity.size;
  weights.path = model.path;
  weights.content_type = "application/octet-stream";
  ASSIGN_OR_RETURN(weights.sha256, WeightsDigest(model.path, fd, identity));
  files->files.push_back(std::move(weights));

  // The tokenizer and chat template of the very file opened (by its
  // descriptor, in case the path was replaced meanwhile).
  absl::StatusOr<std::unique_ptr<engine::GgufFile>> gguf = engine::GgufFile::Open(fmt::format("/proc/self/fd/{}", fd));
  if (gguf.ok()) {
    GgufSideFiles side = ExtractSideFiles(**gguf);
    files->architecture = side.architecture;
    files->engine_runs_it = engine::LlamaConfig::FromGguf(**gguf).ok();
    if (side.tokenizer_json) {
      files->files.push_back(
          InMemory(kTokenizerName, FileRole::kTokenizer, "application/json", *std::move(side.tokenizer_json)));
    }
    if (side.chat_template) {
      files->files.push_back(InMemory(kChatTemplateName, FileRole::kChatTemplate, "text/plain; charset=utf-8",
                                      *std::move(side.chat_template)));
    }
  } else {
    spdlog::warn("model {}: {} is not a readable GGUF, so no tokenizer or chat template is served: {}", model.id,
                 model.path, std::string(gguf.status().message()));
  }
  if (card) {
    files->files.push_back(
        InMemory(kModelCardName, FileRole::kModelCard, "text/markdown; charset=utf-8", card->markdown));
  }
  if (licence) {
    files->files.push_back(InMemory(kLicenceName, FileRole::kLicence, "text/plain; charset=utf-8", licence->text));
  }
  std::sort(files->files.begin(), files->files.end(),
            [](const ModelFile& a, const ModelFile& b) { return a.name < b.name; });
  ASSIGN_OR_RETURN(files->manifest, Manifest(*files));
  files->files.push_back(InMemory(kSignatureFileName, FileRole::kManifest, "application/json", files->manifest.bundle));
  std::sort(files->files.begin(), files->files.end(),
            [](const ModelFile& a, const ModelFile& b) { return a.name < b.name; });
  cached.key = key;
  cached.files = files;
  return cached.files;
}

absl::StatusOr<std::shared_ptr<const ModelFiles>> DistributionService::Files(const Model& model) {
  ASSIGN_OR_RETURN(int fd, OpenForReading(model));
  FdCloser closer(fd);
  ASSIGN_OR_RETURN(FileIdentity identity, IdentifyFile(fd, model.path));
  absl::MutexLock lock(&mu_);
  return FilesLocked(model, fd, identity);
}

absl::StatusOr<OpenedWeights> DistributionService::OpenWeights(const Model& model) {
  ASSIGN_OR_RETURN(int fd, OpenForReading(model));
  FdCloser closer(fd);
  ASSIGN_OR_RETURN(FileIdentity identity, IdentifyFile(fd, model.path));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::shared_ptr<const ModelFiles> files, FilesLocked(model, fd, identity));
  return OpenedWeights{closer.release(), std::move(files)};
}

}  // namespace aperture::distribution
