#include "access/licence_gate.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/random.h"
#include "store/sqlite/sqlite_store.h"

namespace aperture {
namespace {

Caller As(std::string id, Role role) {
  Caller c;
  c.principal = Principal{std::move(id), "p", role, 0};
  return c;
}

class LicenceGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-gate-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    store_ = std::move(*store::SqliteStore::Open((dir_ / "db").string(), true));
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "ada", Role::kMember, 1}).ok());
    ASSERT_TRUE(store_->CreateModel({"m", "/m.gguf", Level::kDownload, "[]", 1}).ok());
    model_ = **store_->FindModel("m");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void SetLicence(uint32_t levels) {
    Licence l;
    l.model_id = "m";
    l.name = "Acme";
    l.text = "terms";
    l.sha256 = std::string(64, 'a');
    l.accept_levels = levels;
    l.set_by = "cli";
    ASSERT_TRUE(store_->SetLicence(l).ok());
    model_ = **store_->FindModel("m");
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
  Model model_;
  const std::vector<Capability> download_{Capability::kDownload};
  const std::vector<Capability> chat_{Capability::kChat};
};

TEST_F(LicenceGateTest, WithoutALicenceNothingDownloadsBelowOpen) {
  LicenceGate gate(*store_);
  auto v = gate.Check(As("p1", Role::kMember), model_, Level::kDownload, download_);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->allowed);
  EXPECT_EQ(v->status, 409);
  EXPECT_EQ(v->code, "licence_missing");
  EXPECT_TRUE(gate.Check(As("p1", Role::kMember), model_, Level::kDownload, chat_)->allowed);
  EXPECT_TRUE(gate.Check(Caller{}, model_, Level::kOpen, download_)->allowed);
}

TEST_F(LicenceGateTest, GatedLevelsNeedTheCurrentTextAccepted) {
  SetLicence(1u << static_cast<int>(Level::kDownload));
  LicenceGate gate(*store_);
  auto anonymous = gate.Check(Caller{}, model_, Level::kDownload, download_);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->code, "licence_key_required");
  auto member = gate.Check(As("p1", Role::kMember), model_, Level::kDownload, download_);
  EXPECT_EQ(member->status, 403);
  EXPECT_EQ(member->code, "licence_not_accepted");
  EXPECT_NE(member->message.find(std::string(64, 'a')), std::string::npos);  // says what to accept
  // Levels the licence does not bind, open, and owners pass.
  EXPECT_TRUE(gate.Check(As("p1", Role::kMember), model_, Level::kApi, chat_)->allowed);
  EXPECT_TRUE(gate.Check(As("p1", Role::kMember), model_, Level::kOpen, download_)->allowed);
  EXPECT_TRUE(gate.Check(As("o", Role::kOwner), model_, Level::kDownload, download_)->allowed);
  // Accepting another text does not help; accepting this one does.
  ASSERT_TRUE(store_->AddLicenceAcceptance({"p1", "m", std::string(64, 'b'), 1}).ok());
  EXPECT_FALSE(gate.Check(As("p1", Role::kMember), model_, Level::kDownload, download_)->allowed);
  ASSERT_TRUE(store_->AddLicenceAcceptance({"p1", "m", std::string(64, 'a'), 1}).ok());
  EXPECT_TRUE(gate.Check(As("p1", Role::kMember), model_, Level::kDownload, download_)->allowed);
}

TEST_F(LicenceGateTest, AnOwnerMayGateOtherLevels) {
  SetLicence(1u << static_cast<int>(Level::kApi));
  LicenceGate gate(*store_);
  EXPECT_EQ(gate.Check(As("p1", Role::kMember), model_, Level::kApi, chat_)->code, "licence_not_accepted");
  EXPECT_TRUE(gate.Check(As("p1", Role::kMember), model_, Level::kDownload, download_)->allowed);
}

}  // namespace
}  // namespace aperture
