#include "store/access_cache.h"

namespace aperture::store {
namespace {

template <typename Map, typename V>
void PutBounded(Map& map, const std::string& key, const V& value) {
  if (map.size() >= AccessCache::kMaxEntries) map.clear();
  map.insert_or_assign(key, value);
}

}  // namespace

uint64_t AccessCache::Generation() const {
  absl::ReaderMutexLock lock(&mu_);
  return generation_;
}

void AccessCache::Invalidate() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  keys_.clear();
  principals_.clear();
  models_.reset();
  grants_.clear();
}

std::optional<ApiKey> AccessCache::KeyByHash(const std::string& hash) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = keys_.find(hash);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

void AccessCache::PutKeyByHash(uint64_t generation, const std::string& hash, const ApiKey& key) {
  absl::MutexLock lock(&mu_);
  if (generation == generation_) PutBounded(keys_, hash, key);
}

std::optional<Principal> AccessCache::FindPrincipal(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = principals_.find(id);
  if (it == principals_.end()) return std::nullopt;
  return it->second;
}

void AccessCache::PutPrincipal(uint64_t generation, const Principal& principal) {
  absl::MutexLock lock(&mu_);
  if (generation == generation_) PutBounded(principals_, principal.id, principal);
}

std::optional<std::vector<Model>> AccessCache::Models() const {
  absl::ReaderMutexLock lock(&mu_);
  return models_;
}

void AccessCache::PutModels(uint64_t generation, const std::vector<Model>& models) {
  absl::MutexLock lock(&mu_);
  if (generation == generation_) models_ = models;
}

std::optional<std::optional<Model>> AccessCache::FindModel(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  if (!models_) return std::nullopt;
  for (const Model& m : *models_) {
    if (m.id == id) return std::optional<Model>(m);
  }
  return std::optional<Model>();
}

std::string AccessCache::GrantKey(const std::string& principal_id, const std::string& model_id) {
  // Ids never hold a NUL, so the pair maps to one key.
  std::string key = principal_id;
  key.push_back('\0');
  key += model_id;
  return key;
}

std::optional<std::optional<Grant>> AccessCache::ActiveGrant(const std::string& principal_id,
                                                             const std::string& model_id, int64_t now) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = grants_.find(GrantKey(principal_id, model_id));
  if (it == grants_.end()) return std::nullopt;
  const std::optional<Grant>& grant = it->second;
  if (grant && grant->expires_at != 0 && grant->expires_at <= now) return std::nullopt;  // ask the store again
  return grant;
}

void AccessCache::PutActiveGrant(uint64_t generation, const std::string& principal_id, const std::string& model_id,
                                 const std::optional<Grant>& grant) {
  absl::MutexLock lock(&mu_);
  if (generation == generation_) PutBounded(grants_, GrantKey(principal_id, model_id), grant);
}

}  // namespace aperture::store
