// The Store contract, tested on every backend (SQLite and PostgreSQL): the
// same suite runs on each (store/testing/test_stores.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "aperture/store.h"
#include "store/testing/test_stores.h"

namespace aperture::store {
namespace {

using testing::Backend;
using testing::TestDatabase;

// Polls `done` until it holds, for at most 10 s (a bound, not a timing).
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto db = TestDatabase::Create(GetParam());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "alice", Role::kMember, 10}).ok());
    ASSERT_TRUE(store_->CreateModel({"m1", "/x.gguf", Level::kHosted, "[]", 10}).ok());
  }
  // Another store on the same database, as another process opens it.
  std::unique_ptr<Store> Open() {
    auto s = db_->OpenStore();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, PrincipalsAreUniqueByName) {
  auto s = store_->CreatePrincipal({"p2", "alice", Role::kOwner, 11});
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ((*store_->FindPrincipalByName("alice"))->id, "p1");
  EXPECT_FALSE(store_->FindPrincipal("nobody")->has_value());
  EXPECT_EQ(store_->ListPrincipals()->size(), 1u);
}

TEST_P(StoreTest, KeysByHashRevokeAndTouch) {
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

TEST_P(StoreTest, ActiveGrantIsHighestUnexpiredUnrevoked) {
  ASSERT_TRUE(store_->CreateGrant({"g1", "p1", "m1", Level::kApi, 0, "r", "cli", 1, 0}).ok());
  ASSERT_TRUE(store_->CreateGrant({"g2", "p1", "m1", Level::kResearch, 100, "r", "cli", 2, 0}).ok());
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 50))->id, "g2");
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 100))->id, "g1");  // g2 expired
  ASSERT_TRUE(store_->RevokeGrant("g1", 60).ok());
  EXPECT_FALSE(store_->FindActiveGrant("p1", "m1", 100)->has_value());
  EXPECT_EQ(store_->ListGrants("p1", "")->size(), 2u);
  EXPECT_FALSE(store_->CreateGrant({"g3", "p1", "nomodel", Level::kApi, 0, "r", "cli", 1, 0}).ok());
}

TEST_P(StoreTest, AGrantKeepsItsResearchScope) {
  ASSERT_TRUE(
      store_->CreateGrant({"g1", "p1", "m1", Level::kResearch, 0, "r", "cli", 1, 0, R"({"research_max_tokens":5})"})
          .ok());
  ASSERT_TRUE(store_->CreateGrant({"g2", "p1", "m1", Level::kApi, 0, "r", "cli", 1, 0}).ok());
  EXPECT_EQ((*store_->FindGrant("g1"))->scope, R"({"research_max_tokens":5})");
  EXPECT_EQ((*store_->FindGrant("g2"))->scope, "{}");
  EXPECT_EQ((*store_->FindActiveGrant("p1", "m1", 10))->scope, R"({"research_max_tokens":5})");
}

TEST_P(StoreTest, OnePendingRequestAndAtomicApproval) {
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

TEST_P(StoreTest, ReopenKeepsEverythingAndMigratesOnce) {
  store_.reset();
  store_ = Open();
  EXPECT_TRUE((*store_->FindPrincipalByName("alice")).has_value());
  EXPECT_TRUE((*store_->FindModel("m1")).has_value());
}

TEST_P(StoreTest, ListsWithoutAFilterReturnEverything) {
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
TEST_P(StoreTest, UsageAddsUpPerPrincipalModelAndDay) {
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

TEST_P(StoreTest, ModelSystemPrompt) {
  ASSERT_TRUE(store_->SetModelSystemPrompt("m1", "Be kind.").ok());
  EXPECT_EQ((*store_->FindModel("m1"))->system_prompt, "Be kind.");
  EXPECT_TRUE(absl::IsNotFound(store_->SetModelSystemPrompt("nope", "x")));
}

TEST_P(StoreTest, ModelCardsReplaceTheEarlierCard) {
  EXPECT_FALSE(store_->FindModelCard("m1")->has_value());
  ASSERT_TRUE(store_->SetModelCard({"m1", "# One", 20, "p1"}).ok());
  ASSERT_TRUE(store_->SetModelCard({"m1", "# Two\n\nü", 21, "cli"}).ok());
  auto card = store_->FindModelCard("m1");
  ASSERT_TRUE(card.ok() && card->has_value()) << card.status();
  EXPECT_EQ((*card)->markdown, "# Two\n\nü");
  EXPECT_EQ((*card)->updated_at, 21);
  EXPECT_EQ((*card)->updated_by, "cli");
  EXPECT_TRUE(absl::IsNotFound(store_->SetModelCard({"nope", "x", 1, "p1"})));
}

TEST_P(StoreTest, SessionsAreFoundByHashEndOnceAndExpiredOnesArePruned) {
  ASSERT_TRUE(store_->CreateApiKey({"k1", "p1", std::string(32, '\x01'), 5, 0, 0, 0}).ok());
  const std::string hash_a(32, '\x00'), hash_b = std::string(31, '\xff') + '\x07';
  ASSERT_TRUE(store_->CreateSession({"ses_a", hash_a, "p1", "k1", 10, 100, 0}, /*prune_before=*/10).ok());
  auto a = store_->FindSessionByHash(hash_a);
  ASSERT_TRUE(a.ok() && a->has_value()) << a.status();
  EXPECT_EQ((*a)->id, "ses_a");
  EXPECT_EQ((*a)->hash, hash_a);  // bytes kept exactly, zeros included
  EXPECT_EQ((*a)->key_id, "k1");
  EXPECT_EQ((*a)->expires_at, 100);
  EXPECT_FALSE(store_->FindSessionByHash(hash_b)->has_value());

  ASSERT_TRUE(store_->EndSession("ses_a", 50).ok());
  EXPECT_EQ((*store_->FindSessionByHash(hash_a))->ended_at, 50);
  EXPECT_TRUE(absl::IsNotFound(store_->EndSession("ses_a", 60)));  // already ended
  EXPECT_TRUE(absl::IsNotFound(store_->EndSession("ses_none", 60)));

  // A new sign-in after ses_a's expiry prunes it.
  ASSERT_TRUE(store_->CreateSession({"ses_b", hash_b, "p1", "k1", 200, 300, 0}, /*prune_before=*/200).ok());
  EXPECT_FALSE(store_->FindSessionByHash(hash_a)->has_value());
  EXPECT_TRUE(store_->FindSessionByHash(hash_b)->has_value());
  // The same secret's hash cannot stand for two sessions.
  EXPECT_FALSE(store_->CreateSession({"ses_c", hash_b, "p1", "k1", 201, 300, 0}, 200).ok());
}

TEST_P(StoreTest, ReleaseEventsChangeTheLevelOrTheCeilingAtomically) {
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

TEST_P(StoreTest, EvalRunsKeepEachItemOnceAndFinishOnce) {
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

TEST_P(StoreTest, ThePolicyInForceIsTheLatestSaved) {
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

// The request path's reads come from the access cache: a write through the
// same store shows at once, one by another connection (another process,
// another replica) soon after (SQLite: within the recheck interval;
// PostgreSQL: when the NOTIFY arrives). The wait is bounded, not timed.
TEST_P(StoreTest, CachedReadsFollowEveryWrite) {
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

  // Written by another connection: seen soon after.
  auto other = Open();
  ASSERT_TRUE(other->CreateGrant({"g2", "p1", "m1", Level::kResearch, 0, "r", "cli", 3, 0}).ok());
  ASSERT_TRUE(other->CreateApiKey({"k8", "p1", std::string(32, '\x08'), 5, 0, 0, 0}).ok());
  ASSERT_TRUE(other->RevokeApiKey("k8", 70).ok());
  EXPECT_TRUE(Eventually([&] {
    auto grant = store_->FindActiveGrant("p1", "m1", 63);
    return grant.ok() && grant->has_value() && (*grant)->id == "g2";
  }));
  EXPECT_TRUE(Eventually([&] {
    auto key = store_->FindApiKeyByHash(std::string(32, '\x08'));
    return key.ok() && key->has_value() && (*key)->revoked_at == 70;
  }));
}

TEST_P(StoreTest, ModelBackendsAreKeptPerModel) {
  ModelBackend b{"bk1", "m1", "http://gpu1:8000", "llama", 3, "GPU_KEY", "cli", 20};
  ASSERT_TRUE(store_->CreateModelBackend(b).ok());
  ModelBackend same_url = b;
  same_url.id = "bk2";
  EXPECT_TRUE(absl::IsAlreadyExists(store_->CreateModelBackend(same_url)));
  ModelBackend other{"bk3", "m1", "embedded", "", 1, "", "cli", 21};
  ASSERT_TRUE(store_->CreateModelBackend(other).ok());
  ModelBackend unknown{"bk4", "nope", "http://x:1", "", 1, "", "cli", 22};
  EXPECT_TRUE(absl::IsNotFound(store_->CreateModelBackend(unknown)));
  ModelBackend heavy{"bk5", "m1", "http://gpu2:8000", "", 1001, "", "cli", 23};
  EXPECT_FALSE(store_->CreateModelBackend(heavy).ok());

  auto listed = store_->ListModelBackends("m1");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, "bk1");
  EXPECT_EQ((*listed)[0].api_model, "llama");
  EXPECT_EQ((*listed)[0].weight, 3);
  EXPECT_EQ((*listed)[0].api_key_env, "GPU_KEY");
  EXPECT_EQ((*listed)[1].url, "embedded");
  EXPECT_EQ(store_->ListModelBackends("")->size(), 2u);
  EXPECT_EQ(store_->ListModelBackends("other")->size(), 0u);

  ASSERT_TRUE(store_->SetModelBackendWeight("bk1", 7).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(store_->SetModelBackendWeight("bk1", 0)));
  EXPECT_TRUE(absl::IsNotFound(store_->SetModelBackendWeight("nope", 2)));
  EXPECT_EQ((*store_->ListModelBackends("m1"))[0].weight, 7);
  ASSERT_TRUE(store_->DeleteModelBackend("bk1").ok());
  EXPECT_TRUE(absl::IsNotFound(store_->DeleteModelBackend("bk1")));
  EXPECT_EQ(store_->ListModelBackends("m1")->size(), 1u);
}

TEST_P(StoreTest, ModelDeclaredDigest) {
  Model remote{"m2", "", Level::kApi, "[]", 11};
  remote.declared_digest = "sha256:" + std::string(64, 'a');
  ASSERT_TRUE(store_->CreateModel(remote).ok());
  EXPECT_EQ((*store_->FindModel("m2"))->declared_digest, remote.declared_digest);
  ASSERT_TRUE(store_->SetModelDeclaredDigest("m1", "sha256:" + std::string(64, 'b')).ok());
  EXPECT_EQ((*store_->FindModel("m1"))->declared_digest, "sha256:" + std::string(64, 'b'));
  EXPECT_TRUE(absl::IsNotFound(store_->SetModelDeclaredDigest("nope", "")));
}

TEST_P(StoreTest, ReplicasAreSeenUntilTheyStopBeatingOrLeave) {
  ASSERT_TRUE(store_->SaveReplica({"r1", "10.0.0.1:8080", 100, 100}).ok());
  ASSERT_TRUE(store_->SaveReplica({"r2", "10.0.0.2:8080", 100, 105}).ok());
  ASSERT_TRUE(store_->SaveReplica({"r1", "10.0.0.1:8080", 100, 110}).ok());
  ASSERT_TRUE(store_->SaveReplica({"r1", "10.0.0.1:8080", 100, 90}).ok());  // a late, older beat changes nothing
  auto live = store_->ListReplicas(106);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "r1");
  EXPECT_EQ((*live)[0].seen_at, 110);
  EXPECT_EQ(store_->ListReplicas(0)->size(), 2u);
  ASSERT_TRUE(store_->RemoveReplica("r1").ok());
  ASSERT_TRUE(store_->RemoveReplica("r1").ok());  // already gone: fine
  EXPECT_EQ(store_->ListReplicas(0)->size(), 1u);
}

TEST_P(StoreTest, ASettingKeepsItsFirstValue) {
  EXPECT_EQ(*store_->KeepSetting("key_hash_check", "one"), "one");
  EXPECT_EQ(*store_->KeepSetting("key_hash_check", "two"), "one");
  EXPECT_EQ(*Open()->KeepSetting("key_hash_check", "three"), "one");
  EXPECT_TRUE(store_->Ping().ok());
}

// Many writers at once, on connections of their own: nothing lost, no
// write reported failed.
TEST_P(StoreTest, ConcurrentWritersFromTwoStores) {
  auto other = Open();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 ? *other : *store_;
      for (int i = 0; i < 25; ++i) {
        const std::string id = "p" + std::to_string(t) + "_" + std::to_string(i);
        if (!s.CreatePrincipal({id, id, Role::kMember, 20}).ok()) ++failures;
        if (!s.AddUsage({{"p1", "m1", "2026-11-23", 1, 1, 1}}).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->ListPrincipals()->size(), 101u);
  EXPECT_EQ((*store_->ListUsage("p1", "2026-11-23", "2026-11-23"))[0].requests, 100);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, testing::AllBackends(), testing::BackendName);

}  // namespace
}  // namespace aperture::store
