#include "translog/entry.h"

#include <gtest/gtest.h>

namespace aperture::translog {
namespace {

TEST(EntryTest, IsTheCanonicalJsonOfTheEvent) {
  LogEvent e{"grant.created", 1700000000, "prn_owner", "llama",
             "research",      "ok",       "ok",        R"({"principal":"prn_alice","grant":"grt_1","expires_at":0})"};
  auto prepared = PrepareEntry(e);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(
      prepared->entry,
      R"({"actor":"prn_owner","details":{"expires_at":0,"grant":"grt_1","principal":"prn_alice"},)"
      R"("level":"research","model":"llama","outcome":"ok","reason":"ok","time":1700000000,"type":"grant.created"})");
  EXPECT_EQ(prepared->subjects, (std::vector<std::string>{"prn_owner", "prn_alice"}));

  auto back = EventFromEntry(prepared->entry);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->type, e.type);
  EXPECT_EQ(back->time, e.time);
  EXPECT_EQ(back->actor, e.actor);
  EXPECT_EQ(back->details, R"({"expires_at":0,"grant":"grt_1","principal":"prn_alice"})");
}

TEST(EntryTest, AnonymousAndConsoleActorsAreNoSubjects) {
  auto anon = PrepareEntry({"access.decision", 1, "anonymous", "m", "", "deny", "not_found", "{}"});
  ASSERT_TRUE(anon.ok());
  EXPECT_TRUE(anon->subjects.empty());
  auto cli = PrepareEntry({"key.created", 1, "cli", "", "", "ok", "ok", R"({"principal":"prn_bob"})"});
  ASSERT_TRUE(cli.ok());
  EXPECT_EQ(cli->subjects, std::vector<std::string>{"prn_bob"});
  auto self = PrepareEntry({"key.revoked", 1, "prn_bob", "", "", "ok", "ok", R"({"principal":"prn_bob"})"});
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->subjects, std::vector<std::string>{"prn_bob"});
}

TEST(EntryTest, RefusesBadDetailsAndOversizedEntries) {
  EXPECT_FALSE(PrepareEntry({"t", 1, "a", "", "", "ok", "ok", "[1,2]"}).ok());
  EXPECT_FALSE(PrepareEntry({"t", 1, "a", "", "", "ok", "ok", "{not json"}).ok());
  LogEvent big{"t", 1, "a", "", "", "ok", "ok", R"({"x":")" + std::string(70000, 'a') + R"("})"};
  EXPECT_FALSE(PrepareEntry(big).ok());
  EXPECT_TRUE(PrepareEntry({"t", 1, "a", "", "", "ok", "ok", ""}).ok());  // no details = {}
}

}  // namespace
}  // namespace aperture::translog
