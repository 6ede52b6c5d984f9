// Signed manifests: the OpenSSF model-signing v1.0 layout, signatures that
// verify only with their key and only over unchanged content, root digests
// recomputed from the resources, and the errors malformed bundles meet.
#include "distribution/model_manifest.h"

#include <gtest/gtest.h>

#include "core/base64.h"
#include "core/hash.h"
#include "core/hex.h"
#include "core/json.h"
#include "distribution/dsse.h"

namespace aperture::distribution {
namespace {

std::string Digest(std::string_view content) { return Sha256Hex(content); }

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = EcdsaP256Signer::Generate();
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = std::make_unique<EcdsaP256Signer>(*std::move(signer));
    auto verifier = EcdsaP256Verifier::FromPem(signer_->PublicPem());
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = std::make_unique<EcdsaP256Verifier>(*std::move(verifier));
    auto manifest = MakeManifest(
        "tiny", {{"tiny.gguf", Digest("weights")}, {"README.md", Digest("card")}, {"LICENSE", Digest("licence")}});
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    manifest_ = *manifest;
    auto bundle = SignManifestBundle(manifest_, *signer_);
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    bundle_ = *bundle;
  }

  // The bundle with its statement replaced by `statement` (and re-signed when `resign`).
  std::string WithStatement(const Json& statement, bool resign) {
    Json bundle = *ParseJson(bundle_);
    const std::string payload = CanonicalJson(statement);
    bundle["dsseEnvelope"]["payload"] = Base64Encode(payload);
    if (resign) {
      auto sig = signer_->Sign(Pae(kInTotoPayloadType, payload));
      bundle["dsseEnvelope"]["signatures"][0]["sig"] = Base64Encode(*sig);
    }
    return CanonicalJson(bundle);
  }
  Json Statement() {
    Json bundle = *ParseJson(bundle_);
    return *ParseJson(*Base64Decode(bundle["dsseEnvelope"]["payload"].get<std::string>()));
  }

  std::unique_ptr<EcdsaP256Signer> signer_;
  std::unique_ptr<EcdsaP256Verifier> verifier_;
  ModelManifest manifest_;
  std::string bundle_;
};

TEST_F(ManifestTest, FilesAreInNameOrderAndTheRootIsOverTheirDigests) {
  ASSERT_EQ(manifest_.files.size(), 3u);
  EXPECT_EQ(manifest_.files[0].name, "LICENSE");
  EXPECT_EQ(manifest_.files[1].name, "README.md");
  EXPECT_EQ(manifest_.files[2].name, "tiny.gguf");
  // Computed here from the definition: SHA-256 of the raw digests in order.
  const std::string raw = *HexDecode(Digest("licence")) + *HexDecode(Digest("card")) + *HexDecode(Digest("weights"));
  EXPECT_EQ(manifest_.root_sha256, Sha256Hex(raw));
}

TEST_F(ManifestTest, TheBundleHasTheModelSigningLayout) {
  Json bundle = *ParseJson(bundle_);
  EXPECT_EQ(bundle["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");
  EXPECT_EQ(bundle["verificationMaterial"]["publicKey"]["hint"], verifier_->Hint());
  EXPECT_TRUE(bundle["verificationMaterial"]["tlogEntries"].empty());
  EXPECT_EQ(bundle["dsseEnvelope"]["payloadType"], "application/vnd.in-toto+json");
  Json s = Statement();
  EXPECT_EQ(s["_type"], "https://in-toto.io/Statement/v1");
  EXPECT_EQ(s["predicateType"], "https://model_signing/signature/v1.0");
  ASSERT_EQ(s["subject"].size(), 1u);
  EXPECT_EQ(s["subject"][0]["name"], "tiny");
  EXPECT_EQ(s["subject"][0]["digest"]["sha256"], manifest_.root_sha256);
  EXPECT_EQ(s["predicate"]["serialization"]["method"], "files");
  EXPECT_EQ(s["predicate"]["serialization"]["hash_type"], "sha256");
  EXPECT_EQ(s["predicate"]["serialization"]["allow_symlinks"], false);
  ASSERT_EQ(s["predicate"]["resources"].size(), 3u);
  EXPECT_EQ(s["predicate"]["resources"][2]["name"], "tiny.gguf");
  EXPECT_EQ(s["predicate"]["resources"][2]["algorithm"], "sha256");
  EXPECT_EQ(s["predicate"]["resources"][2]["digest"], Digest("weights"));
  // The signature is over the DSSE pre-authentication encoding of the payload.
  const std::string payload = *Base64Decode(bundle["dsseEnvelope"]["payload"].get<std::string>());
  const std::string sig = *Base64Decode(bundle["dsseEnvelope"]["signatures"][0]["sig"].get<std::string>());
  const std::string pae = "DSSEv1 28 application/vnd.in-toto+json " + std::to_string(payload.size()) + " " + payload;
  EXPECT_EQ(Pae(kInTotoPayloadType, payload), pae);
  EXPECT_TRUE(verifier_->Verify(pae, sig));
}

TEST_F(ManifestTest, VerifiesAndNamesTheFileThatDiffers) {
  auto verified = VerifyManifestBundle(bundle_, *verifier_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->model_name, "tiny");
  EXPECT_EQ(verified->files, manifest_.files);
  auto checks = CompareFiles(
      *verified, {{"tiny.gguf", Digest("weightz")}, {"README.md", Digest("card")}, {"extra.txt", Digest("x")}});
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_EQ(checks[0].name, "LICENSE");
  EXPECT_EQ(checks[0].result, FileCheck::Result::kNotGiven);
  EXPECT_EQ(checks[1].name, "README.md");
  EXPECT_EQ(checks[1].result, FileCheck::Result::kMatches);
  EXPECT_EQ(checks[2].name, "extra.txt");
  EXPECT_EQ(checks[2].result, FileCheck::Result::kNotInManifest);
  EXPECT_EQ(checks[3].name, "tiny.gguf");
  EXPECT_EQ(checks[3].result, FileCheck::Result::kDiffers);
  EXPECT_EQ(checks[3].expected, Digest("weights"));
}

TEST_F(ManifestTest, AnotherKeyDoesNotVerify) {
  auto other = EcdsaP256Signer::Generate();
  auto other_public = EcdsaP256Verifier::FromPem(other->PublicPem());
  auto result = VerifyManifestBundle(bundle_, *other_public);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("another key"), std::string::npos) << result.status();
  // Without the hint the signature itself fails.
  Json bundle = *ParseJson(bundle_);
  bundle["verificationMaterial"]["publicKey"].erase("hint");
  result = VerifyManifestBundle(CanonicalJson(bundle), *other_public);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("signature does not verify"), std::string::npos) << result.status();
}

TEST_F(ManifestTest, AnAlteredStatementDoesNotVerify) {
  Json s = Statement();
  s["predicate"]["resources"][2]["digest"] = Digest("other weights");
  auto result = VerifyManifestBundle(WithStatement(s, /*resign=*/false), *verifier_);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("signature does not verify"), std::string::npos) << result.status();
}

TEST_F(ManifestTest, ASignedButInconsistentRootIsRefused) {
  Json s = Statement();
  s["predicate"]["resources"][2]["digest"] = Digest("other weights");
  auto result = VerifyManifestBundle(WithStatement(s, /*resign=*/true), *verifier_);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("inconsistent"), std::string::npos) << result.status();
}

TEST_F(ManifestTest, MalformedBundlesAreRefusedWithAReason) {
  Json s = Statement();
  auto refused = [&](const std::string& bundle, std::string_view expect) {
    auto r = VerifyManifestBundle(bundle, *verifier_);
    EXPECT_FALSE(r.ok()) << bundle.substr(0, 200);
    if (!r.ok()) {
      EXPECT_NE(std::string(r.status().message()).find(expect), std::string::npos) << r.status();
    }
  };
  refused("", "not JSON");
  refused("[]", "not a JSON object");
  refused("{\"mediaType\":1}", "mediaType");
  refused("{\"mediaType\":\"application/vnd.dev.sigstore.bundle+json;version=0.1\"}", "mediaType");
  Json no_envelope = *ParseJson(bundle_);
  no_envelope.erase("dsseEnvelope");
  refused(CanonicalJson(no_envelope), "dsseEnvelope");
  Json bad_b64 = *ParseJson(bundle_);
  bad_b64["dsseEnvelope"]["payload"] = "%%%";
  refused(CanonicalJson(bad_b64), "base64");
  Json no_sigs = *ParseJson(bundle_);
  no_sigs["dsseEnvelope"]["signatures"] = Json::array();
  refused(CanonicalJson(no_sigs), "no signatures");
  Json wrong_type = *ParseJson(bundle_);
  wrong_type["dsseEnvelope"]["payloadType"] = "text/plain";
  refused(CanonicalJson(wrong_type), "payloadType");

  Json t = s;
  t["predicateType"] = "https://example/other";
  refused(WithStatement(t, true), "predicateType");
  t = s;
  t["_type"] = "https://in-toto.io/Statement/v0.1";
  refused(WithStatement(t, true), "_type");
  t = s;
  t["subject"] = Json::array();
  refused(WithStatement(t, true), "exactly one subject");
  t = s;
  t["predicate"]["serialization"]["method"] = "shards";
  refused(WithStatement(t, true), "'files'");
  t = s;
  t["predicate"]["serialization"]["hash_type"] = "blake2";
  refused(WithStatement(t, true), "hash_type");
  t = s;
  t["predicate"]["resources"][0]["algorithm"] = "md5";
  refused(WithStatement(t, true), "algorithm");
  t = s;
  t["predicate"]["resources"][0]["digest"] = "XYZ";
  refused(WithStatement(t, true), "64 lower-case hex");
  t = s;
  t["predicate"]["resources"][1] = t["predicate"]["resources"][0];
  refused(WithStatement(t, true), "listed twice");
  t = s;
  t["predicate"]["resources"][0].erase("name");
  refused(WithStatement(t, true), "'name'");
  t = s;
  t["predicate"]["resources"] = "none";
  refused(WithStatement(t, true), "not a list");
  refused(std::string(kMaxBundleBytes + 1, ' '), "larger than");
}

TEST(MakeManifestTest, RefusesBadFileLists) {
  const std::string d = Sha256Hex("x");
  EXPECT_FALSE(MakeManifest("", {{"a", d}}).ok());
  EXPECT_FALSE(MakeManifest("m", {{"", d}}).ok());
  EXPECT_FALSE(MakeManifest("m", {{"a", d}, {"a", d}}).ok());
  EXPECT_FALSE(MakeManifest("m", {{"a", "nothex"}}).ok());
  EXPECT_FALSE(MakeManifest("m", {{"model.sig", d}}).ok());
  EXPECT_TRUE(MakeManifest("m", {}).ok());  // an empty model is still a manifest
}

TEST(EcdsaKeyTest, KeysRoundTripThroughPemAndRefuseOtherKinds) {
  auto signer = EcdsaP256Signer::Generate();
  ASSERT_TRUE(signer.ok());
  auto pem = signer->PrivatePem();
  ASSERT_TRUE(pem.ok());
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  auto again = EcdsaP256Signer::FromPem(*pem);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->PublicPem(), signer->PublicPem());
  auto sig = again->Sign("message");
  auto verifier = EcdsaP256Verifier::FromPem(signer->PublicPem());
  ASSERT_TRUE(sig.ok() && verifier.ok());
  EXPECT_TRUE(verifier->Verify("message", *sig));
  EXPECT_FALSE(verifier->Verify("messagf", *sig));
  EXPECT_FALSE(verifier->Verify("message", "not a signature"));
  EXPECT_EQ(verifier->Hint(), Sha256Hex(signer->PublicPem()));

  EXPECT_FALSE(EcdsaP256Verifier::FromPem("").ok());
  EXPECT_FALSE(EcdsaP256Verifier::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
  EXPECT_FALSE(EcdsaP256Verifier::FromPem(*pem).ok());  // a private key is not a public key
  EXPECT_FALSE(EcdsaP256Signer::FromPem(signer->PublicPem()).ok());
  // An Ed25519 key in PEM is not an ECDSA P-256 key.
  const char* ed25519 =
      "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
      "-----END PUBLIC KEY-----\n";
  auto refused = EcdsaP256Verifier::FromPem(ed25519);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not an ECDSA"), std::string::npos) << refused.status();
}

TEST(DsseTest, EnvelopesRoundTripAndVerifyOnlyTheirPayload) {
  auto signer = EcdsaP256Signer::Generate();
  auto key = EcdsaP256Verifier::FromPem(signer->PublicPem());
  auto envelope = SignEnvelope("application/x-test", "hello", *signer);
  ASSERT_TRUE(envelope.ok());
  auto parsed = ParseEnvelope(EnvelopeJson(*envelope));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->payload, "hello");
  EXPECT_EQ(parsed->signatures[0].keyid, key->Hint());
  EXPECT_TRUE(VerifyEnvelope(*parsed, *key).ok());
  parsed->payload_type = "application/x-other";  // the type is signed too
  EXPECT_FALSE(VerifyEnvelope(*parsed, *key).ok());
  EXPECT_FALSE(ParseEnvelope(Json::array()).ok());
  EXPECT_FALSE(ParseEnvelope({{"payloadType", "t"}, {"payload", "aGk="}, {"signatures", {{{"sig", 5}}}}}).ok());
  EXPECT_FALSE(ParseEnvelope({{"payloadType", "t"}, {"payload", "aGk="}, {"signatures", {"x"}}}).ok());
}

}  // namespace
}  // namespace aperture::distribution
