// Fuzzes signed notes as a verifier reads them (c2sp.org/signed-note): a
// verifier key and a note from outside. The first byte picks the mode:
// even, the input is a note opened with a fixed key, so the fuzzer can
// also reach a validly signed note by mutating the seed (signatures it
// forges must fail); odd, the input is a verifier key to parse, then
// whatever follows the first newline is opened with it if it parsed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "translog/note.h"

namespace {

using aperture::translog::NoteSigner;
using aperture::translog::NoteVerifier;

// The signer of the seed corpus (fuzz/corpus/fuzz_signed_note): a fixed
// test seed, so seeds signed by it verify.
const NoteSigner& Signer() {
  static const NoteSigner* signer = [] {
    auto s = NoteSigner::FromSeed("fuzz.example/log", std::string(32, '\x07'));
    if (!s.ok()) __builtin_trap();
    return new NoteSigner(*s);
  }();
  return *signer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    static const NoteVerifier verifier = *NoteVerifier::Parse(Signer().VerifierKey());
    auto text = verifier.Open(input);
    // An opened note's text is a prefix of the note, and signing it again
    // gives a note that opens to the same text.
    if (text.ok()) {
      if (input.substr(0, text->size()) != *text) __builtin_trap();
      auto again = Signer().Sign(*text);
      if (!again.ok() || verifier.Open(*again).value_or("") != *text) __builtin_trap();
    }
    return 0;
  }
  const size_t newline = input.find('\n');
  auto verifier = NoteVerifier::Parse(input.substr(0, newline));
  if (verifier.ok() && newline != std::string_view::npos) (void)verifier->Open(input.substr(newline + 1));
  return 0;
}
