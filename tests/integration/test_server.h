// TestServer: a real Aperture server on a free loopback port over a fresh
// data directory, with a fake clock, and helpers to call it.
//
// The store is SQLite, or a fresh PostgreSQL database when the environment
// says APERTURE_TEST_STORE=postgresql: CMake registers each integration
// test where the store matters a second time that way (tests/integration/
// CMakeLists.txt). It then also sets APERTURE_STORE, so the CLI commands a
// test runs on --data reach the same database.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/json.h"
#include "http/test_client.h"
#include "server/app.h"
#include "store/testing/test_stores.h"

namespace aperture::testing {

inline constexpr char kTestModelPath[] = APERTURE_SHARED_DIR "/models/stories260K.gguf";

// Runs a shell command; returns its exit status and everything it printed
// (stdout and stderr).
std::pair<int, std::string> RunCommand(const std::string& command);

class TestServer {
 public:
  explicit TestServer(Config config = DefaultConfig());
  ~TestServer();

  // Stops the server and closes the store, then opens both again on the same
  // data directory (a restart).
  void Restart();
  void Stop();

  // One request on a fresh connection. `key` empty = no Authorization header.
  http::TestResponse Call(const std::string& method, const std::string& target, const std::string& body = "",
                          const std::string& key = "", const std::vector<std::string>& headers = {});
  Json CallJson(const std::string& method, const std::string& target, const std::string& body = "",
                const std::string& key = "");

  // The trained tiny model of ../shared/models registered as `id`.
  void AddModel(const std::string& id, Level public_level);
  // The same, from a copy of its file in the test's directory (which a test
  // may change); returns the copy's path.
  std::string AddModelCopy(const std::string& id, Level public_level);
  std::string AddPrincipal(const std::string& name, Role role);  // returns its id
  std::string CreateKey(const std::string& principal, std::optional<int64_t> ttl = std::nullopt);

  // Fails every forward pass of the engine with `fault` from now on (OK: no
  // more failures), as an engine error would.
  void SetEngineFault(absl::Status fault);

  Services& services() { return *services_; }
  // Requests sent through Call are also written, keys replaced by
  // @OWNER@/@REVIEWER@/@MEMBER@, to the folder named by the environment
  // variable APERTURE_CAPTURE_REQUESTS when it is set: the whole-server
  // fuzz target's seeds (fuzz/seeds.sh).
  FakeClock& clock() { return clock_; }
  uint16_t port() const { return app_->port(); }
  const DataDir& dir() const { return dir_; }
  bool postgres() const { return !dir_.store.empty(); }
  // Everything the store holds, to search (store/testing/test_stores.h).
  std::string StoreBytes() const;
  const std::string& owner_key() const { return owner_key_; }

 private:
  void Open();
  FakeClock clock_;
  Config config_;
  std::filesystem::path root_;
  std::unique_ptr<store::testing::TestDatabase> database_;  // PostgreSQL only
  DataDir dir_;
  std::string owner_key_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<App> app_;
  void Capture(std::string request) const;
  std::vector<std::pair<std::string, std::string>> key_roles_;  // key, placeholder
  absl::Mutex fault_mu_;
  absl::Status engine_fault_ ABSL_GUARDED_BY(fault_mu_);
};

}  // namespace aperture::testing
