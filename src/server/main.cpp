// aperture: the command line. Admin commands work directly on the store of
// --data (or --store: both stores are safe to share with running servers,
// which see changes within 0.1 s); `serve` runs the HTTP server.
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "api/views.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "fmt/format.h"
#include "server/app.h"
#include "server/cli_options.h"
#include "server/distribution_commands.h"
#include "server/engine_commands.h"
#include "server/init.h"
#include "server/log_commands.h"
#include "server/release_commands.h"
#include "spdlog/spdlog.h"
#include "store/open_store.h"

namespace aperture {
namespace {

int Fail(const absl::Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  return path.empty() ? absl::StatusOr<Config>(DefaultConfig()) : LoadConfigFile(path);
}

absl::StatusOr<std::unique_ptr<Services>> OpenServices(const DataDir& dir, const std::string& config_path,
                                                       const std::string& policy_path = "") {
  ASSIGN_OR_RETURN(Config config, LoadConfig(config_path));
  return Services::Open(dir, config, SystemClock::Get(), policy_path);
}

absl::StatusOr<Level> LevelArg(const std::string& name) {
  auto l = ParseLevel(name);
  if (!l)
    return absl::InvalidArgumentError(
        fmt::format("unknown level '{}'; use closed, staged, hosted, api, research, download or open", name));
  return *l;
}

absl::StatusOr<std::optional<int64_t>> DurationArg(const std::string& text) {
  if (text.empty()) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t s, ParseDurationSeconds(text));
  return std::optional<int64_t>(s);
}

std::string When(int64_t t) { return t == 0 ? "-" : FormatRfc3339(t); }

absl::Status Init(const DataDir& dir) {
  ASSIGN_OR_RETURN(std::string owner_key, InitializeDataDir(dir));
  std::cerr << "Initialised " << dir.path << (dir.store.empty() ? "" : " and " + store::RedactLocation(dir.store))
            << ". The owner key below is shown once; store it now.\n";
  std::cout << owner_key << std::endl;
  return absl::OkStatus();
}

// Enough file descriptors for max_connections, plus the store, the log and
// the models: the soft limit is raised as far as the hard limit allows.
void RaiseOpenFileLimit(int64_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const auto wanted = static_cast<rlim_t>(max_connections + 64);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < wanted) {
    spdlog::warn(
        "the open-files limit is {} (raise the hard limit, e.g. systemd's LimitNOFILE): server.max_connections = {} "
        "needs {}; past it, new connections wait to be accepted",
        limit.rlim_cur, max_connections, wanted);
  }
}

absl::Status Serve(const DataDir& dir, const std::string& listen, const std::string& config_path,
                   const std::string& policy_path) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError("--listen must be HOST:PORT");
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) return absl::InvalidArgumentError("--listen port must be 0-65535");
  ASSIGN_OR_RETURN(auto services, OpenServices(dir, config_path, policy_path));
  RaiseOpenFileLimit(services->config.server.max_connections);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
  ASSIGN_OR_RETURN(auto app, App::Start(*services, listen.substr(0, colon), static_cast<uint16_t>(port)));
  std::cout << fmt::format("aperture listening on http://{}:{}", listen.substr(0, colon), app->port()) << std::endl;
  for (int sig = 0; sigwait(&signals, &sig) == 0 && sig == SIGHUP;) {
    // SIGHUP: re-read the policy file; a bad one is refused and the running policy kept.
    absl::Status reloaded = services->ReloadPolicy("cli");
    if (reloaded.ok()) {
      spdlog::info("policy reloaded: sha256 {}", services->release->policy()->sha256);
    } else {
      spdlog::error("policy not reloaded, the running one is kept: {}", std::string(reloaded.message()));
    }
  }
  spdlog::info("shutting down");
  app->Stop();
  return absl::OkStatus();
}

}  // namespace
}  // namespace aperture

int main(int argc, char** argv) {
  using namespace aperture;
  ::umask(077);  // the data directory holds secrets: nothing we create is for others
  CLI::App cli{"Aperture: release an AI model anywhere between closed and open, as the evidence allows."};
  cli.require_subcommand(1);
  std::string data, store, config_path, listen = "127.0.0.1:8080";
  absl::Status status;
  auto data_opt = [&](CLI::App* c) { AddDataOptions(c, data, store); };
  auto with = [&](auto&& fn) {
    return [&, fn] {
      auto s = OpenServices(DataDir{data, store}, config_path);
      status = s.ok() ? fn(**s) : s.status();
    };
  };
  const Caller op = AccessService::Operator();

  auto* init = cli.add_subcommand("init", "create a data directory and print the first owner key");
  data_opt(init);
  init->callback([&] { status = Init(DataDir{data, store}); });

  auto* serve = cli.add_subcommand("serve", "run the HTTP server");
  data_opt(serve);
  serve->add_option("--listen", listen, "HOST:PORT (port 0 picks a free one)");
  serve->add_option("--config", config_path, "TOML config file (see docs/config.md)");
  std::string policy_path;
  serve->add_option("--policy", policy_path,
                    "release policy file to put in force (see docs/policy.md; default: the one in force)");
  serve->callback([&] { status = Serve(DataDir{data, store}, listen, config_path, policy_path); });

  // model
  auto* model = cli.add_subcommand("model", "register and list models (public levels change with `release propose`)");
  model->require_subcommand(1);
  std::string model_id, model_path, level_name = "closed", fields_json;
  std::string declared_digest;
  auto* model_add = model->add_subcommand(
      "add", "register a model file (--path), or a model served by remote backends (--declared-digest)");
  data_opt(model_add);
  model_add->add_option("--id", model_id)->required();
  model_add->add_option("--path", model_path, "the GGUF file this server's engine serves");
  model_add->add_option("--declared-digest", declared_digest,
                        "sha256:<64 hex> of the weights remote backends serve, as you declare it (not verified)");
  model_add->add_option("--public-level", level_name, "default: closed");
  model_add->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(Level l, LevelArg(level_name));
    if (model_path.empty() == declared_digest.empty()) {
      return absl::InvalidArgumentError("give --path (a model file) or --declared-digest (remote backends), not both");
    }
    ASSIGN_OR_RETURN(Model m, model_path.empty() ? s.access->AddRemoteModel(op, model_id, declared_digest, l)
                                                 : s.access->AddModel(op, model_id, model_path, l));
    std::cout << fmt::format("model {} registered at public level {}{}\n", m.id, LevelName(m.public_level),
                             m.path.empty() ? " (served by remote backends: add them with `model backend add`)" : "");
    return absl::OkStatus();
  }));
  auto* model_digest = model->add_subcommand("set-digest", "the digest of a model's weights, as its owner declares it");
  data_opt(model_digest);
  model_digest->add_option("--id", model_id)->required();
  model_digest->add_option("--declared-digest", declared_digest, "sha256:<64 hex>, or \"\" to clear")->required();
  model_digest->callback(with([&](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.access->SetDeclaredDigest(op, model_id, declared_digest));
    std::cout << "declared digest updated\n";
    return absl::OkStatus();
  }));

  // model backend: remote OpenAI-compatible servers (docs/deploy.md)
  auto* backend = model->add_subcommand("backend", "remote backends serving a model's hosted and api traffic");
  backend->require_subcommand(1);
  std::string backend_url, api_model, api_key_env, backend_id;
  int64_t weight = 1;
  auto* backend_add = backend->add_subcommand("add", "add a backend (every replica uses it within a second)");
  data_opt(backend_add);
  backend_add->add_option("--model", model_id)->required();
  backend_add->add_option("--url", backend_url, "http://host:port of an OpenAI-compatible server, or 'embedded'")
      ->required();
  backend_add->add_option("--weight", weight, "share of the traffic, 1-1000 (default 1)");
  backend_add->add_option("--api-model", api_model, "the model's name at the backend (default: the model's id)");
  backend_add->add_option(
      "--api-key-env", api_key_env,
      "environment variable holding the backend's token on each replica (the token is never stored)");
  backend_add->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(ModelBackend b, s.access->AddBackend(op, model_id, backend_url, weight, api_model, api_key_env));
    std::cout << fmt::format("backend {} added to {}: {} (weight {})\n", b.id, b.model_id, b.url, b.weight);
    return absl::OkStatus();
  }));
  auto* backend_list = backend->add_subcommand("list", "list backends");
  data_opt(backend_list);
  backend_list->add_option("--model", model_id, "one model's (default: all)");
  backend_list->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(auto rows, s.store->ListModelBackends(model_id));
    std::cout << fmt::format("{:<22} {:<20} {:<6} {:<34} {:<16} {}\n", "ID", "MODEL", "WEIGHT", "URL", "API MODEL",
                             "TOKEN VARIABLE");
    for (const ModelBackend& b : rows) {
      std::cout << fmt::format("{:<22} {:<20} {:<6} {:<34} {:<16} {}\n", b.id, b.model_id, b.weight, b.url,
                               b.api_model.empty() ? "-" : b.api_model, b.api_key_env.empty() ? "-" : b.api_key_env);
    }
    return absl::OkStatus();
  }));
  auto* backend_weight = backend->add_subcommand("weight", "change a backend's share of the traffic");
  data_opt(backend_weight);
  backend_weight->add_option("--id", backend_id)->required();
  backend_weight->add_option("--weight", weight, "1-1000")->required();
  backend_weight->callback(with([&](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.access->SetBackendWeight(op, backend_id, weight));
    std::cout << fmt::format("backend {} now has weight {}\n", backend_id, weight);
    return absl::OkStatus();
  }));
  auto* backend_remove = backend->add_subcommand("remove", "remove a backend");
  data_opt(backend_remove);
  backend_remove->add_option("--id", backend_id)->required();
  backend_remove->callback(with([&](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.access->RemoveBackend(op, backend_id));
    std::cout << fmt::format("backend {} removed\n", backend_id);
    return absl::OkStatus();
  }));
  auto* model_list = model->add_subcommand("list", "list models");
  data_opt(model_list);
  model_list->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(auto models, s.store->ListModels());
    std::cout << fmt::format("{:<24} {:<10} {}\n", "ID", "PUBLIC", "PATH");
    for (const Model& m : models)
      std::cout << fmt::format("{:<24} {:<10} {}\n", m.id, LevelName(m.public_level), m.path);
    return absl::OkStatus();
  }));
  auto* model_fields =
      model->add_subcommand("set-request-fields", "the form an access request must fill in (JSON array)");
  data_opt(model_fields);
  model_fields->add_option("--id", model_id)->required();
  model_fields
      ->add_option("--fields", fields_json, "e.g. [{\"name\":\"affiliation\",\"type\":\"text\",\"required\":true}]")
      ->required();
  model_fields->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(Json fields, ParseJson(fields_json));
    RETURN_IF_ERROR(s.access->SetRequestFields(op, model_id, fields));
    std::cout << "request fields updated\n";
    return absl::OkStatus();
  }));

  std::string system_prompt;
  auto* model_prompt = model->add_subcommand("set-system-prompt", "the prompt put before chats at hosted level");
  data_opt(model_prompt);
  model_prompt->add_option("--id", model_id)->required();
  model_prompt->add_option("--prompt", system_prompt)->required();
  model_prompt->callback(with([&](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.access->SetSystemPrompt(op, model_id, system_prompt));
    std::cout << "system prompt updated\n";
    return absl::OkStatus();
  }));

  // principal
  auto* principal = cli.add_subcommand("principal", "people, teams and services");
  principal->require_subcommand(1);
  std::string name, role_name = "member";
  auto* principal_add = principal->add_subcommand("add", "add a principal");
  data_opt(principal_add);
  principal_add->add_option("--name", name)->required();
  principal_add->add_option("--role", role_name, "owner, reviewer or member (default)");
  principal_add->callback(with([&](Services& s) -> absl::Status {
    auto role = ParseRole(role_name);
    if (!role) return absl::InvalidArgumentError("--role must be owner, reviewer or member");
    ASSIGN_OR_RETURN(Principal p, s.access->AddPrincipal(op, name, *role));
    std::cout << fmt::format("principal {} ({}) added as {}\n", p.name, p.id, RoleName(p.role));
    return absl::OkStatus();
  }));
  auto* principal_list = principal->add_subcommand("list", "list principals");
  data_opt(principal_list);
  principal_list->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(auto all, s.store->ListPrincipals());
    std::cout << fmt::format("{:<22} {:<20} {}\n", "ID", "NAME", "ROLE");
    for (const Principal& p : all) std::cout << fmt::format("{:<22} {:<20} {}\n", p.id, p.name, RoleName(p.role));
    return absl::OkStatus();
  }));

  // key
  auto* key = cli.add_subcommand("key", "API keys");
  key->require_subcommand(1);
  std::string expires, key_id;
  auto* key_create = key->add_subcommand("create", "create a key (printed once)");
  data_opt(key_create);
  key_create->add_option("--principal", name)->required();
  key_create->add_option("--expires", expires, "e.g. 30d, 12h");
  key_create->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(auto ttl, DurationArg(expires));
    ASSIGN_OR_RETURN(CreatedKey k, s.access->CreateKey(op, name, ttl));
    std::cerr << fmt::format("key {} created for {}; it is shown once:\n", k.key.id, name);
    std::cout << k.plaintext << std::endl;
    return absl::OkStatus();
  }));
  auto* key_list = key->add_subcommand("list", "list keys (never the keys themselves)");
  data_opt(key_list);
  key_list->add_option("--principal", name);
  key_list->callback(with([&](Services& s) -> absl::Status {
    std::string pid;
    if (!name.empty()) {
      ASSIGN_OR_RETURN(Principal p, s.access->ResolvePrincipal(name));
      pid = p.id;
    }
    ASSIGN_OR_RETURN(auto keys, s.store->ListApiKeys(pid));
    std::cout << fmt::format("{:<22} {:<22} {:<21} {:<21} {:<21} {}\n", "ID", "PRINCIPAL", "CREATED", "EXPIRES",
                             "LAST USED", "REVOKED");
    for (const ApiKey& k : keys) {
      std::cout << fmt::format("{:<22} {:<22} {:<21} {:<21} {:<21} {}\n", k.id, k.principal_id, When(k.created_at),
                               When(k.expires_at), When(k.last_used_at), When(k.revoked_at));
    }
    return absl::OkStatus();
  }));
  auto* key_revoke = key->add_subcommand("revoke", "revoke a key");
  data_opt(key_revoke);
  key_revoke->add_option("--id", key_id)->required();
  key_revoke->callback(with([&](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.access->RevokeKey(op, key_id));
    std::cout << fmt::format("key {} revoked\n", key_id);
    return absl::OkStatus();
  }));

  // grant / revoke
  std::string reason, grant_id;
  auto* grant = cli.add_subcommand("grant", "give a principal a level on a model");
  data_opt(grant);
  grant->add_option("--principal", name)->required();
  grant->add_option("--model", model_id)->required();
  grant->add_option("--level", level_name)->required();
  grant->add_option("--expires", expires, "e.g. 90d");
  grant->add_option("--reason", reason)->required();
  std::string scope = "{}";
  grant->add_option("--scope", scope,
                    "research scope narrowed for this grant, as JSON, e.g. "
                    "'{\"inspect_sites\":[\"blocks.*.hook_resid_post\"],\"research_max_tokens\":4096}'");
  grant->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(Level l, LevelArg(level_name));
    ASSIGN_OR_RETURN(auto ttl, DurationArg(expires));
    ASSIGN_OR_RETURN(Grant g, s.access->GrantAccess(op, name, model_id, l, ttl, reason, scope));
    std::cout << fmt::format("grant {}: {} has {} on {} until {}\n", g.id, name, LevelName(l), model_id,
                             When(g.expires_at));
    return absl::OkStatus();
  }));
  auto* revoke = cli.add_subcommand("revoke", "revoke a grant");
  data_opt(revoke);
  revoke->add_option("--grant", grant_id)->required();
  revoke->callback(with([&](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.access->RevokeGrant(op, grant_id));
    std::cout << fmt::format("grant {} revoked\n", grant_id);
    return absl::OkStatus();
  }));
  auto* grants = cli.add_subcommand("grants", "list grants");
  data_opt(grants);
  grants->add_option("--principal", name);
  grants->add_option("--model", model_id);
  grants->callback(with([&](Services& s) -> absl::Status {
    std::string pid;
    if (!name.empty()) {
      ASSIGN_OR_RETURN(Principal p, s.access->ResolvePrincipal(name));
      pid = p.id;
    }
    ASSIGN_OR_RETURN(auto list, s.store->ListGrants(pid, model_id));
    for (const Grant& g : list) std::cout << DumpJson(View(g)) << "\n";
    return absl::OkStatus();
  }));

  // request
  auto* request = cli.add_subcommand("request", "access requests");
  request->require_subcommand(1);
  std::string request_id, state_name;
  auto* request_list = request->add_subcommand("list", "list access requests");
  data_opt(request_list);
  request_list->add_option("--state", state_name, "pending, approved or denied");
  request_list->callback(with([&](Services& s) -> absl::Status {
    std::optional<RequestState> state;
    if (!state_name.empty()) {
      state = ParseRequestState(state_name);
      if (!state) return absl::InvalidArgumentError("--state must be pending, approved or denied");
    }
    ASSIGN_OR_RETURN(auto list, s.access->ListRequests(op, state));
    for (const AccessRequest& r : list) std::cout << DumpJson(View(r)) << "\n";
    return absl::OkStatus();
  }));
  std::string approve_level;
  auto* request_approve = request->add_subcommand("approve", "approve, possibly at a lower level or with an expiry");
  data_opt(request_approve);
  request_approve->add_option("--id", request_id)->required();
  request_approve->add_option("--level", approve_level);
  request_approve->add_option("--expires", expires);
  request_approve->add_option("--reason", reason);
  request_approve->callback(with([&](Services& s) -> absl::Status {
    std::optional<Level> l;
    if (!approve_level.empty()) {
      ASSIGN_OR_RETURN(l, LevelArg(approve_level));
    }
    ASSIGN_OR_RETURN(auto ttl, DurationArg(expires));
    ASSIGN_OR_RETURN(AccessRequest r, s.access->Approve(op, request_id, l, ttl, reason));
    std::cout << fmt::format("request {} approved: grant {}\n", r.id, r.grant_id);
    return absl::OkStatus();
  }));
  auto* request_deny = request->add_subcommand("deny", "deny with a reason the requester sees");
  data_opt(request_deny);
  request_deny->add_option("--id", request_id)->required();
  request_deny->add_option("--reason", reason)->required();
  request_deny->callback(with([&](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(AccessRequest r, s.access->Deny(op, request_id, reason));
    std::cout << fmt::format("request {} denied\n", r.id);
    return absl::OkStatus();
  }));

  AddLogCommands(cli, status);
  AddReleaseCommands(cli, status, data, store, [&](const std::string& policy) {
    return OpenServices(DataDir{data, store}, config_path, policy);
  });
  AddDistributionCommands(cli, status, data, store, [&](const std::string& policy) {
    return OpenServices(DataDir{data, store}, config_path, policy);
  });
  AddEngineCommands(cli);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  return status.ok() ? 0 : Fail(status);
}
