#include "core/utf8.h"

namespace aperture {

Utf8Scan ScanUtf8(std::string_view s, size_t pos, size_t* length) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = byte(pos);
  if (b0 < 0x80) {
    *length = 1;
    return Utf8Scan::kValid;
  }
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *length = 1;
    return Utf8Scan::kInvalid;
  }
  for (size_t k = 1; k < need; ++k) {
    if (pos + k >= s.size()) {
      *length = k;
      return Utf8Scan::kIncomplete;
    }
    const uint8_t b = byte(pos + k);
    const uint8_t l = k == 1 ? lo : 0x80;
    const uint8_t h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      *length = k;
      return Utf8Scan::kInvalid;
    }
  }
  *length = need;
  return Utf8Scan::kValid;
}

bool IsValidUtf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<uint8_t>(s[pos]) < 0x80) {  // ASCII, most of what is checked
      ++pos;
      continue;
    }
    size_t len = 0;
    if (ScanUtf8(s, pos, &len) != Utf8Scan::kValid) return false;
    pos += len;
  }
  return true;
}

void AppendValidUtf8(std::string_view s, std::string* out) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len = 0;
    if (ScanUtf8(s, pos, &len) == Utf8Scan::kValid) {
      out->append(s.data() + pos, len);
    } else {
      out->append("\xEF\xBF\xBD");
    }
    pos += len;
  }
}

size_t Utf8EmittablePrefix(std::string_view s) {
  // Only the last character (at most 4 bytes back) can be incomplete.
  const size_t start = s.size() > 4 ? s.size() - 4 : 0;
  size_t pos = start;
  // Find the first lead byte in the window; earlier bytes are settled.
  size_t emit = s.size();
  while (pos < s.size()) {
    size_t len = 0;
    const Utf8Scan r = ScanUtf8(s, pos, &len);
    if (r == Utf8Scan::kIncomplete) {
      emit = pos;
      break;
    }
    pos += len;
  }
  return emit;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace aperture
