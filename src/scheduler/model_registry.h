// ModelRegistry: the models the scheduler can serve, by id. A model is
// registered with its GGUF path and loaded on first use (or by Load), then
// kept: one LlamaModel, Tokenizer and chat template per id, shared read-only
// by every request and thread.
//
// Thread-safety: thread-safe. A load runs on the calling thread; callers
// asking for a model that is being loaded wait for that load.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "core/std_mutex.h"
#include "engine/chat/chat_encoder.h"
#include "engine/chat/chat_template.h"
#include "engine/model/llama_model.h"
#include "engine/tokenizer/tokenizer.h"

namespace aperture::scheduler {

// One loaded model. Immutable; share it freely.
struct LoadedModel {
  std::string id;
  std::string path;
  std::unique_ptr<engine::LlamaModel> model;
  std::unique_ptr<engine::Tokenizer> tokenizer;
  std::unique_ptr<engine::ChatTemplate> chat_template;
  std::unique_ptr<engine::ChatEncoder> chat_encoder;  // over `tokenizer`
  // The most positions (prompt + generated) one sequence may hold: the
  // model's trained context (or the registry's default when the file does
  // not say), capped by the registry's max_context.
  int context_length = 0;

  int vocab_size() const { return model->config().vocab_size; }
  int embedding_size() const { return model->config().dim; }
};

struct ModelRegistryOptions {
  int default_context = 2048;  // for files without llama.context_length
  int max_context = 0;         // > 0: cap every model's context at this
};

class ModelRegistry {
 public:
  explicit ModelRegistry(ModelRegistryOptions options = {});

  // Registers `id` for the file at `path` (not loaded yet). Registering the
  // same id and path again is a no-op; another path for a known id is
  // AlreadyExists; an empty id or path is InvalidArgument.
  absl::Status Register(std::string id, std::string path);

  // The model, loading it on first use. NotFound for an unregistered id;
  // a failed load returns its error (naming the id and path) and is tried
  // again on the next call.
  absl::StatusOr<std::shared_ptr<const LoadedModel>> Get(std::string_view id);

  // Registered ids, sorted.
  std::vector<std::string> ids() const;
  bool IsLoaded(std::string_view id) const;

 private:
  struct Entry {
    explicit Entry(std::string p) : path(std::move(p)) {}
    const std::string path;
    StdMutex load_mu;  // held while loading, so one load runs per model
  };
  absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadFile(const std::string& id, const std::string& path) const;

  const ModelRegistryOptions options_;
  // A StdMutex rather than absl::Mutex: Debian's abseil is not built for
  // ThreadSanitizer, which then cannot see its locks.
  mutable StdMutex mu_;
  // Entries are never removed, so an Entry* stays valid without the lock.
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const LoadedModel>, std::less<>> loaded_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture::scheduler
