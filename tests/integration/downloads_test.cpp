// Downloads under licence over a real server: resumable, byte-exact ranges
// checked against the signed manifest, the licence gate before the first
// byte, the level refusal below `download`, and the log's record of each
// acceptance and download.
#include <gtest/gtest.h>

#include <fstream>

#include "core/hash.h"
#include "distribution/model_manifest.h"
#include "fmt/format.h"
#include "http/test_client.h"
#include "tests/integration/test_server.h"
#include "translog/entry.h"

namespace aperture::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class DownloadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = server_.AddModelCopy("tiny", Level::kDownload);
    server_.AddPrincipal("ada", Role::kMember);
    key_ = server_.CreateKey("ada");
  }

  // The owner sets a licence through the API.
  std::string SetLicence(const std::string& body) {
    auto r = server_.Call("PUT", "/v1/models/tiny/licence", body, server_.owner_key());
    EXPECT_EQ(r.status, 200) << r.body;
    return ParseJson(r.body)->value("sha256", "");
  }
  std::string SetApacheLicence() {
    return SetLicence(R"j({"spdx_id":"Apache-2.0","text":"Apache License, Version 2.0 (full text here)"})j");
  }
  void Accept(const std::string& sha256) {
    auto r = server_.Call("POST", "/v1/models/tiny/licence/accept", fmt::format(R"({{"sha256":"{}"}})", sha256), key_);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // The weights' digest as the signed manifest states it, checked with the served key.
  std::string ManifestDigestOf(const std::string& name) {
    auto key = distribution::EcdsaP256Verifier::FromPem(server_.Call("GET", "/v1/signing-key").body);
    EXPECT_TRUE(key.ok()) << key.status();
    auto manifest = distribution::VerifyManifestBundle(server_.Call("GET", "/v1/models/tiny/manifest").body, *key);
    EXPECT_TRUE(manifest.ok()) << manifest.status();
    if (!manifest.ok()) return "";
    for (const auto& f : manifest->files) {
      if (f.name == name) return f.sha256;
    }
    return "";
  }

  std::vector<LogEvent> Logged(const std::string& type) {
    server_.services().recorder->Flush();
    auto head = server_.services().log->Head();
    auto entries = server_.services().log->Entries(0, head->size);
    std::vector<LogEvent> out;
    for (const std::string& entry : *entries) {
      auto e = translog::EventFromEntry(entry);
      if (e.ok() && e->type == type) out.push_back(*e);
    }
    return out;
  }

  TestServer server_;
  std::string path_;
  std::string key_;
};

TEST_F(DownloadsTest, AnInterruptedDownloadResumesToTheManifestsDigest) {
  Accept(SetApacheLicence());
  const std::string url = "/v1/models/tiny/files/tiny.gguf";
  const std::string whole = ReadFile(path_);

  // Start, take about half of the body, and hang up.
  auto client = http::TestClient::Connect(server_.port());
  ASSERT_TRUE(client->SendRequest("GET", url, "", {"Authorization: Bearer " + key_}));
  ASSERT_TRUE(client->ReadUntil("\r\n\r\n"));
  const size_t header_end = client->pending().find("\r\n\r\n") + 4;
  const std::string head = client->pending().substr(0, header_end);
  EXPECT_NE(head.find(fmt::format("Content-Length: {}", whole.size())), std::string::npos) << head;
  const size_t etag_at = head.find("ETag: ");
  ASSERT_NE(etag_at, std::string::npos) << head;
  const std::string etag = head.substr(etag_at + 6, head.find("\r\n", etag_at) - etag_at - 6);
  ASSERT_TRUE(client->ReadAtLeast(header_end + whole.size() / 2));
  const std::string first_part = client->pending().substr(header_end, whole.size() / 2);
  client->Close();

  // Resume from where it stopped, on condition that the file is unchanged.
  auto rest =
      server_.Call("GET", url, "", key_, {fmt::format("Range: bytes={}-", first_part.size()), "If-Range: " + etag});
  ASSERT_EQ(rest.status, 206) << rest.body.substr(0, 300);
  EXPECT_EQ(rest.Header("content-range"),
            fmt::format("bytes {}-{}/{}", first_part.size(), whole.size() - 1, whole.size()));
  const std::string resumed = first_part + rest.body;
  EXPECT_EQ(resumed.size(), whole.size());
  EXPECT_EQ(Sha256Hex(resumed), ManifestDigestOf("tiny.gguf"));
  EXPECT_EQ(etag, "\"" + Sha256Hex(whole) + "\"");
  EXPECT_EQ(rest.Header("etag"), etag);
}

TEST_F(DownloadsTest, RangesPastTheEndAre416AndBadRangesAre400) {
  Accept(SetApacheLicence());
  const size_t size = ReadFile(path_).size();
  auto past = server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_, {fmt::format("Range: bytes={}-", size)});
  EXPECT_EQ(past.status, 416) << past.body;
  EXPECT_EQ(past.Header("content-range"), fmt::format("bytes */{}", size));
  auto bad = server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_, {"Range: bytes=9-3"});
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto multi = server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_, {"Range: bytes=0-1,5-6"});
  EXPECT_EQ(multi.status, 400);
  EXPECT_NE(multi.body.find("single range"), std::string::npos);
  // The last 10 bytes, and a unit we do not serve (the whole file).
  auto suffix = server_.Call("GET", "/v1/models/tiny/download", "", key_, {"Range: bytes=-10"});
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.body, ReadFile(path_).substr(size - 10));
  auto items = server_.Call("GET", "/v1/models/tiny/download", "", key_, {"Range: items=0-1"});
  EXPECT_EQ(items.status, 200);
  EXPECT_EQ(items.body.size(), size);
}

TEST_F(DownloadsTest, AChangedFileMakesIfRangeSendTheWholeFile) {
  Accept(SetApacheLicence());
  auto first = server_.Call("HEAD", "/v1/models/tiny/files/tiny.gguf", "", key_);
  ASSERT_EQ(first.status, 200);
  const std::string old_etag = *first.Header("etag");
  // The owner replaces the weights (one byte differs).
  std::string changed = ReadFile(path_);
  changed.back() = static_cast<char>(changed.back() ^ 0x5a);
  {
    std::ofstream out(path_ + ".new", std::ios::binary);
    out << changed;
  }
  std::filesystem::rename(path_ + ".new", path_);

  auto resumed =
      server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_, {"Range: bytes=100-", "If-Range: " + old_etag});
  EXPECT_EQ(resumed.status, 200);
  EXPECT_EQ(resumed.body, changed);
  EXPECT_EQ(resumed.Header("etag"), "\"" + Sha256Hex(changed) + "\"");
  EXPECT_FALSE(resumed.Header("content-range").has_value());
  EXPECT_EQ(ManifestDigestOf("tiny.gguf"), Sha256Hex(changed));  // a new manifest for the new file
}

TEST_F(DownloadsTest, HeadShowsTheFileWithoutItsBytes) {
  Accept(SetApacheLicence());
  auto head = server_.Call("HEAD", "/v1/models/tiny/files/tiny.gguf", "", key_);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), std::to_string(ReadFile(path_).size()));
  EXPECT_EQ(head.Header("accept-ranges"), "bytes");
  EXPECT_TRUE(head.body.empty());
  EXPECT_TRUE(Logged("download").empty());  // nothing was downloaded
}

TEST_F(DownloadsTest, NoByteBeforeTheLicenceIsAccepted) {
  // No licence at all: nothing downloads below open.
  auto missing = server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_);
  EXPECT_EQ(missing.status, 409);
  EXPECT_NE(missing.body.find("licence_missing"), std::string::npos);

  const std::string sha = SetApacheLicence();
  for (const char* file : {"tiny.gguf", "tokenizer.json"}) {
    auto refused = server_.Call("GET", fmt::format("/v1/models/tiny/files/{}", file), "", key_);
    EXPECT_EQ(refused.status, 403) << file;
    EXPECT_NE(refused.body.find("licence_not_accepted"), std::string::npos);
    EXPECT_NE(refused.body.find(sha), std::string::npos);  // says what to accept
    EXPECT_EQ(refused.body.find("GGUF"), std::string::npos);
  }
  EXPECT_EQ(server_.Call("HEAD", "/v1/models/tiny/download", "", key_).status, 403);
  EXPECT_EQ(server_.Call("GET", "/v1/models/tiny/download", "", key_, {"Range: bytes=0-3"}).status, 403);
  // Anonymous callers cannot accept, so they are told to get a key.
  auto anonymous = server_.Call("GET", "/v1/models/tiny/download");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(anonymous.body.find("licence_key_required"), std::string::npos);
  // The licence itself, the card and the manifest are readable first.
  auto licence = server_.CallJson("GET", "/v1/models/tiny/licence", "", key_);
  EXPECT_EQ(licence["sha256"], sha);
  EXPECT_EQ(licence["must_accept"], true);
  EXPECT_EQ(licence["accepted"], false);
  EXPECT_EQ(server_.Call("GET", "/v1/models/tiny/files/LICENSE", "", key_).status, 200);
  EXPECT_EQ(server_.Call("GET", "/v1/models/tiny/manifest").status, 200);

  // Accepting a stale text is refused; the current one opens the gate.
  auto stale = server_.Call("POST", "/v1/models/tiny/licence/accept", R"({"sha256":"00"})", key_);
  EXPECT_EQ(stale.status, 409);
  Accept(sha);
  auto allowed = server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_);
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.body, ReadFile(path_));

  // A changed licence asks again.
  const std::string v2 = SetLicence(R"j({"spdx_id":"Apache-2.0","text":"Apache License, Version 2.0 (revised)"})j");
  EXPECT_EQ(server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_).status, 403);
  Accept(v2);
  EXPECT_EQ(server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_).status, 200);
}

TEST_F(DownloadsTest, AcceptancesAndDownloadsAreInTheLog) {
  const std::string sha = SetApacheLicence();
  Accept(sha);
  auto part = server_.Call("GET", "/v1/models/tiny/files/tiny.gguf", "", key_, {"Range: bytes=0-99"});
  ASSERT_EQ(part.status, 206);
  auto tokenizer = server_.Call("GET", "/v1/models/tiny/files/tokenizer.json", "", key_);
  ASSERT_EQ(tokenizer.status, 200);
  auto whole = server_.Call("GET", "/v1/models/tiny/download", "", key_);
  ASSERT_EQ(whole.status, 200);

  auto accepted = Logged("licence.accepted");
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(*ParseJson(accepted[0].details), (Json{{"licence_sha256", sha}, {"spdx_id", "Apache-2.0"}}));
  auto downloads = Logged("download");
  ASSERT_EQ(downloads.size(), 3u);
  const std::string weights_sha = Sha256Hex(ReadFile(path_));
  Json d0 = *ParseJson(downloads[0].details);
  EXPECT_EQ(downloads[0].level, "download");
  EXPECT_EQ(d0["file"], "tiny.gguf");
  EXPECT_EQ(d0["sha256"], weights_sha);
  EXPECT_EQ(d0["range"], fmt::format("bytes 0-99/{}", ReadFile(path_).size()));
  EXPECT_EQ(d0["bytes_served"], 100);
  EXPECT_EQ(d0["complete"], true);
  Json d1 = *ParseJson(downloads[1].details);
  EXPECT_EQ(d1["file"], "tokenizer.json");
  EXPECT_EQ(d1["bytes_served"], tokenizer.body.size());
  Json d2 = *ParseJson(downloads[2].details);
  EXPECT_EQ(d2["range"], nullptr);
  EXPECT_EQ(d2["bytes_served"], ReadFile(path_).size());
  for (const LogEvent& e : downloads) EXPECT_EQ(e.actor, accepted[0].actor);
}

TEST_F(DownloadsTest, CallersBelowDownloadGetTheLevelRefusal) {
  Accept(SetApacheLicence());
  server_.AddModel("hosted", Level::kApi);
  auto refused = server_.Call("GET", "/v1/models/hosted/files/stories260K.gguf", "", key_);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("needs level"), std::string::npos) << refused.body;
  EXPECT_EQ(server_.Call("GET", "/v1/models/hosted/download", "", key_).status, 403);
  // The listing shows what this level may fetch: the manifest, not the model.
  Json listing = server_.CallJson("GET", "/v1/models/hosted/files", "", key_);
  ASSERT_TRUE(listing["data"].is_array());
  for (const Json& f : listing["data"]) EXPECT_EQ(f["name"], "model.sig");
  EXPECT_TRUE(listing["model_data"].is_string());
  // At download the listing has every file, each with its size and digest.
  Json full = server_.CallJson("GET", "/v1/models/tiny/files", "", key_);
  std::vector<std::string> names;
  for (const Json& f : full["data"]) {
    names.push_back(f["name"]);
    EXPECT_EQ(f["sha256"].get<std::string>().size(), 64u);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"LICENSE", "model.sig", "tiny.gguf", "tokenizer.json"}));
  // Closed models stay invisible.
  server_.AddModel("secret", Level::kClosed);
  EXPECT_EQ(server_.Call("GET", "/v1/models/secret/files", "", key_).status, 404);
  EXPECT_EQ(server_.Call("GET", "/v1/models/secret/manifest", "", key_).status, 404);
  EXPECT_EQ(server_.Call("GET", "/v1/models/secret/licence", "", key_).status, 404);
}

TEST_F(DownloadsTest, OwnersSetLicencesAndCardsAndOthersCannot) {
  auto bad =
      server_.Call("PUT", "/v1/models/tiny/licence", R"({"spdx_id":"Apache 2","text":"x"})", server_.owner_key());
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("spdx_id"), std::string::npos);
  EXPECT_EQ(server_.Call("PUT", "/v1/models/tiny/licence", R"({"name":"x","text":"y"})", key_).status, 403);
  EXPECT_EQ(server_.Call("PUT", "/v1/models/ghost/licence", R"({"name":"x","text":"y"})", server_.owner_key()).status,
            404);
  EXPECT_EQ(server_.Call("POST", "/v1/admin/models/tiny/card", R"({"card":"# Tiny"})", key_).status, 403);
  auto card =
      server_.Call("POST", "/v1/admin/models/tiny/card", R"({"card":"# Tiny\nA story model."})", server_.owner_key());
  ASSERT_EQ(card.status, 200) << card.body;
  auto readme = server_.Call("GET", "/v1/models/tiny/files/README.md");
  EXPECT_EQ(readme.status, 200);
  EXPECT_EQ(readme.body, "# Tiny\nA story model.");
  EXPECT_EQ(readme.Header("content-type"), "text/markdown; charset=utf-8");
  EXPECT_FALSE(ManifestDigestOf("README.md").empty());
  EXPECT_EQ(server_.Call("POST", "/v1/models/tiny/licence/accept", R"({"sha256":"00"})").status, 401);
}

}  // namespace
}  // namespace aperture::testing
