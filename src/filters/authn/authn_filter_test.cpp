#include "filters/authn/authn_filter.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/random.h"
#include "store/sqlite/sqlite_store.h"

namespace aperture {
namespace {

class NullRecorder final : public Recorder {
 public:
  void Record(LogEvent) override {}
  absl::Status RecordDurably(LogEvent) override { return absl::OkStatus(); }
  void Flush() override {}
};

class AuthnFilterTest : public ::testing::Test {
 protected:
  static std::unique_ptr<store::SqliteStore> OpenStore(const std::filesystem::path& dir) {
    InitCrypto();
    std::filesystem::create_directories(dir);
    return *store::SqliteStore::Open((dir / "db").string(), /*create=*/true);
  }
  void SetUp() override {
    ASSERT_TRUE(store_->CreatePrincipal({"prn_ada", "ada", Role::kMember, 0}).ok());
    key_ = GenerateApiKey();
    ASSERT_TRUE(store_->CreateApiKey({"key_ada", "prn_ada", hasher_.Hash(key_), 0, 0, 0, 0}).ok());
    auto started = sessions_.SignIn(key_, "a");
    ASSERT_TRUE(started.ok()) << started.status();
    session_ = *started;
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Runs the filter on one request; the context is kept for inspection.
  std::optional<http::Response> Run(const std::string& method, std::vector<std::pair<std::string, std::string>> headers,
                                    Credentials credentials = Credentials::kAny) {
    request_ = http::Request{};
    request_.method = method;
    request_.path = "/v1/x";
    request_.headers = std::move(headers);
    request_.remote_address = "127.0.0.1";
    route_.credentials = credentials;
    ctx_ = std::make_unique<RequestContext>(request_);
    ctx_->route = &route_;
    return filter_.Apply(*ctx_);
  }
  std::string Cookie() const { return "theme=dark; aperture_session=" + session_.secret; }
  static std::optional<std::string> HeaderOf(const http::Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }

  std::filesystem::path dir_ = std::filesystem::temp_directory_path() / ("aperture-authn-" + NewId("t"));
  std::unique_ptr<store::SqliteStore> store_ = OpenStore(dir_);
  NullRecorder recorder_;
  ApiKeyHasher hasher_{std::string(32, 'k')};
  FakeClock clock_;
  KeyUsage usage_;
  Config config_ = DefaultConfig();
  Authenticator keys_{*store_, hasher_, clock_, usage_};
  SessionService sessions_{*store_, recorder_, hasher_, keys_, config_, clock_};
  AuthnFilter filter_{keys_, sessions_};
  std::string key_;
  StartedSession session_;
  http::Request request_;
  Route route_;
  std::unique_ptr<RequestContext> ctx_;
};

TEST_F(AuthnFilterTest, ACookieStandsForTheKeyOnReads) {
  EXPECT_EQ(Run("GET", {{"cookie", Cookie()}}), std::nullopt);
  ASSERT_FALSE(ctx_->caller.anonymous());
  EXPECT_EQ(ctx_->caller.principal->id, "prn_ada");
  EXPECT_EQ(ctx_->caller.session_id, session_.session.id);
}

TEST_F(AuthnFilterTest, StateChangingCookieCallsNeedTheCsrfToken) {
  for (const char* method : {"POST", "DELETE", "PUT", "PATCH"}) {
    auto refused = Run(method, {{"cookie", Cookie()}});
    ASSERT_TRUE(refused.has_value()) << method;
    EXPECT_EQ(refused->status, 403);
    EXPECT_NE(refused->body.find("csrf_token"), std::string::npos);
    EXPECT_EQ(ctx_->outcome, "deny");
    auto wrong = Run(method, {{"cookie", Cookie()}, {"x-csrf-token", std::string(64, '0')}});
    ASSERT_TRUE(wrong.has_value());
    EXPECT_EQ(wrong->status, 403);
    EXPECT_EQ(Run(method, {{"cookie", Cookie()}, {"x-csrf-token", session_.csrf_token}}), std::nullopt);
    EXPECT_EQ(ctx_->caller.principal->id, "prn_ada");
  }
}

TEST_F(AuthnFilterTest, BearerKeysNeedNoTokenAndWinOverACookie) {
  EXPECT_EQ(Run("POST", {{"authorization", "Bearer " + key_}}), std::nullopt);
  EXPECT_TRUE(ctx_->caller.session_id.empty());
  EXPECT_EQ(Run("POST", {{"authorization", "Bearer " + key_}, {"cookie", Cookie()}}), std::nullopt);
  EXPECT_TRUE(ctx_->caller.session_id.empty());
}

TEST_F(AuthnFilterTest, AnEndedOrExpiredSessionIsA401ThatClearsTheCookie) {
  auto caller = sessions_.Authenticate(session_.secret, "a");
  ASSERT_TRUE(caller.ok());
  ASSERT_TRUE(sessions_.SignOut(*caller).ok());
  auto ended = Run("GET", {{"cookie", Cookie()}});
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->status, 401);
  EXPECT_EQ(ctx_->reason, "session_ended");
  EXPECT_EQ(HeaderOf(*ended, "Set-Cookie"), sessions_.ClearingCookie());

  auto fresh = sessions_.SignIn(key_, "a");
  ASSERT_TRUE(fresh.ok());
  session_ = *fresh;
  clock_.AdvanceSeconds(config_.sessions.ttl_seconds);
  auto expired = Run("GET", {{"cookie", Cookie()}});
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->status, 401);
  EXPECT_EQ(ctx_->reason, "session_expired");
}

TEST_F(AuthnFilterTest, RoutesChooseWhichCredentialsCount) {
  // Static content: no caller, whatever is sent.
  EXPECT_EQ(Run("GET", {{"cookie", "aperture_session=bad"}, {"authorization", "Bearer bad"}}, Credentials::kNone),
            std::nullopt);
  EXPECT_TRUE(ctx_->caller.anonymous());
  // Signing in: the cookie is ignored, so a stale one cannot stop it.
  EXPECT_EQ(Run("POST", {{"cookie", "aperture_session=bad"}}, Credentials::kKeyOnly), std::nullopt);
  EXPECT_TRUE(ctx_->caller.anonymous());
  auto bad = Run("GET", {{"cookie", "aperture_session=bad"}});
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(ctx_->reason, "malformed_session");
  // No credentials at all: anonymous.
  EXPECT_EQ(Run("POST", {{"cookie", "theme=dark"}}), std::nullopt);
  EXPECT_TRUE(ctx_->caller.anonymous());
}

}  // namespace
}  // namespace aperture
