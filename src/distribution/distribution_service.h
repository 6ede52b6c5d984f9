// DistributionService: what a model ships as files, and the licence it ships
// under. It knows the model's files now (the weights on disk; the tokenizer
// and chat template as they are in the GGUF; the owner's model card (set
// through AccessService) and licence text; the signed manifest of all of
// them), hashes the weights only when the file changed (digests are
// remembered by file identity in the store, across restarts), and signs a
// new manifest, logged as `manifest.signed`, whenever the files change.
// Owners set the licence here, principals accept it here; each is a log
// entry.
//
// Limits: licence texts at most 1 MiB (licence_terms.h). The first
// listing after the weights change hashes them once (OpenSSL SHA-256, at
// disk speed), holding this service's lock; other listings wait for it.
// If the weights file is rewritten in place while a download streams it,
// the bytes sent may mix old and new contents (replace files by renaming
// them, as package managers do: the open download keeps the old file).
//
// Usage:
//   ASSIGN_OR_RETURN(auto files, service.Files(model));
//   const ModelFile* weights = files->Find(files->weights_name);
//   ASSIGN_OR_RETURN(OpenWeights opened, service.OpenWeights(model));  // fd + the listing that matches it
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "access/caller.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "core/clock.h"
#include "distribution/ecdsa_key.h"
#include "distribution/file_digest.h"
#include "distribution/licence_terms.h"

namespace aperture::distribution {

enum class FileRole { kWeights, kTokenizer, kChatTemplate, kModelCard, kLicence, kManifest };
std::string_view FileRoleName(FileRole role);

struct ModelFile {
  std::string name;
  FileRole role = FileRole::kWeights;
  uint64_t size = 0;
  std::string sha256;  // hex
  std::string content_type;
  std::string path;                            // the weights: the file on disk
  std::shared_ptr<const std::string> content;  // every other file: its bytes
  // The model itself (weights, tokenizer, chat template): served only with
  // the download capability. The card, licence and manifest are public
  // wherever the model is visible.
  bool model_data() const;
};

struct ModelFiles {
  std::string model_id;
  std::string architecture;       // general.architecture of the GGUF ("" if unreadable)
  bool engine_runs_it = false;    // Aperture's engine implements this architecture and these hyperparameters
  std::vector<ModelFile> files;   // by name, the manifest included
  std::string weights_name;       // the weights' file name
  FileIdentity weights_identity;  // what was hashed
  ManifestRecord manifest;        // the signed manifest of every other file
  const ModelFile* Find(std::string_view name) const;
};

// The weights opened for streaming, with the listing that describes exactly
// the opened file (its digest is the ETag).
struct OpenedWeights {
  int fd = -1;  // owned by the caller
  std::shared_ptr<const ModelFiles> files;
};

class DistributionService {
 public:
  DistributionService(Store& store, Recorder& recorder, const Clock& clock, EcdsaP256Signer manifest_key)
      : store_(store), recorder_(recorder), clock_(clock), key_(std::move(manifest_key)) {}

  // The key manifests (and transparency reports) are signed with.
  const EcdsaP256Signer& manifest_key() const { return key_; }

  // Owners (or the CLI operator). Each change is a durable log entry.
  absl::StatusOr<Licence> SetLicence(const Caller& actor, const std::string& model_id, const LicenceTerms& terms);

  // A principal accepts the licence in force, named by its SHA-256 (so a
  // licence changed since they read it is not accepted by mistake:
  // FailedPrecondition). Accepting again is OK and logs nothing new.
  absl::StatusOr<Licence> AcceptLicence(const Caller& actor, const std::string& model_id, const std::string& sha256);

  // The model's files now (see the header comment).
  absl::StatusOr<std::shared_ptr<const ModelFiles>> Files(const Model& model);
  absl::StatusOr<OpenedWeights> OpenWeights(const Model& model);

 private:
  struct Cached {
    std::string key;  // weights identity, card and licence digests, signing key
    std::shared_ptr<const ModelFiles> files;
  };
  absl::StatusOr<std::shared_ptr<const ModelFiles>> FilesLocked(const Model& model, int fd,
                                                                const FileIdentity& identity)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> WeightsDigest(const std::string& path, int fd, const FileIdentity& identity);
  absl::StatusOr<ManifestRecord> Manifest(const ModelFiles& files);
  absl::Status Record(const Caller& actor, std::string type, const std::string& model, const Json& details);

  Store& store_;
  Recorder& recorder_;
  const Clock& clock_;
  const EcdsaP256Signer key_;
  absl::Mutex mu_;
  std::map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture::distribution
