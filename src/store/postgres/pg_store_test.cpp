// What only the PostgreSQL store does: replicas' writes reach the access
// cache through LISTEN/NOTIFY, a store that lost its listener serves no
// cached row, connections the server dropped are replaced, migrations run
// once when replicas start together. (The Store contract itself is tested on
// every backend in store/store_test.cpp.)
#include "store/postgres/pg_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/postgres/pg_log_store.h"
#include "store/testing/postgres_cluster.h"

namespace aperture::store {
namespace {

using testing::PostgresCluster;

template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = PostgresCluster::Shared();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    auto url = (*cluster)->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(Eventually([&] { return store_->listening(); }));
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "alice", Role::kMember, 10}).ok());
  }
  std::unique_ptr<PgStore> Open() {
    auto s = PgStore::Open(url_, true);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // A statement run behind the store's back (no NOTIFY).
  void Sql(const std::string& sql) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  std::string url_;
  std::unique_ptr<PgStore> store_;
};

// Mirrors the SQLite store's OnlyStoreWritesEmptyTheCache: the cache follows
// store writes of any replica (their NOTIFY), not other commits.
TEST_F(PgStoreTest, OnlyStoreWritesEmptyTheCache) {
  const std::string hash(32, '\x09');
  ASSERT_TRUE(store_->CreateApiKey({"k9", "p1", hash, 5, 0, 0, 0}).ok());
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // cached

  Sql("UPDATE api_keys SET revoked_at = 99 WHERE id = 'k9'");   // not a store write: no NOTIFY
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // still the cached row
  auto other = Open();
  ASSERT_TRUE(other->TouchApiKeys({{"k9", 101}}).ok());  // key-use times do not notify
  ASSERT_TRUE(other->AddUsage({{"p1", "m", "2026-11-23", 1, 1, 1}}).ok());
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);

  // A store write by another replica: its NOTIFY empties this cache.
  ASSERT_TRUE(other->CreatePrincipal({"p2", "bob", Role::kMember, 11}).ok());
  EXPECT_TRUE(Eventually([&] { return (*store_->FindApiKeyByHash(hash))->revoked_at == 99; }));
}

// A key revoked through one replica is refused by another as soon as the
// notification arrives (the bound here is generous; it takes milliseconds).
TEST_F(PgStoreTest, ARevocationOnOneReplicaReachesAnother) {
  auto b = Open();
  ASSERT_TRUE(Eventually([&] { return b->listening(); }));
  const std::string hash(32, '\x05');
  ASSERT_TRUE(store_->CreateApiKey({"k5", "p1", hash, 5, 0, 0, 0}).ok());
  ASSERT_TRUE(Eventually([&] { return b->FindApiKeyByHash(hash)->has_value(); }));
  EXPECT_EQ((*b->FindApiKeyByHash(hash))->revoked_at, 0);  // now cached on b
  ASSERT_TRUE(store_->RevokeApiKey("k5", 77).ok());
  EXPECT_TRUE(Eventually([&] { return (*b->FindApiKeyByHash(hash))->revoked_at == 77; }));
}

// When the listener's connection is cut, nothing cached is served: a change
// made meanwhile (whose notification nobody heard) is read at once.
TEST_F(PgStoreTest, AStoreThatLostItsListenerServesNoCachedRow) {
  const std::string hash(32, '\x06');
  ASSERT_TRUE(store_->CreateApiKey({"k6", "p1", hash, 5, 0, 0, 0}).ok());
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // cached
  Sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> "
      "pg_backend_pid()");
  Sql("UPDATE api_keys SET revoked_at = 55 WHERE id = 'k6'");  // unheard
  // Whether the listener is still down (no cache) or back (cache emptied at
  // reconnect), the row read is the new one: at once once it noticed.
  EXPECT_TRUE(Eventually([&] { return !store_->listening() || (*store_->FindApiKeyByHash(hash))->revoked_at == 55; }));
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 55);
  EXPECT_TRUE(Eventually([&] { return store_->listening(); }));  // and it reconnects
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 55);
}

TEST_F(PgStoreTest, ConnectionsTheServerDroppedAreReplaced) {
  EXPECT_TRUE(store_->FindPrincipal("p1")->has_value());
  ASSERT_TRUE(store_->CreatePrincipal({"p3", "carol", Role::kMember, 12}).ok());
  Sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'aperture%'");
  auto listed = store_->ListPrincipals();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_TRUE(store_->CreatePrincipal({"p4", "dave", Role::kMember, 13}).ok());
}

TEST_F(PgStoreTest, ReplicasStartingTogetherMigrateOnce) {
  auto cluster = PostgresCluster::Shared();
  auto url = (*cluster)->CreateDatabase();
  ASSERT_TRUE(url.ok());
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      if (i % 2) {
        auto s = PgLogStore::Open(*url, true);
        results[i] = s.status();
      } else {
        auto s = PgStore::Open(*url, true);
        results[i] = s.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  pqxx::connection c(*url);
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<int>(),
            tx.exec("SELECT max(version) FROM schema_migrations")[0][0].as<int>());
}

TEST(PgStoreOpenTest, ClearErrors) {
  auto cluster = PostgresCluster::Shared();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto missing = PgStore::Open((*cluster)->Url("no_such_database"), true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("no_such_database"), std::string::npos) << missing.status();
  auto unreachable = PgStore::Open("postgresql://aperture@/x?host=/nonexistent-dir", true);
  ASSERT_FALSE(unreachable.ok());
  EXPECT_EQ(unreachable.status().code(), absl::StatusCode::kUnavailable) << unreachable.status();
}

}  // namespace
}  // namespace aperture::store
