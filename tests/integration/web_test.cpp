// The web interface's server side over real HTTP: pages and their headers,
// the embedded files, browser sessions (cookie attributes, CSRF, sign-out,
// expiry on a fake clock, a revoked key), self-service keys, and the JSON
// the pages read (/v1/me, model cards, levels, when a denied requester may
// ask again).
#include <gtest/gtest.h>

#include "api/ui/ui_routes.h"
#include "api/ui/web_assets.h"
#include "fmt/format.h"
#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

constexpr char kSignInHeader[] = "X-Requested-With: aperture";

class WebTest : public ::testing::Test {
 protected:
  WebTest() {
    server_.AddModel("tiny", Level::kHosted);
    member_ = server_.AddPrincipal("ada", Role::kMember);
    member_key_ = server_.CreateKey("ada");
  }

  struct SignedIn {
    std::string secret;
    std::string csrf;
    std::string set_cookie;
  };
  SignedIn SignIn(const std::string& key) {
    auto r = server_.Call("POST", "/v1/session", fmt::format(R"({{"key":"{}"}})", key), "", {kSignInHeader});
    EXPECT_EQ(r.status, 201) << r.body;
    SignedIn s;
    s.set_cookie = r.Header("set-cookie").value_or("");
    const size_t eq = s.set_cookie.find('=');
    s.secret = s.set_cookie.substr(eq + 1, s.set_cookie.find(';') - eq - 1);
    s.csrf = ParseJson(r.body)->value("csrf_token", "");
    return s;
  }
  http::TestResponse WithCookie(const std::string& method, const std::string& target, const SignedIn& s,
                                const std::string& body = "", bool csrf = true) {
    std::vector<std::string> headers = {"Cookie: aperture_session=" + s.secret};
    if (csrf) headers.push_back("X-CSRF-Token: " + s.csrf);
    return server_.Call(method, target, body, "", headers);
  }

  TestServer server_;
  std::string member_;
  std::string member_key_;
};

TEST_F(WebTest, PagesAndFilesAreServedWithAStrictPolicy) {
  for (const char* page :
       {"/", "/models/tiny", "/models/tiny/chat", "/models/tiny/request", "/signin", "/me", "/console", "/log"}) {
    auto r = server_.Call("GET", page);
    ASSERT_EQ(r.status, 200) << page;
    EXPECT_EQ(r.Header("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(r.Header("content-security-policy"), kContentSecurityPolicy);
    EXPECT_EQ(r.Header("x-content-type-options"), "nosniff");
    EXPECT_EQ(r.Header("x-frame-options"), "DENY");
    // The shell points at this build's files, never at another origin.
    EXPECT_NE(r.body.find(fmt::format("/ui/{}/js/app.js", ui::WebAssetsVersion())), std::string::npos);
    EXPECT_EQ(r.body.find("{{BASE}}"), std::string::npos);
    EXPECT_EQ(r.body.find("http://"), std::string::npos);
    EXPECT_EQ(r.body.find("https://"), std::string::npos);
    EXPECT_EQ(r.body.find("<script>"), std::string::npos);  // no inline script
  }
  // No script may run inline, from elsewhere, or write HTML strings.
  const std::string csp = kContentSecurityPolicy;
  EXPECT_NE(csp.find("script-src 'self';"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe"), std::string::npos);
  EXPECT_NE(csp.find("require-trusted-types-for 'script'"), std::string::npos);

  int served = 0;
  for (const ui::WebAsset& asset : ui::WebAssets()) {
    if (asset.path == "/index.html") continue;
    auto r = server_.Call("GET", fmt::format("/ui/{}{}", ui::WebAssetsVersion(), asset.path));
    ASSERT_EQ(r.status, 200) << asset.path;
    EXPECT_EQ(r.body, asset.bytes) << asset.path;
    EXPECT_EQ(r.Header("content-type"), std::string(ContentTypeFor(asset.path)));
    EXPECT_EQ(r.Header("cache-control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(r.Header("content-security-policy"), kContentSecurityPolicy);
    ++served;
  }
  EXPECT_GE(served, 3);
  EXPECT_EQ(server_.Call("GET", "/ui/0000000000000000/js/app.js").status, 404);
}

TEST_F(WebTest, PagesLoadWhateverCookieOrKeyComesWithThem) {
  auto r = server_.Call("GET", "/", "", "ak_wrong", {"Cookie: aperture_session=stale"});
  EXPECT_EQ(r.status, 200);
}

TEST_F(WebTest, SignInSetsAnHttpOnlyStrictCookieHoldingARandomSecret) {
  SignedIn a = SignIn(member_key_);
  EXPECT_NE(a.set_cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(a.set_cookie.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(a.set_cookie.find("Path=/"), std::string::npos);
  EXPECT_NE(a.set_cookie.find("Max-Age=43200"), std::string::npos);
  EXPECT_EQ(a.secret.size(), 64u);
  EXPECT_EQ(a.set_cookie.find(member_key_), std::string::npos);  // never the key itself
  SignedIn b = SignIn(member_key_);
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.csrf, b.csrf);

  auto me = WithCookie("GET", "/v1/session", a);
  ASSERT_EQ(me.status, 200);
  Json session = *ParseJson(me.body);
  EXPECT_EQ(session["principal"]["name"], "ada");
  EXPECT_EQ(session["via"], "session");
  EXPECT_EQ(session["csrf_token"], a.csrf);
}

TEST_F(WebTest, SignInRefusesBadKeysAndCrossSiteForms) {
  auto no_header = server_.Call("POST", "/v1/session", fmt::format(R"({{"key":"{}"}})", member_key_));
  EXPECT_EQ(no_header.status, 403);
  EXPECT_FALSE(no_header.Header("set-cookie").has_value());
  auto bad = server_.Call("POST", "/v1/session", R"({"key":"ak_nope"})", "", {kSignInHeader});
  EXPECT_EQ(bad.status, 401);
  EXPECT_FALSE(bad.Header("set-cookie").has_value());
  auto missing = server_.Call("POST", "/v1/session", "{}", "", {kSignInHeader});
  EXPECT_EQ(missing.status, 400);
  // A stale cookie does not stop a new sign-in.
  auto again = server_.Call("POST", "/v1/session", fmt::format(R"({{"key":"{}"}})", member_key_), "",
                            {kSignInHeader, "Cookie: aperture_session=" + std::string(64, 'a')});
  EXPECT_EQ(again.status, 201);
}

TEST_F(WebTest, CookieCallsThatChangeStateNeedTheCsrfToken) {
  SignedIn s = SignIn(member_key_);
  const std::string body = R"({"model":"tiny","level":"api","justification":"study"})";
  auto refused = WithCookie("POST", "/v1/access-requests", s, body, /*csrf=*/false);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ((*ParseJson(refused.body))["error"]["code"], "csrf_token");
  auto wrong = server_.Call("POST", "/v1/access-requests", body, "",
                            {"Cookie: aperture_session=" + s.secret, "X-CSRF-Token: " + std::string(64, '0')});
  EXPECT_EQ(wrong.status, 403);
  // Nothing was created by the refused calls.
  auto mine = WithCookie("GET", "/v1/access-requests", s);
  EXPECT_EQ((*ParseJson(mine.body))["data"].size(), 0u);
  EXPECT_EQ(WithCookie("POST", "/v1/access-requests", s, body).status, 201);
  EXPECT_EQ(WithCookie("DELETE", "/v1/session", s, "", /*csrf=*/false).status, 403);
  // A bearer key needs no token.
  EXPECT_EQ(server_.Call("POST", "/v1/me/keys", "{}", member_key_).status, 201);
}

TEST_F(WebTest, SignOutEndsTheSessionAndClearsTheCookie) {
  SignedIn s = SignIn(member_key_);
  auto out = WithCookie("DELETE", "/v1/session", s);
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.Header("set-cookie").value_or("").find("Max-Age=0"), std::string::npos);
  auto after = WithCookie("GET", "/v1/me", s);
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ((*ParseJson(after.body))["error"]["code"], "session_ended");
  EXPECT_NE(after.Header("set-cookie").value_or("").find("Max-Age=0"), std::string::npos);
  // Signing out of a bearer key is not a thing.
  EXPECT_EQ(server_.Call("DELETE", "/v1/session", "", member_key_).status, 409);
}

TEST_F(WebTest, SessionsExpire) {
  SignedIn s = SignIn(member_key_);
  server_.clock().AdvanceSeconds(12 * 3600 - 1);
  EXPECT_EQ(WithCookie("GET", "/v1/me", s).status, 200);
  server_.clock().AdvanceSeconds(1);
  auto expired = WithCookie("GET", "/v1/me", s);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ((*ParseJson(expired.body))["error"]["code"], "session_expired");
}

TEST_F(WebTest, RevokingTheKeyEndsItsSessions) {
  SignedIn s = SignIn(member_key_);
  auto keys = WithCookie("GET", "/v1/me/keys", s);
  ASSERT_EQ(keys.status, 200);
  Json list = *ParseJson(keys.body);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["current"], true);
  const std::string id = list["data"][0]["id"];
  EXPECT_EQ(WithCookie("DELETE", "/v1/me/keys/" + id, s).status, 200);
  EXPECT_EQ(WithCookie("GET", "/v1/me", s).status, 401);
  EXPECT_EQ(server_.Call("GET", "/v1/me", "", member_key_).status, 401);
}

TEST_F(WebTest, PrincipalsManageOnlyTheirOwnKeys) {
  auto created = server_.Call("POST", "/v1/me/keys", R"({"expires_in":"30d"})", member_key_);
  ASSERT_EQ(created.status, 201) << created.body;
  Json key = *ParseJson(created.body);
  EXPECT_EQ(key["principal"], member_);
  const std::string new_key = key["key"];
  EXPECT_EQ(server_.Call("GET", "/v1/me", "", new_key).status, 200);
  // Listing shows no secret.
  auto list = server_.Call("GET", "/v1/me/keys", "", member_key_);
  EXPECT_EQ(list.body.find(new_key), std::string::npos);
  EXPECT_EQ((*ParseJson(list.body))["data"].size(), 2u);

  // Someone else's key is as good as missing, and the admin routes stay owner-only.
  server_.AddPrincipal("bob", Role::kMember);
  const std::string bob_key = server_.CreateKey("bob");
  auto bobs = server_.CallJson("GET", "/v1/me/keys", "", bob_key);
  const std::string bob_key_id = bobs["data"][0]["id"];
  EXPECT_EQ(server_.Call("DELETE", "/v1/me/keys/" + bob_key_id, "", member_key_).status, 404);
  EXPECT_EQ(server_.Call("GET", "/v1/me", "", bob_key).status, 200);
  EXPECT_EQ(server_.Call("DELETE", "/v1/admin/keys/" + bob_key_id, "", member_key_).status, 403);
  EXPECT_EQ(server_.Call("POST", "/v1/admin/keys", R"({"principal":"bob"})", member_key_).status, 403);
  EXPECT_EQ(server_.Call("GET", "/v1/me/keys").status, 401);
}

TEST_F(WebTest, MeSaysEachLevelAndWhy) {
  Json me = server_.CallJson("GET", "/v1/me", "", member_key_);
  ASSERT_EQ(me["models"].size(), 1u);
  EXPECT_EQ(me["models"][0]["level"], "hosted");
  EXPECT_NE(me["models"][0]["why"].get<std::string>().find("public level"), std::string::npos);
  server_.CallJson("POST", "/v1/admin/grants",
                   R"({"principal":"ada","model":"tiny","level":"api","expires_in":"30d","reason":"build"})",
                   server_.owner_key());
  me = server_.CallJson("GET", "/v1/me", "", member_key_);
  EXPECT_EQ(me["models"][0]["level"], "api");
  EXPECT_EQ(me["models"][0]["grant"]["level"], "api");
  EXPECT_NE(me["models"][0]["why"].get<std::string>().find("grant"), std::string::npos);
}

TEST_F(WebTest, ModelCardsArchitectureAndLevels) {
  Json card = server_.CallJson("GET", "/v1/models/tiny/card");
  EXPECT_TRUE(card["card"].is_null());
  EXPECT_EQ(card["architecture"]["architecture"], "llama");
  EXPECT_EQ(card["architecture"]["layers"], 5);
  EXPECT_EQ(card["architecture"]["parameters"], 292800);
  EXPECT_EQ(server_.Call("POST", "/v1/admin/models/tiny/card", R"({"card":"# Tiny"})", member_key_).status, 403);
  EXPECT_EQ(
      server_.Call("POST", "/v1/admin/models/tiny/card", R"({"card":"# Tiny\nStories."})", server_.owner_key()).status,
      200);
  EXPECT_EQ(server_.CallJson("GET", "/v1/models/tiny/card")["card"], "# Tiny\nStories.");
  const std::string huge(70 * 1024, 'x');
  EXPECT_EQ(
      server_.Call("POST", "/v1/admin/models/tiny/card", fmt::format(R"({{"card":"{}"}})", huge), server_.owner_key())
          .status,
      400);
  EXPECT_EQ(server_.Call("POST", "/v1/admin/models/nope/card", R"({"card":"x"})", server_.owner_key()).status, 404);
  server_.AddModel("secret", Level::kClosed);
  EXPECT_EQ(server_.Call("GET", "/v1/models/secret/card").status, 404);

  Json levels = server_.CallJson("GET", "/v1/levels");
  ASSERT_EQ(levels["data"].size(), 7u);
  EXPECT_EQ(levels["data"][2]["level"], "hosted");
  EXPECT_EQ(levels["data"][3]["max_top_logprobs"], 5);
}

TEST_F(WebTest, ADeniedRequestSaysWhenToAskAgain) {
  Json r = server_.CallJson("POST", "/v1/access-requests", R"({"model":"tiny","level":"api","justification":"x"})",
                            member_key_);
  const std::string id = r["id"];
  server_.CallJson("POST", fmt::format("/v1/admin/access-requests/{}/deny", id), R"({"reason":"tell us more"})",
                   server_.owner_key());
  Json mine = server_.CallJson("GET", "/v1/access-requests", "", member_key_);
  EXPECT_EQ(mine["data"][0]["reason"], "tell us more");
  EXPECT_EQ(mine["data"][0]["may_ask_again_at"].get<int64_t>(),
            mine["data"][0]["decided_at"].get<int64_t>() + 7 * 86400);
}

TEST_F(WebTest, AnApprovedRequestSaysWhatItsGrantGives) {
  Json r = server_.CallJson("POST", "/v1/access-requests", R"({"model":"tiny","level":"research","justification":"x"})",
                            member_key_);
  const int64_t now = server_.clock().NowSeconds();
  server_.CallJson("POST", fmt::format("/v1/admin/access-requests/{}/approve", r["id"].get<std::string>()),
                   R"({"level":"api","expires_in":"30d"})", server_.owner_key());
  Json mine = server_.CallJson("GET", "/v1/access-requests", "", member_key_);
  ASSERT_EQ(mine["data"].size(), 1u);
  const Json& approved = mine["data"][0];
  EXPECT_EQ(approved["state"], "approved");
  EXPECT_EQ(approved["level"], "research");  // what was asked
  EXPECT_EQ(approved["granted"]["level"], "api");
  EXPECT_EQ(approved["granted"]["expires_at"].get<int64_t>(), now + 30 * 86400);
  EXPECT_TRUE(approved["granted"]["revoked_at"].is_null());
  EXPECT_FALSE(approved.contains("may_ask_again_at"));
  // The reviewers' list says the same; a revoked grant says so.
  server_.Call("DELETE", "/v1/admin/grants/" + approved["grant"].get<std::string>(), "", server_.owner_key());
  Json all = server_.CallJson("GET", "/v1/admin/access-requests?state=approved", "", server_.owner_key());
  ASSERT_EQ(all["data"].size(), 1u);
  EXPECT_EQ(all["data"][0]["granted"]["level"], "api");
  EXPECT_FALSE(all["data"][0]["granted"]["revoked_at"].is_null());
}

}  // namespace
}  // namespace aperture::testing
