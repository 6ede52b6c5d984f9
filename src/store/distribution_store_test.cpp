// The store's licences, acceptances, openness declarations,
// manifests and file digests, on every backend (store/testing/test_stores.h).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "aperture/store.h"
#include "store/testing/test_stores.h"

namespace aperture::store {
namespace {

class DistributionStoreTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    auto db = testing::TestDatabase::Create(GetParam());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto s = db_->OpenStore();
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "alice", Role::kMember, 10}).ok());
    ASSERT_TRUE(store_->CreateModel({"m1", "/x.gguf", Level::kDownload, "[]", 10}).ok());
  }

  static Licence Make(std::string text, uint32_t levels, int64_t at) {
    Licence l;
    l.model_id = "m1";
    l.spdx_id = "Apache-2.0";
    l.name = "Apache License 2.0";
    l.text = std::move(text);
    l.sha256 = std::string(64, static_cast<char>('a' + at % 6));
    l.accept_levels = levels;
    l.set_by = "cli";
    l.set_at = at;
    return l;
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST_P(DistributionStoreTest, TheLatestLicenceIsInForceAndOnTheModel) {
  EXPECT_FALSE(store_->FindLicence("m1")->has_value());
  ASSERT_TRUE(store_->SetLicence(Make("first", 1u << 5, 1)).ok());
  ASSERT_TRUE(store_->SetLicence(Make("second", (1u << 5) | (1u << 3), 2)).ok());
  auto found = store_->FindLicence("m1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->text, "second");
  auto model = store_->FindModel("m1");
  ASSERT_TRUE(model.ok() && model->has_value());
  EXPECT_EQ((*model)->licence_sha256, (*found)->sha256);
  EXPECT_EQ((*model)->licence_levels, (1u << 5) | (1u << 3));
  auto all = store_->ListLicences("m1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].text, "first");
  EXPECT_TRUE(absl::IsNotFound(store_->SetLicence([] {
    Licence l = Make("x", 0, 3);
    l.model_id = "ghost";
    return l;
  }())));
}

// The licence in force rides on the model row every request reads (and
// stores cache): another process on the same database sees a new one.
TEST_P(DistributionStoreTest, AnotherStoreSeesANewLicence) {
  auto other = db_->OpenStore();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->ListModels().ok());  // cached there now
  ASSERT_TRUE(store_->SetLicence(Make("terms", 1u << 5, 1)).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string seen;
  while (std::chrono::steady_clock::now() < deadline) {
    auto model = (*other)->FindModel("m1");
    ASSERT_TRUE(model.ok() && model->has_value());
    seen = (*model)->licence_sha256;
    if (!seen.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(seen, Make("terms", 0, 1).sha256);
}

TEST_P(DistributionStoreTest, AcceptancesAreOncePerText) {
  const LicenceAcceptance a{"p1", "m1", std::string(64, 'a'), 5};
  EXPECT_FALSE(*store_->HasAcceptedLicence("p1", "m1", a.licence_sha256));
  ASSERT_TRUE(store_->AddLicenceAcceptance(a).ok());
  EXPECT_TRUE(*store_->HasAcceptedLicence("p1", "m1", a.licence_sha256));
  EXPECT_FALSE(*store_->HasAcceptedLicence("p1", "m1", std::string(64, 'b')));
  EXPECT_TRUE(absl::IsAlreadyExists(store_->AddLicenceAcceptance(a)));
  EXPECT_TRUE(absl::IsNotFound(store_->AddLicenceAcceptance({"ghost", "m1", a.licence_sha256, 5})));
}

TEST_P(DistributionStoreTest, DeclarationsReplaceEarlierOnes) {
  ASSERT_TRUE(store_->SetOpennessDeclaration({"m1", "data-card", "https://a", "CC-BY-4.0", "", "cli", 1}).ok());
  ASSERT_TRUE(store_->SetOpennessDeclaration({"m1", "data-card", "https://b", "CC0-1.0", "n", "cli", 2}).ok());
  ASSERT_TRUE(store_->SetOpennessDeclaration({"m1", "datasets", "https://c", "", "", "cli", 3}).ok());
  auto list = store_->ListOpennessDeclarations("m1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].url, "https://b");
  EXPECT_EQ((*list)[0].licence, "CC0-1.0");
  ASSERT_TRUE(store_->RemoveOpennessDeclaration("m1", "datasets").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->RemoveOpennessDeclaration("m1", "datasets")));
  EXPECT_EQ(store_->ListOpennessDeclarations("m1")->size(), 1u);
}

TEST_P(DistributionStoreTest, LatestManifestAndFileDigests) {
  EXPECT_FALSE(store_->LatestManifest("m1")->has_value());
  ASSERT_TRUE(store_->AddManifest({0, "m1", "r1", "[]", "{}", "k", "{\"a\":1}", 1}).ok());
  ASSERT_TRUE(store_->AddManifest({0, "m1", "r2", "[]", "{}", "k", "{\"a\":2}", 2}).ok());
  EXPECT_EQ((*store_->LatestManifest("m1"))->root_sha256, "r2");
  EXPECT_TRUE(absl::IsNotFound(store_->AddManifest({0, "ghost", "r", "[]", "{}", "k", "{}", 1})));

  EXPECT_FALSE(store_->FindFileDigest("/x.gguf")->has_value());
  ASSERT_TRUE(store_->SaveFileDigest("/x.gguf", {"id1", "d1"}).ok());
  ASSERT_TRUE(store_->SaveFileDigest("/x.gguf", {"id2", "d2"}).ok());
  auto digest = store_->FindFileDigest("/x.gguf");
  ASSERT_TRUE(digest.ok() && digest->has_value());
  EXPECT_EQ((*digest)->identity, "id2");
  EXPECT_EQ((*digest)->sha256, "d2");
}

INSTANTIATE_TEST_SUITE_P(Backends, DistributionStoreTest, testing::AllBackends(), testing::BackendName);

}  // namespace
}  // namespace aperture::store
