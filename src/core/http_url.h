// An http URL of a server Aperture talks to: a remote backend, an
// OpenAI-compatible server named by http://host[:port][/prefix] (the prefix
// is what comes before /v1/..., usually nothing). Parsed once, when a
// backend is added, so a bad URL is refused with a message instead of
// failing every request.
//
// Limits: http only (TLS to GPU servers is for a sidecar or the network, as
// docs/deploy.md says); no user:password@ part (credentials come from an
// environment variable, never the store); host up to 253 bytes of letters,
// digits, '-', '.', or an IPv4 or bracketed IPv6 address; the whole URL up
// to 2,048 bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture {

struct HttpUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = 80;
  std::string prefix;  // "" or "/path" without a trailing slash

  // "http://host:port/prefix", normalised.
  std::string ToString() const;
};

// InvalidArgument naming what is wrong.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace aperture
