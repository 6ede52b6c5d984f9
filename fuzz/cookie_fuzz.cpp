// Fuzzes the Cookie header parser on arbitrary bytes: the first byte picks
// how much of the input is the cookie name, the rest is the header.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/cookie.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t name_size = data[0] % 24;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view name = rest.substr(0, name_size);
  std::string_view header = rest.substr(name.size());
  std::optional<std::string_view> v = aperture::http::CookieValue(header, name);
  if (v && (v->data() < header.data() || v->data() + v->size() > header.data() + header.size())) __builtin_trap();
  return 0;
}
