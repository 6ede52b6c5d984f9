// DistributionService over a real SQLite store and an in-memory log: the
// files of a real model, manifests re-signed exactly when the files change,
// and licences set and accepted on the record.
#include "distribution/distribution_service.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/hash.h"
#include "core/random.h"
#include "distribution/model_manifest.h"
#include "store/sqlite/sqlite_store.h"
#include "translog/entry.h"
#include "translog/memory_log_store.h"
#include "translog/sequencer.h"

namespace aperture::distribution {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Caller Principal(std::string id, Role role) {
  Caller c;
  c.principal = aperture::Principal{std::move(id), "p", role, 0};
  return c;
}

class DistributionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-dist-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    weights_ = (dir_ / "tiny.gguf").string();
    std::filesystem::copy_file(APERTURE_SHARED_DIR "/models/stories260K.gguf", weights_);
    auto store = store::SqliteStore::Open((dir_ / "db").string(), true);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "ada", Role::kMember, 1}).ok());
    ASSERT_TRUE(store_->CreateModel({"tiny", weights_, Level::kDownload, "[]", 1}).ok());
    InitCrypto();
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    auto log = translog::LogSequencer::Open(log_store_, std::string(reinterpret_cast<char*>(sk), sizeof sk), "test/log",
                                            clock_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
    auto key = EcdsaP256Signer::Generate();
    ASSERT_TRUE(key.ok());
    service_ = std::make_unique<DistributionService>(*store_, *log_, clock_, *key);
  }
  void TearDown() override {
    service_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  Model TheModel() { return **store_->FindModel("tiny"); }

  std::vector<LogEvent> Logged(const std::string& type) {
    log_->Flush();
    auto head = log_store_.Head();
    std::vector<LogEvent> out;
    if (!head.ok() || !*head) return out;
    auto entries = log_store_.Entries(0, (*head)->size);
    if (!entries.ok()) return out;
    for (const std::string& entry : *entries) {
      auto e = translog::EventFromEntry(entry);
      if (e.ok() && e->type == type) out.push_back(*e);
    }
    return out;
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::string weights_;
  std::unique_ptr<store::SqliteStore> store_;
  translog::MemoryLogStore log_store_;
  std::unique_ptr<translog::LogSequencer> log_;
  std::unique_ptr<DistributionService> service_;
};

TEST_F(DistributionServiceTest, ListsTheWeightsTokenizerAndASignedManifestOfThem) {
  auto files = service_->Files(TheModel());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->architecture, "llama");
  EXPECT_EQ((*files)->weights_name, "tiny.gguf");
  const ModelFile* weights = (*files)->Find("tiny.gguf");
  ASSERT_NE(weights, nullptr);
  const std::string bytes = ReadAll(weights_);
  EXPECT_EQ(weights->size, bytes.size());
  EXPECT_EQ(weights->sha256, Sha256Hex(bytes));  // libsodium's SHA-256, not the one that hashed the file
  EXPECT_TRUE(weights->model_data());
  const ModelFile* tokenizer = (*files)->Find("tokenizer.json");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->sha256, Sha256Hex(*tokenizer->content));
  EXPECT_EQ((*files)->Find("README.md"), nullptr);
  EXPECT_EQ((*files)->Find("LICENSE"), nullptr);
  const ModelFile* sig = (*files)->Find("model.sig");
  ASSERT_NE(sig, nullptr);
  EXPECT_FALSE(sig->model_data());

  auto key = EcdsaP256Verifier::FromPem(service_->manifest_key().PublicPem());
  auto manifest = VerifyManifestBundle(*sig->content, *key);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->model_name, "tiny");
  std::vector<ManifestFile> served;
  for (const ModelFile& f : (*files)->files) {
    if (f.name != "model.sig") served.push_back({f.name, f.sha256});
  }
  for (const FileCheck& c : CompareFiles(*manifest, served)) {
    EXPECT_EQ(c.result, FileCheck::Result::kMatches) << c.name;
  }
  // The manifest is in the log, exactly as the record keeps it.
  auto logged = Logged("manifest.signed");
  ASSERT_EQ(logged.size(), 1u);
  auto entry = translog::PrepareEntry(logged[0]);
  EXPECT_EQ(entry->entry, (*files)->manifest.log_entry);
}

TEST_F(DistributionServiceTest, ANewManifestExactlyWhenTheFilesChange) {
  const std::string first = (*service_->Files(TheModel()))->manifest.root_sha256;
  EXPECT_EQ((*service_->Files(TheModel()))->manifest.root_sha256, first);
  EXPECT_EQ(Logged("manifest.signed").size(), 1u);

  const Caller owner = Principal("o1", Role::kOwner);
  ASSERT_TRUE(store_->SetModelCard({"tiny", "# Tiny\nA small story model.", 2, "o1"}).ok());
  auto with_card = service_->Files(TheModel());
  ASSERT_TRUE(with_card.ok());
  ASSERT_NE((*with_card)->Find("README.md"), nullptr);
  const std::string second = (*with_card)->manifest.root_sha256;
  EXPECT_NE(second, first);

  auto terms = ParseLicenceTerms({{"spdx_id", "Apache-2.0"}, {"text", "Apache License 2.0 text"}});
  ASSERT_TRUE(service_->SetLicence(owner, "tiny", *terms).ok());
  auto with_licence = service_->Files(TheModel());
  ASSERT_NE((*with_licence)->Find("LICENSE"), nullptr);
  EXPECT_EQ(*(*with_licence)->Find("LICENSE")->content, "Apache License 2.0 text");
  const std::string third = (*with_licence)->manifest.root_sha256;
  EXPECT_NE(third, second);

  // One byte of the weights changes: a new digest and a new manifest.
  {
    std::fstream f(weights_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  auto changed = service_->Files(TheModel());
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ((*changed)->Find("tiny.gguf")->sha256, Sha256Hex(ReadAll(weights_)));
  EXPECT_NE((*changed)->manifest.root_sha256, third);
  EXPECT_EQ(Logged("manifest.signed").size(), 4u);
  EXPECT_EQ(Logged("licence.set").size(), 1u);
}

TEST_F(DistributionServiceTest, OpenedWeightsMatchTheirListing) {
  auto opened = service_->OpenWeights(TheModel());
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_GE(opened->fd, 0);
  std::string bytes(opened->files->Find("tiny.gguf")->size, '\0');
  EXPECT_EQ(::pread(opened->fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  EXPECT_EQ(Sha256Hex(bytes), opened->files->Find("tiny.gguf")->sha256);
  ::close(opened->fd);
}

TEST_F(DistributionServiceTest, LicencesAreAcceptedByTheirDigestOnTheRecord) {
  const Caller owner = Principal("o1", Role::kOwner);
  const Caller member = Principal("p1", Role::kMember);
  EXPECT_TRUE(absl::IsFailedPrecondition(service_->AcceptLicence(member, "tiny", "00").status()));
  auto terms = ParseLicenceTerms({{"name", "Acme"}, {"text", "v1"}});
  EXPECT_TRUE(absl::IsPermissionDenied(service_->SetLicence(member, "tiny", *terms).status()));
  auto licence = service_->SetLicence(owner, "tiny", *terms);
  ASSERT_TRUE(licence.ok()) << licence.status();
  EXPECT_EQ(licence->sha256, Sha256Hex("v1"));

  EXPECT_TRUE(absl::IsUnauthenticated(service_->AcceptLicence(Caller{}, "tiny", licence->sha256).status()));
  auto stale = service_->AcceptLicence(member, "tiny", Sha256Hex("v0"));
  EXPECT_TRUE(absl::IsFailedPrecondition(stale.status()));
  EXPECT_NE(stale.status().message().find(licence->sha256), std::string::npos);
  ASSERT_TRUE(service_->AcceptLicence(member, "tiny", licence->sha256).ok());
  ASSERT_TRUE(service_->AcceptLicence(member, "tiny", licence->sha256).ok());  // again: nothing new
  EXPECT_TRUE(*store_->HasAcceptedLicence("p1", "tiny", licence->sha256));
  auto accepted = Logged("licence.accepted");
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].actor, "p1");
  EXPECT_NE(accepted[0].details.find(licence->sha256), std::string::npos);

  // A changed licence is a new text to accept.
  auto v2 = service_->SetLicence(owner, "tiny", *ParseLicenceTerms({{"name", "Acme"}, {"text", "v2"}}));
  EXPECT_FALSE(*store_->HasAcceptedLicence("p1", "tiny", v2->sha256));
}

TEST_F(DistributionServiceTest, AMissingWeightsFileIsUnavailable) {
  std::filesystem::remove(weights_);
  auto files = service_->Files(TheModel());
  EXPECT_TRUE(absl::IsUnavailable(files.status())) << files.status();
  EXPECT_EQ(files.status().message().find(weights_), std::string::npos);  // no server paths to callers
}

}  // namespace
}  // namespace aperture::distribution
