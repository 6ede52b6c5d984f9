#include "access/session_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "core/hex.h"
#include "core/random.h"
#include "store/sqlite/sqlite_store.h"

namespace aperture {
namespace {

class ListRecorder final : public Recorder {
 public:
  void Record(LogEvent e) override { events.push_back(std::move(e)); }
  absl::Status RecordDurably(LogEvent e) override {
    events.push_back(std::move(e));
    return absl::OkStatus();
  }
  void Flush() override {}
  std::vector<LogEvent> events;
};

class SessionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitCrypto();
    dir_ = std::filesystem::temp_directory_path() / ("aperture-sessions-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    auto store = store::SqliteStore::Open((dir_ / "db").string(), /*create=*/true);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreatePrincipal({"prn_ada", "ada", Role::kMember, 0}).ok());
    key_ = AddKey("key_ada", 0);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string AddKey(const std::string& id, int64_t expires_at) {
    std::string key = GenerateApiKey();
    EXPECT_TRUE(store_->CreateApiKey({id, "prn_ada", hasher_.Hash(key), 0, expires_at, 0, 0}).ok());
    return key;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
  ListRecorder recorder_;
  ApiKeyHasher hasher_{std::string(32, 'h')};
  FakeClock clock_;
  KeyUsage usage_;
  Config config_ = DefaultConfig();
  std::string key_;
  Authenticator keys() { return Authenticator(*store_, hasher_, clock_, usage_); }
};

TEST_F(SessionServiceTest, SignInStoresOnlyAHashAndTheCookieStandsForTheKey) {
  Authenticator auth = keys();
  SessionService sessions(*store_, recorder_, hasher_, auth, config_, clock_);
  auto started = sessions.SignIn(key_, "127.0.0.1");
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_TRUE(IsSessionSecret(started->secret));
  EXPECT_EQ(started->principal.id, "prn_ada");
  EXPECT_EQ(started->session.expires_at, clock_.NowSeconds() + 12 * 3600);
  // The stored row holds the keyed hash, never the secret.
  auto row = store_->FindSessionByHash(started->session.hash);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_NE((*row)->hash, started->secret);
  EXPECT_EQ((*row)->hash.size(), 32u);
  EXPECT_EQ((*row)->hash.find(started->secret), std::string::npos);
  auto caller = sessions.Authenticate(started->secret, "127.0.0.1");
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->principal->id, "prn_ada");
  EXPECT_EQ(caller->key_id, "key_ada");
  EXPECT_EQ(caller->session_id, started->session.id);
  ASSERT_EQ(recorder_.events.size(), 1u);
  EXPECT_EQ(recorder_.events[0].type, "session.started");
  EXPECT_EQ(recorder_.events[0].details.find(started->secret), std::string::npos);
}

TEST_F(SessionServiceTest, TheCookieIsHttpOnlyStrictAndExpires) {
  Authenticator auth = keys();
  SessionService sessions(*store_, recorder_, hasher_, auth, config_, clock_);
  auto started = sessions.SignIn(key_, "a");
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(sessions.Cookie(*started),
            "aperture_session=" + started->secret + "; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict");
  EXPECT_EQ(sessions.ClearingCookie(), "aperture_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  config_.sessions.secure_cookie = true;
  EXPECT_NE(sessions.Cookie(*started).find("; Secure"), std::string::npos);
}

TEST_F(SessionServiceTest, BadKeysStartNothing) {
  Authenticator auth = keys();
  SessionService sessions(*store_, recorder_, hasher_, auth, config_, clock_);
  for (const std::string& bad : {std::string(""), std::string("ak_short"), GenerateApiKey()}) {
    auto started = sessions.SignIn(bad, "a");
    ASSERT_FALSE(started.ok()) << bad;
    EXPECT_TRUE(absl::IsUnauthenticated(started.status()));
  }
  EXPECT_TRUE(recorder_.events.empty());
}

TEST_F(SessionServiceTest, RefusedWhenMalformedUnknownExpiredEndedOrTheKeyIsRevoked) {
  Authenticator auth = keys();
  SessionService sessions(*store_, recorder_, hasher_, auth, config_, clock_);
  auto reason = [&](std::string_view secret) {
    auto c = sessions.Authenticate(secret, "a");
    return c.ok() ? std::string("ok") : AuthFailureReason(c.status());
  };
  EXPECT_EQ(reason("nothex"), "malformed_session");
  EXPECT_EQ(reason(std::string(64, 'A')), "malformed_session");
  EXPECT_EQ(reason(HexEncode(RandomBytes(32))), "unknown_session");

  auto expiring = sessions.SignIn(key_, "a");
  ASSERT_TRUE(expiring.ok());
  clock_.AdvanceSeconds(12 * 3600 - 1);
  EXPECT_EQ(reason(expiring->secret), "ok");
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(reason(expiring->secret), "session_expired");

  auto ended = sessions.SignIn(key_, "a");
  ASSERT_TRUE(ended.ok());
  auto caller = sessions.Authenticate(ended->secret, "a");
  ASSERT_TRUE(caller.ok());
  ASSERT_TRUE(sessions.SignOut(*caller).ok());
  EXPECT_EQ(reason(ended->secret), "session_ended");
  EXPECT_EQ(recorder_.events.back().type, "session.ended");
  EXPECT_FALSE(sessions.SignOut(*caller).ok());  // already ended
  Caller bearer = *caller;
  bearer.session_id.clear();
  EXPECT_TRUE(absl::IsFailedPrecondition(sessions.SignOut(bearer)));

  auto revoked = sessions.SignIn(key_, "a");
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(store_->RevokeApiKey("key_ada", clock_.NowSeconds()).ok());
  EXPECT_EQ(reason(revoked->secret), "revoked_key");
}

TEST_F(SessionServiceTest, ASessionNeverOutlivesItsKey) {
  std::string short_key = AddKey("key_short", clock_.NowSeconds() + 60);
  Authenticator auth = keys();
  SessionService sessions(*store_, recorder_, hasher_, auth, config_, clock_);
  auto started = sessions.SignIn(short_key, "a");
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(started->session.expires_at, clock_.NowSeconds() + 60);
  EXPECT_NE(sessions.Cookie(*started).find("Max-Age=60;"), std::string::npos);
  clock_.AdvanceSeconds(60);
  auto c = sessions.Authenticate(started->secret, "a");
  ASSERT_FALSE(c.ok());
}

TEST_F(SessionServiceTest, TheCsrfTokenIsTheSessionsOwn) {
  Authenticator auth = keys();
  SessionService sessions(*store_, recorder_, hasher_, auth, config_, clock_);
  auto a = sessions.SignIn(key_, "a");
  auto b = sessions.SignIn(key_, "a");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->csrf_token, sessions.CsrfToken(a->secret));
  EXPECT_EQ(a->csrf_token.size(), 64u);
  EXPECT_NE(a->csrf_token, a->secret);
  EXPECT_TRUE(sessions.CsrfTokenMatches(a->secret, a->csrf_token));
  EXPECT_FALSE(sessions.CsrfTokenMatches(a->secret, b->csrf_token));
  EXPECT_FALSE(sessions.CsrfTokenMatches(a->secret, std::nullopt));
  EXPECT_FALSE(sessions.CsrfTokenMatches(a->secret, ""));
  EXPECT_FALSE(sessions.CsrfTokenMatches(a->secret, a->csrf_token.substr(1)));
}

}  // namespace
}  // namespace aperture
