#include "translog/note.h"

#include <gtest/gtest.h>

#include "core/base64.h"
#include "core/random.h"

namespace aperture::translog {
namespace {

// The example of golang.org/x/mod/sumdb/note: its key, text and signed note.
constexpr char kGoVerifierKey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kGoSeedBase64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";  // 0x01 || seed
constexpr char kGoText[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr char kGoNote[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

NoteSigner GoSigner() {
  const std::string seed = Base64Decode(kGoSeedBase64)->substr(1);
  return *NoteSigner::FromSeed("PeterNeumann", seed);
}

NoteVerifier GoVerifier() { return *NoteVerifier::Parse(kGoVerifierKey); }

NoteSigner Fresh(const std::string& name) { return *NoteSigner::FromSeed(name, RandomBytes(32)); }

TEST(NoteTest, SignsExactlyAsGoSumdbNote) {
  NoteSigner signer = GoSigner();
  EXPECT_EQ(signer.VerifierKey(), kGoVerifierKey);
  EXPECT_EQ(signer.key_hash(), 0xc74f20a3u);
  auto note = signer.Sign(kGoText);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(*note, kGoNote);
}

TEST(NoteTest, OpensGoSumdbNote) {
  auto text = GoVerifier().Open(kGoNote);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, kGoText);
}

TEST(NoteTest, RejectsAWrongSignature) {
  // Same key name and key hash, one bit of the Ed25519 signature flipped.
  std::string blob =
      *Base64Decode("x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=");
  blob[10] = static_cast<char>(blob[10] ^ 0x01);
  const std::string note = std::string(kGoText) + "\n\xE2\x80\x94 PeterNeumann " + Base64Encode(blob) + "\n";
  auto opened = GoVerifier().Open(note);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("invalid signature"), absl::string_view::npos) << opened.status();
}

TEST(NoteTest, RejectsASignatureByAnotherKeyUnderTheSameName) {
  auto note = Fresh("PeterNeumann").Sign(kGoText);
  ASSERT_TRUE(note.ok());
  auto opened = GoVerifier().Open(*note);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("no signature by key"), absl::string_view::npos) << opened.status();
}

TEST(NoteTest, RejectsAnUnknownKeyName) {
  auto note = Fresh("EnochRoot").Sign(kGoText);
  ASSERT_TRUE(note.ok());
  auto opened = GoVerifier().Open(*note);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("unknown keys"), absl::string_view::npos) << opened.status();
}

TEST(NoteTest, AcceptsExtraSignaturesByUnknownKeys) {
  auto cosigned = Fresh("witness.example/w1").Sign(kGoText);
  ASSERT_TRUE(cosigned.ok());
  // Both signature lines under one blank line, ours second.
  const std::string ours = std::string(kGoNote).substr(std::string(kGoText).size() + 1);
  const std::string theirs = cosigned->substr(std::string(kGoText).size() + 1);
  auto text = GoVerifier().Open(std::string(kGoText) + "\n" + theirs + ours);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, kGoText);
}

TEST(NoteTest, RejectsAModifiedBody) {
  std::string note = kGoNote;
  note.replace(note.find("cryptography"), 12, "cryptographY");
  EXPECT_FALSE(GoVerifier().Open(note).ok());
  // A line added to the body is a modified body too.
  EXPECT_FALSE(GoVerifier().Open("extra line\n" + std::string(kGoNote)).ok());
  std::string inserted = kGoNote;
  inserted.insert(std::string(kGoText).size(), "one more line\n");
  EXPECT_FALSE(GoVerifier().Open(inserted).ok());
}

TEST(NoteTest, RejectsExtraLinesAfterTheSignatures) {
  EXPECT_FALSE(GoVerifier().Open(std::string(kGoNote) + "trailing line\n").ok());
  EXPECT_FALSE(GoVerifier().Open(std::string(kGoNote) + "\n").ok());
  EXPECT_FALSE(GoVerifier().Open(std::string(kGoNote) + "\xE2\x80\x94 \n").ok());
  std::string no_final_newline = kGoNote;
  no_final_newline.pop_back();
  EXPECT_FALSE(GoVerifier().Open(no_final_newline).ok());
}

TEST(NoteTest, RejectsMalformedNotes) {
  EXPECT_FALSE(GoVerifier().Open("").ok());
  EXPECT_FALSE(GoVerifier().Open(kGoText).ok());  // no signature block
  std::string control = kGoNote;
  control[3] = '\t';
  EXPECT_FALSE(GoVerifier().Open(control).ok());
  std::string bad_utf8 = kGoNote;
  bad_utf8[3] = '\xff';
  EXPECT_FALSE(GoVerifier().Open(bad_utf8).ok());
  std::string dash = kGoNote;
  dash.replace(dash.find("\xE2\x80\x94"), 3, "--");
  EXPECT_FALSE(GoVerifier().Open(dash).ok());
}

TEST(NoteTest, SignRefusesInvalidTexts) {
  NoteSigner s = GoSigner();
  EXPECT_FALSE(s.Sign("no newline").ok());
  EXPECT_FALSE(s.Sign("two\n\nparagraphs\n").ok());
  EXPECT_FALSE(s.Sign("tab\there\n").ok());
  EXPECT_FALSE(s.Sign("").ok());
}

TEST(NoteTest, ParsesOnlyWellFormedVerifierKeys) {
  EXPECT_TRUE(NoteVerifier::Parse(kGoVerifierKey).ok());
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").ok());
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").ok());
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeumann+c74f20a3").ok());
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").ok());
  EXPECT_FALSE(NoteVerifier::Parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T").ok());
  // Every truncation of a good key is refused.
  const std::string key = kGoVerifierKey;
  for (size_t n = 0; n < key.size(); ++n) EXPECT_FALSE(NoteVerifier::Parse(key.substr(0, n)).ok()) << n;
}

TEST(NoteTest, KeyNamesFollowTheSpec) {
  EXPECT_TRUE(IsValidKeyName("example.com/log"));
  EXPECT_TRUE(IsValidKeyName("\xC3\xA9t\xC3\xA9"));
  EXPECT_FALSE(IsValidKeyName(""));
  EXPECT_FALSE(IsValidKeyName("a b"));
  EXPECT_FALSE(IsValidKeyName("a+b"));
  EXPECT_FALSE(
      IsValidKeyName("a\xC2\xA0"
                     "b"));  // no-break space
  EXPECT_FALSE(
      IsValidKeyName("a\xE3\x80\x80"
                     "b"));  // ideographic space
  EXPECT_FALSE(IsValidKeyName("\xff"));
  EXPECT_FALSE(NoteSigner::Create("bad name", RandomBytes(64)).ok());
  EXPECT_FALSE(NoteSigner::Create("ok", "short").ok());
}

TEST(NoteTest, FreshKeysRoundTrip) {
  NoteSigner signer = Fresh("aperture.example/log");
  auto verifier = NoteVerifier::Parse(signer.VerifierKey());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto note = signer.Sign("aperture.example/log\n5\nAAAA\n");
  ASSERT_TRUE(note.ok());
  auto text = verifier->Open(*note);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "aperture.example/log\n5\nAAAA\n");
}

}  // namespace
}  // namespace aperture::translog
