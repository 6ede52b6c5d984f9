#include "server/log_commands.h"

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "core/base64.h"
#include "core/json.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "fmt/format.h"
#include "server/app.h"
#include "server/cli_options.h"
#include "server/http_client.h"
#include "translog/entry.h"
#include "translog/log_verifier.h"

namespace aperture {
namespace {

absl::StatusOr<Json> GetJson(HttpClient& client, const std::string& target, const std::string& bearer = "") {
  return CallJson(client, "GET", target, bearer);
}

absl::StatusOr<std::vector<translog::Hash>> HashesFrom(const Json& list, std::string_view what) {
  if (!list.is_array()) return absl::DataLossError(fmt::format("{} is not a list", what));
  std::vector<translog::Hash> out;
  for (const Json& h : list) {
    std::optional<std::string> bytes = h.is_string() ? Base64Decode(h.get<std::string>()) : std::nullopt;
    if (!bytes || bytes->size() != 32) return absl::DataLossError(fmt::format("{} holds a malformed hash", what));
    out.push_back(*translog::HashFromBytes(*bytes));
  }
  return out;
}

// The log as the HTTP API serves it.
class HttpLogSource final : public translog::LogSource {
 public:
  explicit HttpLogSource(HttpClient& client) : client_(client) {}
  absl::StatusOr<std::string> Checkpoint() override { return client_.Get("/log/checkpoint"); }
  absl::StatusOr<std::vector<translog::Hash>> ConsistencyProof(int64_t old_size, int64_t new_size) override {
    ASSIGN_OR_RETURN(Json j, GetJson(client_, fmt::format("/log/proof/consistency?old={}&new={}", old_size, new_size)));
    return HashesFrom(j.value("proof", Json()), "the consistency proof");
  }
  absl::StatusOr<std::string> Tile(const translog::TileRef& tile) override {
    return client_.Get("/log/" + translog::TilePath(tile));
  }

 private:
  HttpClient& client_;
};

// One entry as a line for people.
std::string Describe(int64_t index, const std::string& entry) {
  absl::StatusOr<LogEvent> e = translog::EventFromEntry(entry);
  if (!e.ok()) return fmt::format("#{:<8} (not an event: {})", index, entry);
  std::string line = fmt::format("#{:<8} {}  {:<18} {:<22}", index, FormatRfc3339(e->time), e->type, e->actor);
  if (!e->model.empty()) line += fmt::format(" model={}", e->model);
  if (!e->level.empty()) line += fmt::format(" level={}", e->level);
  line += fmt::format("  {}", e->outcome);
  if (e->reason != "ok" && !e->reason.empty()) line += fmt::format(" ({})", e->reason);
  if (e->details != "{}") line += "  " + e->details;
  return line;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Replaces `path` atomically, so an interrupted run keeps the old state.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.flush();
    if (!out) return absl::PermissionDeniedError(fmt::format("cannot write {}", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::PermissionDeniedError(fmt::format("cannot replace {}: {}", path, ec.message()));
  return absl::OkStatus();
}

absl::Status Verify(const std::string& url, const std::string& key, const std::string& state_path) {
  ASSIGN_OR_RETURN(translog::NoteVerifier verifier, translog::NoteVerifier::Parse(key));
  std::optional<translog::VerifiedState> previous;
  if (!state_path.empty() && std::filesystem::exists(state_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(state_path));
    absl::StatusOr<translog::VerifiedState> state = translog::ParseState(text);
    if (!state.ok()) {
      return absl::InvalidArgumentError(fmt::format("{}: {}", state_path, std::string(state.status().message())));
    }
    previous = std::move(*state);
  }
  ASSIGN_OR_RETURN(auto client, HttpClient::ForUrl(url));
  HttpLogSource source(*client);
  ASSIGN_OR_RETURN(translog::VerifyResult result, translog::VerifyLog(source, verifier, previous));
  if (!state_path.empty()) RETURN_IF_ERROR(WriteFileAtomically(state_path, translog::SerializeState(result.state)));
  std::cout << fmt::format("verified {}: size {}, root {}\n", result.state.origin, result.state.size,
                           Base64Encode(translog::ToBytes(result.state.root)));
  if (previous) {
    std::cout << fmt::format("consistent with the saved checkpoint of size {}; {} new entries recomputed\n",
                             result.previous_size, result.new_entries);
  } else {
    std::cout << fmt::format("{} entries recomputed from the start\n", result.new_entries);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Services>> OpenLocal(const DataDir& dir, const std::string& config_path) {
  ASSIGN_OR_RETURN(Config config,
                   config_path.empty() ? absl::StatusOr<Config>(DefaultConfig()) : LoadConfigFile(config_path));
  return Services::Open(dir, config);
}

absl::Status Show(const std::string& url, const DataDir& dir, const std::string& config_path,
                  std::optional<int64_t> start, int64_t count) {
  if (url.empty() == dir.path.empty()) return absl::InvalidArgumentError("give either --url or --data");
  if (count < 1) return absl::InvalidArgumentError("--count must be at least 1");
  if (!dir.path.empty()) {
    ASSIGN_OR_RETURN(auto services, OpenLocal(dir, config_path));
    ASSIGN_OR_RETURN(LogHead head, services->log->Head());
    const int64_t from = std::clamp<int64_t>(start.value_or(head.size - count), 0, head.size);
    const int64_t to = std::min(head.size, from + count);
    ASSIGN_OR_RETURN(std::vector<std::string> entries, services->log->Entries(from, to));
    std::cout << fmt::format("{} entries; showing {} to {}\n", head.size, from, to);
    for (size_t i = 0; i < entries.size(); ++i)
      std::cout << Describe(from + static_cast<int64_t>(i), entries[i]) << "\n";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto client, HttpClient::ForUrl(url));
  int64_t from = 0;
  if (start) {
    from = *start;
  } else {
    ASSIGN_OR_RETURN(Json first, GetJson(*client, "/log/entries?start=0&end=0"));
    from = std::max<int64_t>(0, first.value("size", int64_t{0}) - count);
  }
  int64_t shown = 0;
  while (shown < count) {
    ASSIGN_OR_RETURN(Json page,
                     GetJson(*client, fmt::format("/log/entries?start={}&end={}", from, from + count - shown)));
    const Json& entries = page.value("entries", Json::array());
    if (!entries.is_array() || entries.empty()) break;
    for (const Json& e : entries) {
      std::cout << Describe(e.value("index", int64_t{-1}), e.value("entry", std::string())) << "\n";
      ++shown;
    }
    from = page.value("end", from + static_cast<int64_t>(entries.size()));
  }
  return absl::OkStatus();
}

absl::Status Mine(const std::string& url, const std::string& api_key, const std::string& key) {
  ASSIGN_OR_RETURN(translog::NoteVerifier verifier, translog::NoteVerifier::Parse(key));
  ASSIGN_OR_RETURN(auto client, HttpClient::ForUrl(url));
  std::optional<translog::Checkpoint> checkpoint;
  int64_t after = -1, proven = 0;
  for (;;) {
    const std::string target =
        after < 0 ? std::string("/log/mine?limit=1000") : fmt::format("/log/mine?after={}&limit=1000", after);
    ASSIGN_OR_RETURN(Json page, GetJson(*client, target, api_key));
    ASSIGN_OR_RETURN(std::string note, RequiredString(page, "checkpoint"));
    ASSIGN_OR_RETURN(translog::Checkpoint cp, translog::OpenCheckpoint(note, verifier));
    // Later pages may come with a newer checkpoint: each proof is checked against its own.
    if (!checkpoint) {
      std::cout << fmt::format("entries about {} in {} (checkpoint size {})\n", page.value("principal", ""), cp.origin,
                               cp.size);
    }
    checkpoint = cp;
    const Json& entries = page.value("entries", Json::array());
    if (!entries.is_array() || entries.empty()) break;
    for (const Json& e : entries) {
      const int64_t index = e.value("index", int64_t{-1});
      const std::string entry = e.value("entry", std::string());
      ASSIGN_OR_RETURN(std::vector<translog::Hash> proof, HashesFrom(e.value("proof", Json()), "an inclusion proof"));
      absl::Status included = translog::VerifyInclusion(index, cp.size, translog::LeafHash(entry), proof, cp.root);
      if (!included.ok()) {
        return absl::DataLossError(
            fmt::format("entry at index {} (leaf hash {}) is not proven in checkpoint size {}: {}", index,
                        translog::HashHex(translog::LeafHash(entry)), cp.size, std::string(included.message())));
      }
      std::cout << Describe(index, entry) << "\n";
      ++proven;
      after = index;
    }
  }
  std::cout << fmt::format("{} entries, each with a verified inclusion proof\n", proven);
  return absl::OkStatus();
}

absl::Status PrintKey(const DataDir& dir, const std::string& config_path) {
  ASSIGN_OR_RETURN(auto services, OpenLocal(dir, config_path));
  ASSIGN_OR_RETURN(LogHead head, services->log->Head());
  // With --config, the name the server will publish under; else the log's current one.
  const std::string& name = config_path.empty() ? head.origin : services->config.log.name;
  std::cout << translog::Ed25519VerifierKey(name, services->log_public_key) << std::endl;
  return absl::OkStatus();
}

}  // namespace

void AddLogCommands(CLI::App& cli, absl::Status& status) {
  // Options live as long as the CLI: main parses and runs before returning.
  struct Options {
    std::string url, key, state, data, store, config, api_key;
    int64_t start = -1, count = 20;
  };
  auto o = std::make_shared<Options>();
  auto* log = cli.add_subcommand("log", "the transparency log: verify, show, mine, key");
  log->require_subcommand(1);

  auto* verify = log->add_subcommand(
      "verify", "check the log's signed checkpoint, its consistency with the last run and every new entry");
  verify->add_option("--url", o->url, "the server, e.g. http://127.0.0.1:8080")->required();
  verify->add_option("--key", o->key, "the log's verifier key (name+hash+base64), obtained out of band")->required();
  verify->add_option("--state", o->state, "file remembering the last verified checkpoint between runs");
  verify->callback([o, &status] { status = Verify(o->url, o->key, o->state); });

  auto* show = log->add_subcommand("show", "print log entries for people (the latest by default)");
  show->add_option("--url", o->url, "read from a server");
  AddDataOptions(show, o->data, o->store, /*data_required=*/false);
  show->add_option("--config", o->config, "TOML config file (with --data)");
  show->add_option("--start", o->start, "first index (default: the last --count entries)");
  show->add_option("--count", o->count, "how many entries (default 20)");
  show->callback([o, &status] {
    status = Show(o->url, DataDir{o->data, o->store}, o->config,
                  o->start >= 0 ? std::optional<int64_t>(o->start) : std::nullopt, o->count);
  });

  auto* mine = log->add_subcommand("mine", "the entries about you, each with a verified inclusion proof");
  mine->add_option("--url", o->url, "the server")->required();
  mine->add_option("--api-key", o->api_key, "your API key (ak_...)")->required();
  mine->add_option("--key", o->key, "the log's verifier key")->required();
  mine->callback([o, &status] { status = Mine(o->url, o->api_key, o->key); });

  auto* key = log->add_subcommand("key", "print the verifier key to give to those who verify the log");
  AddDataOptions(key, o->data, o->store);
  key->add_option("--config", o->config, "TOML config file");
  key->callback([o, &status] { status = PrintKey(DataDir{o->data, o->store}, o->config); });
}

}  // namespace aperture
