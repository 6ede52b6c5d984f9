// `aperture manifest verify` (the real binary) on files downloaded from a
// real server: every file matches the signed manifest, and one changed byte
// is named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/random.h"
#include "distribution/ecdsa_key.h"
#include "fmt/format.h"
#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.AddModelCopy("tiny", Level::kOpen);  // no gate at open
    ASSERT_EQ(server_.Call("POST", "/v1/admin/models/tiny/card", R"({"card":"# Tiny"})", server_.owner_key()).status,
              200);
    ASSERT_EQ(server_
                  .Call("PUT", "/v1/models/tiny/licence", R"({"spdx_id":"MIT","text":"MIT License ..."})",
                        server_.owner_key())
                  .status,
              200);
    dir_ = std::filesystem::temp_directory_path() / ("aperture-dl-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    Json listing = server_.CallJson("GET", "/v1/models/tiny/files");
    for (const Json& f : listing["data"]) {
      const std::string name = f["name"];
      auto r = server_.Call("GET", f["url"].get<std::string>());
      ASSERT_EQ(r.status, 200) << name;
      Write(name, r.body);
      if (name != "model.sig") files_.push_back((dir_ / name).string());
    }
    Write("key.pem", server_.Call("GET", "/v1/signing-key").body);
    ASSERT_EQ(files_.size(), 4u);  // README.md, LICENSE, tiny.gguf, tokenizer.json
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << bytes;
  }
  std::pair<int, std::string> Verify(const std::vector<std::string>& files, const std::string& extra = "") {
    std::string command = fmt::format("{} manifest verify --manifest {} --key {} {}", APERTURE_BINARY,
                                      (dir_ / "model.sig").string(), (dir_ / "key.pem").string(), extra);
    for (const std::string& f : files) command += " " + f;
    return RunCommand(command);
  }

  TestServer server_;
  std::filesystem::path dir_;
  std::vector<std::string> files_;
};

TEST_F(ManifestTest, DownloadedFilesVerify) {
  auto [code, out] = Verify(files_);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("every file given matches the signed manifest"), std::string::npos) << out;
}

TEST_F(ManifestTest, OneChangedByteIsNamed) {
  const std::string victim = (dir_ / "tokenizer.json").string();
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(10);
    char c = 0;
    f.get(c);
    f.seekp(10);
    f.put(static_cast<char>(c ^ 1));
  }
  auto [code, out] = Verify(files_);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("DIFFERS          tokenizer.json"), std::string::npos) << out;
  EXPECT_NE(out.find("1 file differs from the signed manifest: tokenizer.json"), std::string::npos) << out;
  EXPECT_EQ(out.find("DIFFERS          tiny.gguf"), std::string::npos) << out;
}

TEST_F(ManifestTest, MissingFilesFailUnlessPartial) {
  const std::vector<std::string> weights_only = {(dir_ / "tiny.gguf").string()};
  auto [code, out] = Verify(weights_only);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("not checked"), std::string::npos) << out;
  auto [partial_code, partial_out] = Verify(weights_only, "--partial");
  EXPECT_EQ(partial_code, 0) << partial_out;
}

TEST_F(ManifestTest, AnotherKeyOrAMalformedManifestIsRefused) {
  // Another server's key.
  TestServer other;
  Write("other.pem", other.Call("GET", "/v1/signing-key").body);
  auto [code, out] = RunCommand(fmt::format("{} manifest verify --manifest {} --key {} {}", APERTURE_BINARY,
                                            (dir_ / "model.sig").string(), (dir_ / "other.pem").string(), files_[0]));
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("does not verify"), std::string::npos) << out;
  // Not a bundle at all.
  Write("model.sig", "{\"mediaType\": 7}");
  auto [bad_code, bad_out] = Verify(files_);
  EXPECT_NE(bad_code, 0);
  EXPECT_NE(bad_out.find("mediaType"), std::string::npos) << bad_out;
}

// Every server on one store signs with the same manifest key: a data
// directory holding another manifest.key is refused at start, naming it.
TEST_F(ManifestTest, AServerWithAnotherManifestKeyIsRefused) {
  server_.Stop();
  auto other = distribution::EcdsaP256Signer::Generate();
  ASSERT_TRUE(other.ok());
  auto pem = other->PrivatePem();
  ASSERT_TRUE(pem.ok());
  const std::string path = server_.dir().manifest_key();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << *pem;
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto services = Services::Open(server_.dir(), DefaultConfig(), server_.clock());
  ASSERT_FALSE(services.ok());
  EXPECT_EQ(services.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(services.status().message().find(path), std::string::npos) << services.status();
  EXPECT_NE(services.status().message().find("same manifest.key"), std::string::npos) << services.status();
}

}  // namespace
}  // namespace aperture::testing
