#include "server/release_commands.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "core/status_macros.h"
#include "core/time_format.h"
#include "evals/progress_bar.h"
#include "evals/suite_parser.h"
#include "fmt/format.h"
#include "release/release_json.h"
#include "server/cli_options.h"
#include "server/http_client.h"

namespace aperture {
namespace {

// Ctrl-C during `eval run`: stop cleanly, keeping what finished.
std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted = true; }

absl::StatusOr<Level> LevelNamed(const std::string& name) {
  std::optional<Level> l = ParseLevel(name);
  if (!l) {
    return absl::InvalidArgumentError(
        fmt::format("unknown level '{}'; use closed, staged, hosted, api, research, download or open", name));
  }
  return *l;
}

void PrintReasons(const Json& reasons, const char* indent) {
  for (const Json& r : reasons) {
    std::cout << fmt::format("{}- {} [{}]\n", indent, r.value("message", ""), r.value("code", ""));
  }
}

void PrintRelease(const Json& v) {
  std::cout << fmt::format("model {}: public level {} since {}{}\n", v.value("model", ""), v.value("public_level", ""),
                           v.value("public_level_since", ""),
                           v.value("public_level_suspended", false) ? " (suspended above the ceiling)" : "");
  std::cout << fmt::format("ceiling: {}\n", v["ceiling"].value("level", ""));
  PrintReasons(v["ceiling"]["reasons"], "  ");
  std::cout << "domains:\n";
  for (const Json& d : v["domains"]) {
    std::cout << fmt::format("  {:<12} tier {:<8} ceiling {}\n", d.value("domain", ""), d.value("tier", ""),
                             d.value("ceiling", ""));
  }
  std::cout << "plan:\n";
  for (const Json& s : v["plan"]) {
    std::string state = s.value("reached", false) ? "reached" : s.value("gates_open", false) ? "gates open" : "waiting";
    std::cout << fmt::format("  {:<10} {:<11} {}\n", s.value("level", ""), state,
                             s.value("automatic", false) ? "automatic" : "owner approval");
    PrintReasons(s["waiting_for"], "      ");
  }
  if (!v["suspended_grants"].empty()) {
    std::cout << "suspended grants:\n";
    for (const Json& g : v["suspended_grants"]) {
      std::cout << fmt::format("  {} ({} at {})\n", g.value("grant", ""), g.value("principal", ""),
                               g.value("level", ""));
    }
  }
  std::cout << "history:\n";
  for (const Json& e : v["history"]) {
    std::cout << fmt::format("  {} {:<8} {} -> {} by {}: {}\n", e.value("time", ""), e.value("kind", ""),
                             e.value("from", ""), e.value("to", ""), e.value("actor", ""), e.value("reason", ""));
  }
}

void PrintRun(const EvalRunReport& r) {
  std::cout << fmt::format("run {}: {} on {}, {} ({}/{} items)\n", r.id, r.suite, r.model, r.state, r.done, r.total);
  for (const auto& [name, value] : r.metrics) std::cout << fmt::format("  {:<10} {:.4f}\n", name, value);
  for (const auto& [domain, tier] : r.tiers) std::cout << fmt::format("  domain {} -> tier {}\n", domain, tier);
  if (!r.error.empty()) std::cout << "  error: " << r.error << "\n";
}

absl::Status PrintRun(const Json& run) {
  ASSIGN_OR_RETURN(EvalRunReport report, ReadEvalRunJson(run));
  PrintRun(report);
  return absl::OkStatus();
}

// eval run --url: starts the run on the server and follows its progress.
absl::Status RunRemote(const std::string& url, const std::string& key, const std::string& model,
                       const std::string& suite) {
  std::string suite_name = suite;
  if (suite.ends_with(".jsonl")) {  // a file: the server runs its own copy, by name
    ASSIGN_OR_RETURN(evals::Suite s, evals::LoadSuite(suite));
    suite_name = s.info.name;
  }
  ASSIGN_OR_RETURN(auto client, HttpClient::ForUrl(url));
  const Json body = {{"model", model}, {"suite", suite_name}};
  ASSIGN_OR_RETURN(Json started, CallJson(*client, "POST", "/v1/evals/runs", key, &body));
  ASSIGN_OR_RETURN(EvalRunReport run, ReadEvalRunJson(started));
  evals::ProgressBar bar(stderr);
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_done = run.done;
  while (run.state == "running") {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSIGN_OR_RETURN(Json now, CallJson(*client, "GET", "/v1/evals/runs/" + run.id, key));
    ASSIGN_OR_RETURN(run, ReadEvalRunJson(now));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = seconds > 0 ? static_cast<double>(run.done - first_done) / seconds : 0;
    bar.Update({static_cast<size_t>(run.done), static_cast<size_t>(std::max(run.total, run.done)), rate,
                rate > 0 ? static_cast<double>(run.total - run.done) / rate : 0});
  }
  bar.Finish();
  PrintRun(run);
  if (run.state != "finished") return absl::AbortedError(fmt::format("run {} did not finish", run.id));
  return absl::OkStatus();
}

}  // namespace

void AddReleaseCommands(CLI::App& cli, absl::Status& status, std::string& data, std::string& store,
                        const ServicesOpener& open) {
  // Options outlive the parse: CLI11 binds them by reference.
  static std::string model, level, policy_path, suite, url, key, run_id;
  static bool json = false, dry_run = false;
  auto data_opt = [&](CLI::App* c) { AddDataOptions(c, data, store); };
  auto with = [&status, open](const std::function<absl::Status(Services&)>& fn) {
    return [&status, open, fn] {
      auto s = open("");
      status = s.ok() ? fn(**s) : s.status();
    };
  };

  // release
  auto* release = cli.add_subcommand("release", "a model's release under the policy");
  release->require_subcommand(1);
  auto* show = release->add_subcommand("show", "public level, ceiling and why, the stage plan, the history");
  data_opt(show);
  show->add_option("--model", model)->required();
  show->add_flag("--json", json, "print JSON, as GET /v1/models/{id}/release answers");
  show->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(auto view, s.release->Show(model));
    Json v = ReleaseViewJson(view);
    if (json) {
      std::cout << DumpJson(v, 2) << "\n";
    } else {
      PrintRelease(v);
    }
    return absl::OkStatus();
  }));
  auto* propose = release->add_subcommand("propose", "ask the policy for a new public level");
  data_opt(propose);
  propose->add_option("--model", model)->required();
  propose->add_option("--level", level)->required();
  propose->add_flag("--dry-run", dry_run, "only say whether the policy allows it (and why not); change nothing");
  propose->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(Level target, LevelNamed(level));
    ASSIGN_OR_RETURN(auto proposal, dry_run ? s.release->Check(AccessService::Operator(), model, target)
                                            : s.release->Propose(AccessService::Operator(), model, target));
    Json p = ProposalJson(proposal);
    std::cout << fmt::format("{} -> {}: {}{}\n", p.value("from", ""), p.value("to", ""),
                             proposal.allowed ? "allowed" : "refused", dry_run ? " (dry run: nothing changed)" : "");
    PrintReasons(p["reasons"], "  ");
    if (!proposal.allowed) {
      return absl::FailedPreconditionError(dry_run ? "the release policy would refuse the change"
                                                   : "the release policy refused the change");
    }
    return absl::OkStatus();
  }));
  auto* advance = release->add_subcommand("advance", "advance every automatic stage whose gates are open");
  data_opt(advance);
  advance->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(int moved, s.release->AdvanceDue());
    std::cout << fmt::format("{} model(s) advanced\n", moved);
    return absl::OkStatus();
  }));

  // eval
  auto* eval = cli.add_subcommand("eval", "evaluation runs");
  eval->require_subcommand(1);
  auto* run = eval->add_subcommand("run", "run a suite on a model (resumes an interrupted run of it)");
  AddDataOptions(run, data, store, /*data_required=*/false);
  run->add_option("--url", url, "a running server (run there; needs --key)");
  run->add_option("--key", key, "API key with the evaluate capability, for --url");
  run->add_option("--model", model)->required();
  run->add_option("--suite", suite, "suite file (.jsonl); with --url also a suite name of the server's policy")
      ->required();
  run->callback([&status, &data, open] {
    if (!url.empty()) {
      status = key.empty() ? absl::InvalidArgumentError("--url needs --key") : RunRemote(url, key, model, suite);
      return;
    }
    if (data.empty()) {
      status = absl::InvalidArgumentError("give --data DIR (run here) or --url URL --key KEY (run on a server)");
      return;
    }
    auto services = open("");
    if (!services.ok()) {
      status = services.status();
      return;
    }
    Services& s = **services;
    scheduler::Scheduler scheduler({.threads = s.config.serving.threads,
                                    .max_active = static_cast<int>(s.config.serving.max_active),
                                    .max_waiting = static_cast<int>(s.config.serving.max_waiting),
                                    .models = {.max_context = static_cast<int>(s.config.serving.max_context)}});
    EvalService evals(*s.store, *s.recorder, s.clock, *s.release, scheduler);
    evals::ProgressBar bar(stderr);
    std::signal(SIGINT, OnInterrupt);
    auto result = evals.RunNow(
        AccessService::Operator(), model, suite, [&](const evals::Progress& p) { bar.Update(p); }, &g_interrupted);
    std::signal(SIGINT, SIG_DFL);
    bar.Finish();
    if (absl::IsCancelled(result.status())) {
      status = absl::CancelledError("interrupted; the finished items are kept: run the same command to resume");
      return;
    }
    if (!result.ok()) {
      status = result.status();
      return;
    }
    status = PrintRun(EvalRunJson(*result));
  });
  auto* eval_show = eval->add_subcommand("show", "an evaluation run");
  data_opt(eval_show);
  eval_show->add_option("--run", run_id)->required();
  eval_show->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<EvalRun> r, s.store->FindEvalRun(run_id));
    if (!r) return absl::NotFoundError(fmt::format("no evaluation run with id '{}'", run_id));
    return PrintRun(EvalRunJson(*r));
  }));
  auto* eval_list = eval->add_subcommand("list", "evaluation runs, newest first");
  data_opt(eval_list);
  eval_list->add_option("--model", model, "only this model's");
  eval_list->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(auto runs, s.store->ListEvalRuns(model));
    std::cout << fmt::format("{:<22} {:<16} {:<20} {:<10} {}\n", "ID", "MODEL", "SUITE", "STATE", "FINISHED");
    for (const EvalRun& r : runs) {
      std::cout << fmt::format("{:<22} {:<16} {:<20} {:<10} {}\n", r.id, r.model_id, r.suite_name,
                               EvalRunStateName(r.state), r.finished_at ? FormatRfc3339(r.finished_at) : "-");
    }
    return absl::OkStatus();
  }));

  // policy
  auto* policy_cmd = cli.add_subcommand("policy", "release policy files");
  policy_cmd->require_subcommand(1);
  auto* check = policy_cmd->add_subcommand("check", "validate a policy file (changes nothing)");
  check->add_option("file", policy_path)->required();
  check->callback([&status] {
    auto p = policy::LoadPolicy(policy_path);
    if (!p.ok()) {
      status = p.status();
      return;
    }
    size_t suites = 0;
    for (const policy::Domain& d : p->domains) suites += d.suites.size();
    std::cout << fmt::format("{}: valid ({} domains, {} suites, {} stages, {} rollback rules; sha256 {})\n",
                             policy_path, p->domains.size(), suites, p->stages.size(), p->rollback.size(), p->sha256);
    status = absl::OkStatus();
  });

  auto* use =
      policy_cmd->add_subcommand("use", "put a policy file in force (a running server follows within a second)");
  data_opt(use);
  use->add_option("file", policy_path)->required();
  use->callback([&status, open] {
    auto s = open(policy_path);
    if (!s.ok()) {
      status = s.status();
      return;
    }
    std::cout << fmt::format("policy {} is in force (sha256 {})\n", policy_path, (*s)->release->policy()->sha256);
    status = absl::OkStatus();
  });
}

}  // namespace aperture
