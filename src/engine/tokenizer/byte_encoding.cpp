#include "engine/tokenizer/byte_encoding.h"

#include <array>

#include "core/utf8.h"

namespace aperture::engine {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_char;
  std::array<int16_t, 324> cp_to_byte;  // code points 0..323 cover the whole mapping

  Tables() {
    cp_to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(next++);
      AppendUtf8(cp, &byte_to_char[b]);
      cp_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

const std::string& ByteToBpeChar(uint8_t b) { return GetTables().byte_to_char[b]; }

void BpeEncodeBytes(std::string_view bytes, std::string* out) {
  const Tables& t = GetTables();
  for (char c : bytes) *out += t.byte_to_char[static_cast<uint8_t>(c)];
}

std::string BpeDecodeText(std::string_view text) {
  const Tables& t = GetTables();
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    if (ScanUtf8(text, pos, &len) != Utf8Scan::kValid) {
      out.append(text.data() + pos, len);
      pos += len;
      continue;
    }
    uint32_t cp = 0;
    const auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(text[pos + i])); };
    if (len == 1)
      cp = u(0);
    else if (len == 2)
      cp = ((u(0) & 0x1F) << 6) | (u(1) & 0x3F);
    else
      cp = 0xFFFFFFFF;  // 3- and 4-byte characters are outside the mapping
    if (cp < t.cp_to_byte.size() && t.cp_to_byte[cp] >= 0) {
      out.push_back(static_cast<char>(t.cp_to_byte[cp]));
    } else {
      out.append(text.data() + pos, len);
    }
    pos += len;
  }
  return out;
}

}  // namespace aperture::engine
