#include "scheduler/model_registry.h"

#include <algorithm>
#include <utility>

#include "fmt/format.h"

namespace aperture::scheduler {

ModelRegistry::ModelRegistry(ModelRegistryOptions options) : options_(options) {}

absl::Status ModelRegistry::Register(std::string id, std::string path) {
  if (id.empty()) return absl::InvalidArgumentError("a model id must not be empty");
  if (path.empty()) return absl::InvalidArgumentError(fmt::format("model '{}' needs a file path", id));
  StdMutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    if (it->second->path == path) return absl::OkStatus();
    return absl::AlreadyExistsError(
        fmt::format("model '{}' is already registered with the file {}", id, it->second->path));
  }
  entries_.emplace(std::move(id), std::make_unique<Entry>(std::move(path)));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> ModelRegistry::Get(std::string_view id) {
  Entry* entry = nullptr;
  {
    StdMutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return absl::NotFoundError(fmt::format("no model '{}' is registered", id));
    if (auto done = loaded_.find(id); done != loaded_.end()) return done->second;
    entry = it->second.get();  // entries are never removed, so the pointer stays valid
  }
  StdMutexLock load_lock(&entry->load_mu);
  {
    StdMutexLock lock(&mu_);
    if (auto done = loaded_.find(id); done != loaded_.end()) return done->second;  // loaded while we waited
  }
  absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = LoadFile(std::string(id), entry->path);
  if (!loaded.ok()) return loaded.status();
  StdMutexLock lock(&mu_);
  loaded_.emplace(std::string(id), *loaded);
  return *loaded;
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> ModelRegistry::LoadFile(const std::string& id,
                                                                           const std::string& path) const {
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), fmt::format("loading model '{}' from {}: {}", id, path, std::string(s.message())));
  };
  auto m = std::make_shared<LoadedModel>();
  m->id = id;
  m->path = path;
  absl::StatusOr<std::unique_ptr<engine::LlamaModel>> model = engine::LlamaModel::Load(path);
  if (!model.ok()) return fail(model.status());
  m->model = *std::move(model);
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> tok = engine::Tokenizer::FromGguf(m->model->gguf());
  if (!tok.ok()) return fail(tok.status());
  m->tokenizer = *std::move(tok);
  m->chat_template =
      std::make_unique<engine::ChatTemplate>(engine::ChatTemplate::ForModel(m->model->gguf(), *m->tokenizer));
  m->chat_encoder = std::make_unique<engine::ChatEncoder>(*m->tokenizer);
  const int trained = m->model->config().context_length;
  m->context_length = trained > 0 ? trained : std::max(1, options_.default_context);
  if (options_.max_context > 0) m->context_length = std::min(m->context_length, options_.max_context);
  return std::shared_ptr<const LoadedModel>(std::move(m));
}

std::vector<std::string> ModelRegistry::ids() const {
  StdMutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [id, entry] : entries_) out.push_back(id);
  return out;
}

bool ModelRegistry::IsLoaded(std::string_view id) const {
  StdMutexLock lock(&mu_);
  return loaded_.find(id) != loaded_.end();
}

}  // namespace aperture::scheduler
