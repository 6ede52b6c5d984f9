#include "distribution/model_manifest.h"

#include <algorithm>
#include <map>

#include "core/hash.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/status_macros.h"
#include "distribution/dsse.h"
#include "fmt/format.h"

namespace aperture::distribution {
namespace {

constexpr size_t kMaxNameBytes = 1024;

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

absl::Status CheckName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("a manifest file has an empty name");
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(fmt::format("a manifest file name is longer than {} bytes", kMaxNameBytes));
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("a manifest file name contains a NUL byte");
  }
  return absl::OkStatus();
}

std::string RootOf(const std::vector<ManifestFile>& files) {
  std::string concatenated;
  concatenated.reserve(files.size() * 32);
  for (const ManifestFile& f : files) concatenated += HexDecode(f.sha256).value_or(std::string(32, '\0'));
  return Sha256Hex(concatenated);
}

// obj[field] as a string; InvalidArgument naming `where` otherwise.
absl::StatusOr<std::string> StringField(const Json& obj, const char* field, std::string_view where) {
  if (!obj.is_object()) return absl::InvalidArgumentError(fmt::format("{} is not a JSON object", where));
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_string()) {
    return absl::InvalidArgumentError(fmt::format("{} has no '{}' string", where, field));
  }
  return it->get<std::string>();
}

absl::StatusOr<const Json*> Member(const Json& obj, const char* field, std::string_view where) {
  if (!obj.is_object()) return absl::InvalidArgumentError(fmt::format("{} is not a JSON object", where));
  auto it = obj.find(field);
  if (it == obj.end()) return absl::InvalidArgumentError(fmt::format("{} has no '{}'", where, field));
  return &*it;
}

absl::StatusOr<ModelManifest> StatementManifest(std::string_view payload) {
  absl::StatusOr<Json> parsed = ParseJson(payload);
  if (!parsed.ok()) return absl::InvalidArgumentError("the signed statement is not JSON");
  const Json& statement = *parsed;
  ASSIGN_OR_RETURN(auto type, StringField(statement, "_type", "the statement"));
  if (type != kStatementType) {
    return absl::InvalidArgumentError(fmt::format("the statement's _type is '{}', not {}", type, kStatementType));
  }
  ASSIGN_OR_RETURN(auto predicate_type, StringField(statement, "predicateType", "the statement"));
  if (predicate_type != kModelSigningPredicate) {
    return absl::InvalidArgumentError(
        fmt::format("the statement's predicateType is '{}', not {}", predicate_type, kModelSigningPredicate));
  }
  ASSIGN_OR_RETURN(auto subjects, Member(statement, "subject", "the statement"));
  if (!subjects->is_array() || subjects->size() != 1) {
    return absl::InvalidArgumentError("the statement must have exactly one subject");
  }
  ModelManifest manifest;
  ASSIGN_OR_RETURN(auto name, StringField((*subjects)[0], "name", "the subject"));
  manifest.model_name = std::move(name);
  ASSIGN_OR_RETURN(auto digest, Member((*subjects)[0], "digest", "the subject"));
  ASSIGN_OR_RETURN(auto root, StringField(*digest, "sha256", "the subject's digest"));
  if (!IsLowerHex64(root)) return absl::InvalidArgumentError("the subject's sha256 is not 64 lower-case hex digits");

  ASSIGN_OR_RETURN(auto predicate, Member(statement, "predicate", "the statement"));
  ASSIGN_OR_RETURN(auto serialization, Member(*predicate, "serialization", "the predicate"));
  ASSIGN_OR_RETURN(auto method, StringField(*serialization, "method", "the serialization"));
  if (method != "files") {
    return absl::InvalidArgumentError(
        fmt::format("the serialization method is '{}'; this verifier checks 'files' manifests", method));
  }
  ASSIGN_OR_RETURN(auto hash_type, StringField(*serialization, "hash_type", "the serialization"));
  if (hash_type != "sha256") {
    return absl::InvalidArgumentError(fmt::format("the serialization hash_type is '{}', not sha256", hash_type));
  }
  ASSIGN_OR_RETURN(auto resources, Member(*predicate, "resources", "the predicate"));
  if (!resources->is_array()) return absl::InvalidArgumentError("the predicate's resources are not a list");
  if (resources->size() > kMaxManifestFiles) {
    return absl::InvalidArgumentError(fmt::format("the manifest lists more than {} files", kMaxManifestFiles));
  }
  std::string concatenated;
  std::map<std::string, bool> seen;
  for (const Json& r : *resources) {
    ASSIGN_OR_RETURN(auto file_name, StringField(r, "name", "a resource"));
    if (absl::Status s = CheckName(file_name); !s.ok()) return s;
    ASSIGN_OR_RETURN(auto algorithm, StringField(r, "algorithm", "a resource"));
    if (algorithm != "sha256") {
      return absl::InvalidArgumentError(
          fmt::format("resource '{}' uses algorithm '{}', not sha256", file_name, algorithm));
    }
    ASSIGN_OR_RETURN(auto file_digest, StringField(r, "digest", "a resource"));
    if (!IsLowerHex64(file_digest)) {
      return absl::InvalidArgumentError(
          fmt::format("resource '{}' has a digest that is not 64 lower-case hex digits", file_name));
    }
    if (!seen.emplace(file_name, true).second) {
      return absl::InvalidArgumentError(fmt::format("resource '{}' is listed twice", file_name));
    }
    concatenated += *HexDecode(file_digest);
    manifest.files.push_back({std::move(file_name), std::move(file_digest)});
  }
  // The root is over the digests in the order listed, as verifiers compute it.
  const std::string recomputed = Sha256Hex(concatenated);
  if (recomputed != root) {
    return absl::InvalidArgumentError(fmt::format(
        "the manifest is inconsistent: its root digest is {} but its files' digests hash to {}", root, recomputed));
  }
  manifest.root_sha256 = root;
  std::sort(manifest.files.begin(), manifest.files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.name < b.name; });
  return manifest;
}

}  // namespace

absl::StatusOr<ModelManifest> MakeManifest(std::string model_name, std::vector<ManifestFile> files) {
  if (model_name.empty()) return absl::InvalidArgumentError("a manifest needs the model's name");
  std::sort(files.begin(), files.end(), [](const ManifestFile& a, const ManifestFile& b) { return a.name < b.name; });
  for (size_t i = 0; i < files.size(); ++i) {
    if (absl::Status s = CheckName(files[i].name); !s.ok()) return s;
    if (files[i].name == kSignatureFileName) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is the signature itself, not a file it signs", files[i].name));
    }
    if (!IsLowerHex64(files[i].sha256)) {
      return absl::InvalidArgumentError(fmt::format("'{}' has a digest that is not 64 hex digits", files[i].name));
    }
    if (i > 0 && files[i].name == files[i - 1].name) {
      return absl::InvalidArgumentError(fmt::format("'{}' is listed twice", files[i].name));
    }
  }
  ModelManifest manifest{std::move(model_name), std::move(files), ""};
  manifest.root_sha256 = RootOf(manifest.files);
  return manifest;
}

std::string StatementPayload(const ModelManifest& manifest) {
  Json resources = Json::array();
  for (const ManifestFile& f : manifest.files) {
    resources.push_back({{"name", f.name}, {"algorithm", "sha256"}, {"digest", f.sha256}});
  }
  Json statement = {
      {"_type", kStatementType},
      {"subject", Json::array({{{"name", manifest.model_name}, {"digest", {{"sha256", manifest.root_sha256}}}}})},
      {"predicateType", kModelSigningPredicate},
      {"predicate",
       {{"serialization",
         {{"method", "files"},
          {"hash_type", "sha256"},
          {"allow_symlinks", false},
          {"ignore_paths", Json::array({kSignatureFileName})}}},
        {"resources", std::move(resources)}}}};
  return CanonicalJson(statement);
}

absl::StatusOr<std::string> SignManifestBundle(const ModelManifest& manifest, const EcdsaP256Signer& signer) {
  absl::StatusOr<DsseEnvelope> envelope = SignEnvelope(kInTotoPayloadType, StatementPayload(manifest), signer);
  if (!envelope.ok()) return envelope.status();
  // The model-signing tools write the signature without a keyid; the bundle's
  // public-key hint names the key instead.
  const std::string hint = envelope->signatures[0].keyid;
  envelope->signatures[0].keyid.clear();
  Json dsse = EnvelopeJson(*envelope);
  dsse["signatures"][0]["keyid"] = "";  // as their signer writes it
  Json bundle = {{"mediaType", kBundleMediaType},
                 {"verificationMaterial", {{"publicKey", {{"hint", hint}}}, {"tlogEntries", Json::array()}}},
                 {"dsseEnvelope", std::move(dsse)}};
  return CanonicalJson(bundle);
}

absl::StatusOr<ModelManifest> VerifyManifestBundle(std::string_view bundle_json, const EcdsaP256Verifier& key) {
  if (bundle_json.size() > kMaxBundleBytes) {
    return absl::InvalidArgumentError(fmt::format("the manifest is larger than {} bytes", kMaxBundleBytes));
  }
  absl::StatusOr<Json> bundle = ParseJson(bundle_json);
  if (!bundle.ok()) return absl::InvalidArgumentError("the manifest is not JSON (expected a Sigstore bundle)");
  ASSIGN_OR_RETURN(auto media_type, StringField(*bundle, "mediaType", "the bundle"));
  if (media_type != kBundleMediaType) {
    return absl::InvalidArgumentError(
        fmt::format("the bundle's mediaType is '{}', not {}", media_type, kBundleMediaType));
  }
  ASSIGN_OR_RETURN(auto material, Member(*bundle, "verificationMaterial", "the bundle"));
  ASSIGN_OR_RETURN(auto public_key, Member(*material, "publicKey", "the verification material"));
  if (public_key->is_object() && public_key->contains("hint")) {
    ASSIGN_OR_RETURN(auto hint, StringField(*public_key, "hint", "the public key"));
    if (hint != key.Hint()) {
      return absl::InvalidArgumentError(
          "the manifest was signed by another key (its public-key hint does not match the key given)");
    }
  }
  ASSIGN_OR_RETURN(auto envelope_json, Member(*bundle, "dsseEnvelope", "the bundle"));
  ASSIGN_OR_RETURN(auto envelope, ParseEnvelope(*envelope_json));
  if (envelope.payload_type != kInTotoPayloadType) {
    return absl::InvalidArgumentError(
        fmt::format("the envelope's payloadType is '{}', not {}", envelope.payload_type, kInTotoPayloadType));
  }
  if (absl::Status s = VerifyEnvelope(envelope, key); !s.ok()) return s;
  return StatementManifest(envelope.payload);
}

absl::StatusOr<ModelManifest> ParseManifestStatement(std::string_view payload) {
  if (payload.size() > kMaxBundleBytes) {
    return absl::InvalidArgumentError(fmt::format("the statement is larger than {} bytes", kMaxBundleBytes));
  }
  return StatementManifest(payload);
}

std::vector<FileCheck> CompareFiles(const ModelManifest& manifest, const std::vector<ManifestFile>& actual) {
  std::map<std::string, FileCheck> checks;
  for (const ManifestFile& f : manifest.files) {
    checks[f.name] = FileCheck{f.name, FileCheck::Result::kNotGiven, f.sha256, ""};
  }
  for (const ManifestFile& f : actual) {
    auto [it, inserted] = checks.try_emplace(f.name, FileCheck{f.name, FileCheck::Result::kNotInManifest, "", ""});
    FileCheck& c = it->second;
    c.actual = f.sha256;
    if (!inserted) c.result = c.expected == f.sha256 ? FileCheck::Result::kMatches : FileCheck::Result::kDiffers;
  }
  std::vector<FileCheck> out;
  out.reserve(checks.size());
  for (auto& [name, check] : checks) out.push_back(std::move(check));
  return out;
}

}  // namespace aperture::distribution
