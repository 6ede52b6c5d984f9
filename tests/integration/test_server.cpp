#include "tests/integration/test_server.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/hash.h"
#include "core/random.h"
#include "fmt/format.h"
#include "server/init.h"

namespace aperture::testing {

std::pair<int, std::string> RunCommand(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TestServer::TestServer(Config config) : config_(std::move(config)) {
  clock_.SetMicros(SystemClock::Get().NowMicros());
  root_ = std::filesystem::temp_directory_path() / ("aperture-it-" + NewId("t"));
  dir_ = DataDir{(root_ / "data").string()};
  if (const char* backend = std::getenv("APERTURE_TEST_STORE"); backend && std::string(backend) == "postgresql") {
    auto database = store::testing::TestDatabase::Create(store::testing::Backend::kPostgres);
    EXPECT_TRUE(database.ok()) << database.status();
    if (database.ok()) {
      database_ = std::move(*database);
      dir_.store = database_->location();
      ::setenv("APERTURE_STORE", dir_.store.c_str(), 1);
    }
  }
  auto key = InitializeDataDir(dir_);
  EXPECT_TRUE(key.ok()) << key.status();
  owner_key_ = key.value_or("");
  Open();
}

TestServer::~TestServer() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::string TestServer::StoreBytes() const {
  auto bytes = store::testing::StoreBytes(dir_.store_location());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.value_or("");
}

void TestServer::Open() {
  auto services = Services::Open(dir_, config_, clock_);
  ASSERT_TRUE(services.ok()) << services.status();
  services_ = std::move(*services);
  AppTestHooks hooks;
  hooks.engine_fault = [this] {
    absl::MutexLock lock(&fault_mu_);
    return engine_fault_;
  };
  auto app = App::Start(*services_, "127.0.0.1", 0, std::move(hooks));
  ASSERT_TRUE(app.ok()) << app.status();
  app_ = std::move(*app);
}

void TestServer::SetEngineFault(absl::Status fault) {
  absl::MutexLock lock(&fault_mu_);
  engine_fault_ = std::move(fault);
}

void TestServer::Stop() {
  app_.reset();
  services_.reset();
}

void TestServer::Restart() {
  Stop();
  Open();
}

http::TestResponse TestServer::Call(const std::string& method, const std::string& target, const std::string& body,
                                    const std::string& key, const std::vector<std::string>& headers) {
  auto client = http::TestClient::Connect(port());
  EXPECT_NE(client, nullptr);
  if (!client) return {};
  std::vector<std::string> lines = headers;
  if (!key.empty()) lines.push_back("Authorization: Bearer " + key);
  if (!body.empty()) lines.push_back("Content-Type: application/json");
  Capture(http::TestClient::FormatRequest(method, target, body, lines));
  EXPECT_TRUE(client->SendRequest(method, target, body, lines));
  auto response = client->ReadResponse(std::chrono::seconds(5), /*head=*/method == "HEAD");
  EXPECT_TRUE(response.has_value()) << method << " " << target;
  return response.value_or(http::TestResponse{});
}

Json TestServer::CallJson(const std::string& method, const std::string& target, const std::string& body,
                          const std::string& key) {
  auto r = Call(method, target, body, key);
  auto json = ParseJson(r.body);
  return json.ok() ? *json : Json();
}

void TestServer::AddModel(const std::string& id, Level public_level) {
  auto m = services_->access->AddModel(AccessService::Operator(), id, kTestModelPath, public_level);
  ASSERT_TRUE(m.ok()) << m.status();
}

std::string TestServer::AddModelCopy(const std::string& id, Level public_level) {
  std::filesystem::create_directories(root_ / "models");
  const std::filesystem::path copy = root_ / "models" / (id + ".gguf");
  std::filesystem::copy_file(kTestModelPath, copy, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(copy, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  auto m = services_->access->AddModel(AccessService::Operator(), id, copy.string(), public_level);
  EXPECT_TRUE(m.ok()) << m.status();
  return copy.string();
}

std::string TestServer::AddPrincipal(const std::string& name, Role role) {
  auto p = services_->access->AddPrincipal(AccessService::Operator(), name, role);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? p->id : "";
}

std::string TestServer::CreateKey(const std::string& principal, std::optional<int64_t> ttl) {
  auto k = services_->access->CreateKey(AccessService::Operator(), principal, ttl);
  EXPECT_TRUE(k.ok()) << k.status();
  if (!k.ok()) return "";
  auto p = services_->access->ResolvePrincipal(principal);
  const bool reviewer = p.ok() && p->role == Role::kReviewer;
  key_roles_.emplace_back(k->plaintext, reviewer                            ? "@REVIEWER@"
                                        : p.ok() && p->role == Role::kOwner ? "@OWNER@"
                                                                            : "@MEMBER@");
  return k->plaintext;
}

void TestServer::Capture(std::string request) const {
  const char* dir = std::getenv("APERTURE_CAPTURE_REQUESTS");
  if (dir == nullptr || *dir == '\0') return;
  std::vector<std::pair<std::string, std::string>> keys = key_roles_;
  keys.emplace_back(owner_key_, "@OWNER@");
  for (const auto& [key, placeholder] : keys) {
    if (key.empty()) continue;
    for (size_t at = request.find(key); at != std::string::npos; at = request.find(key, at + placeholder.size())) {
      request.replace(at, key.size(), placeholder);
    }
  }
  std::ofstream(fmt::format("{}/{}.http", dir, Sha256Hex(request).substr(0, 16)), std::ios::binary) << request;
}

}  // namespace aperture::testing
