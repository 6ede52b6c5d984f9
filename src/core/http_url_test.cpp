#include "core/http_url.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

TEST(HttpUrlTest, ParsesHostsPortsAndPrefixes) {
  auto u = ParseHttpUrl("http://gpu-1.internal:8000");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "gpu-1.internal");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->prefix, "");
  EXPECT_EQ(u->ToString(), "http://gpu-1.internal:8000");
  u = ParseHttpUrl("http://10.0.0.7/serve/llama/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->prefix, "/serve/llama");
  u = ParseHttpUrl("http://[::1]:9000");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->ToString(), "http://[::1]:9000");
}

TEST(HttpUrlTest, RefusesWhatCannotBeABackend) {
  for (const char* bad : {"",
                          "gpu:8000",
                          "https://gpu:8000",
                          "ftp://gpu",
                          "http://",
                          "http://:80",
                          "http://gpu:0",
                          "http://gpu:65536",
                          "http://gpu:80x",
                          "http://gpu:",
                          "http://user:pw@gpu:80",
                          "http://gpu/x?y=1",
                          "http://gpu/x#f",
                          "http://gp u",
                          "http://[::1",
                          "http://[::1]x",
                          "http://[zz]:80",
                          "http://gpu/v1",
                          "http://gpu/a b",
                          "http://gpu\n:80"}) {
    auto u = ParseHttpUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    }
  }
  EXPECT_FALSE(ParseHttpUrl("http://" + std::string(300, 'a')).ok());
  EXPECT_FALSE(ParseHttpUrl("http://gpu/" + std::string(3000, 'a')).ok());
  // The messages say what to do.
  EXPECT_NE(ParseHttpUrl("http://user:pw@gpu").status().message().find("api_key_env"), std::string::npos);
  EXPECT_NE(ParseHttpUrl("https://gpu").status().message().find("sidecar"), std::string::npos);
}

}  // namespace
}  // namespace aperture
