// Fuzzes the HTTP request parser (request line, headers, framing rules,
// chunked bodies, target and query decoding) on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "boost/asio/buffer.hpp"
#include "http/request.h"
#include "http/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aperture::http::Request request;
  aperture::http::RequestParser parser(&request, 8 * 1024, 64 * 1024);
  boost::beast::error_code ec;
  size_t offset = 0;
  // Feed in two pieces to exercise resumption.
  const size_t split = size / 2;
  for (size_t end : {split, size}) {
    while (offset < end && !ec && !parser.is_done()) {
      size_t used = parser.put(boost::asio::buffer(data + offset, end - offset), ec);
      if (ec == boost::beast::http::error::need_more) {
        ec = {};
        break;
      }
      if (used == 0) break;
      offset += used;
    }
    if (ec) break;
  }
  return 0;
}
