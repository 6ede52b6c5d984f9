#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "core/random.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-store-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    store_ = Open();
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "alice", Role::kMember, 10}).ok());
    ASSERT_TRUE(store_->CreateModel({"m1", "/x.gguf", Level::kHosted, "[]", 10}).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteStore> Open() {
    auto s = SqliteStore::Open((dir_ / "db").string(), true);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(*s);
  }
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, PrincipalsAreUniqueByName) {
  auto s = store_->CreatePrincipal({"p2", "alice", Role::kOwner, 11});
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ((*store_->FindPrincipalByName("alice"))->id, "p1");
  EXPECT_FALSE(store_->FindPrincipal("nobody")->has_value());
  EXPECT_EQ(store_->ListPrincipals()->size(), 1u);
}

TEST_F(SqliteStoreTest, KeysByHashRevokeAndTouch) {
  ApiKey k{"k1", "p1", std::string(32, '\x01'), 5, 0, 0, 0};
  ASSERT_TRUE(store_->CreateApiKey(k).ok());
  auto found = store_->FindApiKeyByHash(std::string(32, '\x01'));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->principal_id, "p1");
  ASSERT_TRUE(store_->TouchApiKeys({{"k1", 42}}).ok());
  ASSERT_TRUE(store_->RevokeApiKey("k1", 50).ok());
  ASSERT_TRUE(store_->RevokeApiKey("k1", 60).ok());  // idempotent: first time kept
  auto k1 = *store_->FindApiKey("k1");
  EXPECT_EQ(k1->last_used_at, 42);
  EXPECT_EQ(k1->revoked_at, 50);
  EXPECT_TRUE(absl::IsNotFound(store_->RevokeApiKey("nope", 1)));
  // A key for an unknown principal is refused by the foreign key.
  EXPECT_FALSE(store_->CreateApiKey({"k2", "ghost", std::string(32, '\x02'), 5, 0, 0, 0}).ok());
}

TEST_F(SqliteStoreTest, ActiveGrantIsHighestUnexpiredUnrevoked) {
  ASSERT_TRUE(store_->CreateGrant({"g1", "p1", "m1", Level::kApi, 0, "r", "cli", 1, 0}).ok());
  ASSERT_TRUE(store_->CreateGrant({"g2", "p1", "m1", Level::kResearch, 100, "r", "cli", 2, 0}).ok());
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 50))->id, "g2");
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 100))->id, "g1");  // g2 expired
  ASSERT_TRUE(store_->RevokeGrant("g1", 60).ok());
  EXPECT_FALSE(store_->FindActiveGrant("p1", "m1", 100)->has_value());
  EXPECT_EQ(store_->ListGrants("p1", "")->size(), 2u);
  EXPECT_FALSE(store_->CreateGrant({"g3", "p1", "nomodel", Level::kApi, 0, "r", "cli", 1, 0}).ok());
}

TEST_F(SqliteStoreTest, AGrantKeepsItsResearchScope) {
  ASSERT_TRUE(
      store_->CreateGrant({"g1", "p1", "m1", Level::kResearch, 0, "r", "cli", 1, 0, R"({"research_max_tokens":5})"})
          .ok());
  ASSERT_TRUE(store_->CreateGrant({"g2", "p1", "m1", Level::kApi, 0, "r", "cli", 1, 0}).ok());
  EXPECT_EQ((*store_->FindGrant("g1"))->scope, R"({"research_max_tokens":5})");
  EXPECT_EQ((*store_->FindGrant("g2"))->scope, "{}");
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 10))->scope, R"({"research_max_tokens":5})");
}

TEST_F(SqliteStoreTest, OnePendingRequestAndAtomicApproval) {
  AccessRequest r;
  r.id = "r1";
  r.principal_id = "p1";
  r.model_id = "m1";
  r.level = Level::kResearch;
  r.justification = "study";
  r.created_at = 5;
  ASSERT_TRUE(store_->CreateAccessRequest(r).ok());
  r.id = "r2";
  EXPECT_TRUE(absl::IsAlreadyExists(store_->CreateAccessRequest(r)));

  AccessRequest d = **store_->FindAccessRequest("r1");
  d.state = RequestState::kApproved;
  d.decided_by = "p0";
  d.decided_at = 9;
  // A grant that cannot be created leaves the request pending.
  Grant bad{"g1", "p1", "ghost-model", Level::kApi, 0, "ok", "p0", 9, 0};
  EXPECT_FALSE(store_->DecideAccessRequest(d, bad).ok());
  EXPECT_EQ((*store_->FindAccessRequest("r1"))->state, RequestState::kPending);
  Grant good{"g1", "p1", "m1", Level::kApi, 0, "ok", "p0", 9, 0};
  ASSERT_TRUE(store_->DecideAccessRequest(d, good).ok());
  auto after = **store_->FindAccessRequest("r1");
  EXPECT_EQ(after.state, RequestState::kApproved);
  EXPECT_EQ(after.grant_id, "g1");
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->DecideAccessRequest(d, std::nullopt)));
  // Once decided, a new request may be pending again.
  r.id = "r3";
  EXPECT_TRUE(store_->CreateAccessRequest(r).ok());
}

TEST_F(SqliteStoreTest, ReopenKeepsEverythingAndMigratesOnce) {
  store_.reset();
  store_ = Open();
  EXPECT_TRUE((*store_->FindPrincipalByName("alice")).has_value());
  EXPECT_TRUE((*store_->FindModel("m1")).has_value());
}

}  // namespace
}  // namespace aperture::store

namespace aperture::store {
namespace {

TEST_F(SqliteStoreTest, ListsWithoutAFilterReturnEverything) {
  AccessRequest r;
  r.id = "r1";
  r.principal_id = "p1";
  r.model_id = "m1";
  r.level = Level::kApi;
  r.justification = "j";
  r.created_at = 5;
  ASSERT_TRUE(store_->CreateAccessRequest(r).ok());
  EXPECT_EQ(store_->ListAccessRequests("p1", std::nullopt)->size(), 1u);
  EXPECT_EQ(store_->ListAccessRequests("", std::nullopt)->size(), 1u);
  EXPECT_EQ(store_->ListAccessRequests("", RequestState::kPending)->size(), 1u);
  EXPECT_EQ(store_->ListAccessRequests("", RequestState::kDenied)->size(), 0u);
}

}  // namespace
}  // namespace aperture::store

namespace aperture::store {
namespace {

TEST_F(SqliteStoreTest, UsageAddsUpPerPrincipalModelAndDay) {
  ASSERT_TRUE(store_->AddUsage({{"p1", "m1", "2026-11-23", 1, 10, 5}, {"p1", "m1", "2026-11-23", 1, 3, 2}}).ok());
  ASSERT_TRUE(store_->AddUsage({{"p1", "m1", "2026-11-24", 1, 1, 1}, {"anonymous", "m1", "2026-11-23", 1, 7, 7}}).ok());
  auto mine = store_->ListUsage("p1", "2026-11-23", "2026-11-23");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].requests, 2);
  EXPECT_EQ((*mine)[0].prompt_tokens, 13);
  EXPECT_EQ((*mine)[0].completion_tokens, 7);
  EXPECT_EQ(store_->ListUsage("", "2026-01-01", "2026-12-31")->size(), 3u);
  // Research requests and their forward-pass tokens add up in the same rows.
  ASSERT_TRUE(
      store_->AddUsage({{"p1", "m1", "2026-11-23", 0, 0, 0, 1, 40}, {"p1", "m1", "2026-11-23", 0, 0, 0, 2, 2}}).ok());
  mine = store_->ListUsage("p1", "2026-11-23", "2026-11-23");
  EXPECT_EQ((*mine)[0].requests, 2);
  EXPECT_EQ((*mine)[0].research_requests, 3);
  EXPECT_EQ((*mine)[0].research_tokens, 42);
}

TEST_F(SqliteStoreTest, ModelSystemPrompt) {
  ASSERT_TRUE(store_->SetModelSystemPrompt("m1", "Be kind.").ok());
  EXPECT_EQ((*store_->FindModel("m1"))->system_prompt, "Be kind.");
  EXPECT_TRUE(absl::IsNotFound(store_->SetModelSystemPrompt("nope", "x")));
}

TEST_F(SqliteStoreTest, ReleaseEventsChangeTheLevelOrTheCeilingAtomically) {
  EXPECT_EQ((*store_->FindModel("m1"))->level_since, 10);  // from created_at
  EXPECT_EQ((*store_->FindModel("m1"))->ceiling, Level::kOpen);
  ReleaseEvent e{0, "m1", 100, "changed", Level::kHosted, Level::kApi, "p1", "hosted -> api", "{}"};
  ASSERT_TRUE(store_->AddReleaseEvent(e, Store::ReleaseChange::kPublicLevel).ok());
  e = {0, "m1", 200, "ceiling", Level::kOpen, Level::kStaged, "policy", "bio: tier high", "{}"};
  ASSERT_TRUE(store_->AddReleaseEvent(e, Store::ReleaseChange::kCeiling).ok());
  e = {0, "m1", 300, "refused", Level::kApi, Level::kOpen, "p1", "above the ceiling", "{}"};
  ASSERT_TRUE(store_->AddReleaseEvent(e, Store::ReleaseChange::kNone).ok());
  Model m = **store_->FindModel("m1");
  EXPECT_EQ(m.public_level, Level::kApi);
  EXPECT_EQ(m.level_since, 100);
  EXPECT_EQ(m.ceiling, Level::kStaged);
  EXPECT_EQ(m.ceiling_reason, "bio: tier high");
  auto history = *store_->ListReleaseEvents("m1");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].kind, "changed");
  EXPECT_EQ(history[2].to, Level::kOpen);
  EXPECT_LT(history[0].id, history[1].id);
  // An unknown model changes nothing.
  e.model_id = "nope";
  EXPECT_TRUE(absl::IsNotFound(store_->AddReleaseEvent(e, Store::ReleaseChange::kPublicLevel)));
  EXPECT_TRUE(absl::IsNotFound(store_->AddReleaseEvent(e, Store::ReleaseChange::kNone)));
  EXPECT_EQ(store_->ListReleaseEvents("nope")->size(), 0u);
}

TEST_F(SqliteStoreTest, EvalRunsKeepEachItemOnceAndFinishOnce) {
  EvalRun run;
  run.id = "r1";
  run.model_id = "m1";
  run.suite_name = "arith";
  run.total_items = 3;
  run.started_by = "p1";
  run.created_at = 5;
  ASSERT_TRUE(store_->CreateEvalRun(run).ok());
  ASSERT_TRUE(store_->AddEvalItems("r1", {{0, "{\"index\":0}"}, {1, "{\"index\":1}"}}).ok());
  // A batch repeating an index adds nothing at all.
  EXPECT_TRUE(absl::IsAlreadyExists(store_->AddEvalItems("r1", {{2, "{}"}, {1, "{}"}})));
  EXPECT_EQ((*store_->FindEvalRun("r1"))->done_items, 2);
  ASSERT_TRUE(store_->AddEvalItems("r1", {{2, "{\"index\":2}"}}).ok());
  auto items = *store_->ListEvalItems("r1");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[2].second, "{\"index\":2}");

  run.state = EvalRunState::kFinished;
  run.metrics = "{\"acc\":0.5}";
  run.finished_at = 9;
  ASSERT_TRUE(store_->FinishEvalRun(run).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->FinishEvalRun(run)));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->AddEvalItems("r1", {{3, "{}"}})));
  EvalRun stored = **store_->FindEvalRun("r1");
  EXPECT_EQ(stored.state, EvalRunState::kFinished);
  EXPECT_EQ(stored.metrics, "{\"acc\":0.5}");
  EXPECT_EQ(stored.done_items, 3);
  EXPECT_EQ(store_->ListEvalRuns("m1")->size(), 1u);
  EXPECT_EQ(store_->ListEvalRuns("other")->size(), 0u);
  run.id = "r2";
  run.model_id = "nope";
  EXPECT_TRUE(absl::IsNotFound(store_->CreateEvalRun(run)));
}

TEST_F(SqliteStoreTest, ThePolicyInForceIsTheLatestSaved) {
  EXPECT_FALSE(store_->CurrentPolicy()->has_value());
  ASSERT_TRUE(store_->SavePolicy({0, "/a/policy.toml", "aa", "x = 1", 5}).ok());
  ASSERT_TRUE(store_->SavePolicy({0, "/b/policy.toml", "bb", "x = 2", 6}).ok());
  store_.reset();
  store_ = Open();
  auto p = *store_->CurrentPolicy();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->source, "/b/policy.toml");
  EXPECT_EQ(p->text, "x = 2");
}

}  // namespace
// The request path's reads come from the access cache: a write through the
// same store shows at once, one by another connection (another process)
// within the recheck interval.
TEST_F(SqliteStoreTest, CachedReadsFollowEveryWrite) {
  const std::string hash(32, '\x07');
  ASSERT_TRUE(store_->CreateApiKey({"k7", "p1", hash, 5, 0, 0, 0}).ok());
  ASSERT_TRUE(store_->CreateGrant({"g1", "p1", "m1", Level::kApi, 0, "r", "cli", 1, 0}).ok());
  // Fill the cache.
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 50))->id, "g1");
  EXPECT_EQ((*store_->FindModel("m1"))->public_level, Level::kHosted);
  EXPECT_EQ((*store_->FindPrincipal("p1"))->role, Role::kMember);

  // Written here: seen by the next read.
  ASSERT_TRUE(store_->RevokeApiKey("k7", 60).ok());
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 60);
  ASSERT_TRUE(store_->RevokeGrant("g1", 61).ok());
  EXPECT_FALSE(store_->FindActiveGrant("p1", "m1", 62)->has_value());
  ASSERT_TRUE(store_->CreateModel({"m2", "/y.gguf", Level::kApi, "[]", 11}).ok());
  EXPECT_EQ(store_->ListModels()->size(), 2u);
  EXPECT_TRUE(store_->FindModel("m2")->has_value());

  // Written by another connection: seen after the recheck interval.
  auto other = Open();
  ASSERT_TRUE(other->CreateGrant({"g2", "p1", "m1", Level::kResearch, 0, "r", "cli", 3, 0}).ok());
  ASSERT_TRUE(other->CreateApiKey({"k8", "p1", std::string(32, '\x08'), 5, 0, 0, 0}).ok());
  ASSERT_TRUE(other->RevokeApiKey("k8", 70).ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  ASSERT_TRUE(store_->FindActiveGrant("p1", "m1", 63)->has_value());
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 63))->id, "g2");
  EXPECT_EQ((*store_->FindApiKeyByHash(std::string(32, '\x08')))->revoked_at, 70);
}

// Commits that are not store writes (the transparency log's, which share the
// file, every few milliseconds under load) leave the cache as it is.
TEST_F(SqliteStoreTest, OnlyStoreWritesEmptyTheCache) {
  const std::string hash(32, '\x09');
  ASSERT_TRUE(store_->CreateApiKey({"k9", "p1", hash, 5, 0, 0, 0}).ok());
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // cached

  // A commit to the file that is not a store write.
  auto raw = SqliteDb::Open((dir_ / "db").string(), /*create=*/false);
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_TRUE((*raw)->Exec("UPDATE api_keys SET revoked_at = 99 WHERE id = 'k9'").ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // still the cached row
  // Nor do key-use times, written every second.
  ASSERT_TRUE(store_->TouchApiKeys({{"k9", 100}}).ok());
  ASSERT_TRUE(Open()->TouchApiKeys({{"k9", 101}}).ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);

  // A store write by another process: the cache empties at the next check.
  ASSERT_TRUE(Open()->CreatePrincipal({"p2", "bob", Role::kMember, 11}).ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 99);
}

TEST(AccessCacheTest, AReadBegunBeforeAnInvalidationDoesNotFillIt) {
  AccessCache cache;
  const uint64_t before = cache.Generation();
  cache.Invalidate();
  cache.PutKeyByHash(before, "h", ApiKey{"k1", "p1", "h", 5, 0, 0, 0});
  cache.PutPrincipal(before, Principal{"p1", "alice", Role::kMember, 10});
  cache.PutModels(before, {});
  cache.PutActiveGrant(before, "p1", "m1", std::nullopt);
  EXPECT_FALSE(cache.KeyByHash("h"));
  EXPECT_FALSE(cache.FindPrincipal("p1"));
  EXPECT_FALSE(cache.Models());
  EXPECT_FALSE(cache.ActiveGrant("p1", "m1", 0));

  const uint64_t now = cache.Generation();
  cache.PutKeyByHash(now, "h", ApiKey{"k1", "p1", "h", 5, 0, 0, 0});
  cache.PutActiveGrant(now, "p1", "m1", std::nullopt);
  EXPECT_EQ(cache.KeyByHash("h")->id, "k1");
  ASSERT_TRUE(cache.ActiveGrant("p1", "m1", 0));
  EXPECT_FALSE(cache.ActiveGrant("p1", "m1", 0)->has_value());  // "no grant" is an answer too
  EXPECT_FALSE(cache.FindModel("m1"));                          // no list cached: ask the store
}

TEST(AccessCacheTest, ATableStaysBounded) {
  AccessCache cache;
  const uint64_t g = cache.Generation();
  for (size_t i = 0; i <= AccessCache::kMaxEntries; ++i) {
    const std::string hash = "h" + std::to_string(i);
    cache.PutKeyByHash(g, hash, ApiKey{"k", "p1", hash, 5, 0, 0, 0});
  }
  // The table emptied when full, then took the last one.
  EXPECT_FALSE(cache.KeyByHash("h0"));
  EXPECT_TRUE(cache.KeyByHash("h" + std::to_string(AccessCache::kMaxEntries)));
}

}  // namespace aperture::store
