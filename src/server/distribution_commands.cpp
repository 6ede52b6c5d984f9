#include "server/distribution_commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "access/access_service.h"
#include "api/files/licence_routes.h"
#include "core/hash.h"
#include "core/status_macros.h"
#include "distribution/file_digest.h"
#include "distribution/licence_terms.h"
#include "distribution/model_manifest.h"
#include "fmt/format.h"
#include "openness/openness_service.h"
#include "report/report_html.h"
#include "report/report_service.h"
#include "server/cli_options.h"

namespace aperture {
namespace {

// A text file given on the command line, bounded so a wrong path (a model,
// a device) is refused rather than read whole.
absl::StatusOr<std::string> ReadTextFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::InvalidArgumentError(fmt::format("cannot read {}: {}", path, ec.message()));
  if (size > max_bytes) {
    return absl::InvalidArgumentError(fmt::format("{} is {} bytes; at most {} are accepted", path, size, max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(fmt::format("cannot read {}", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

absl::StatusOr<Model> FindModel(Services& s, const std::string& id) {
  ASSIGN_OR_RETURN(std::optional<Model> model, s.store->FindModel(id));
  if (!model) return absl::NotFoundError(fmt::format("no model '{}'", id));
  return *model;
}

// `manifest verify`: the signature, then every file's digest.
absl::Status VerifyManifest(const std::string& manifest_path, const std::string& key_path,
                            const std::vector<std::string>& files, bool partial) {
  ASSIGN_OR_RETURN(std::string bundle, ReadTextFile(manifest_path, distribution::kMaxBundleBytes));
  ASSIGN_OR_RETURN(std::string key_pem, ReadTextFile(key_path, 16 * 1024));
  ASSIGN_OR_RETURN(distribution::EcdsaP256Verifier key, distribution::EcdsaP256Verifier::FromPem(key_pem));
  absl::StatusOr<distribution::ModelManifest> manifest = distribution::VerifyManifestBundle(bundle, key);
  if (!manifest.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{} does not verify: {}", manifest_path, std::string(manifest.status().message())));
  }
  std::cout << fmt::format("{}: model '{}', root {}, signed by the given key\n", manifest_path, manifest->model_name,
                           manifest->root_sha256);
  std::vector<distribution::ManifestFile> actual;
  for (const std::string& path : files) {
    ASSIGN_OR_RETURN(std::string digest, distribution::Sha256OfPath(path));
    actual.push_back({std::filesystem::path(path).filename().string(), std::move(digest)});
  }
  std::vector<std::string> differ, unknown, missing;
  for (const distribution::FileCheck& c : distribution::CompareFiles(*manifest, actual)) {
    switch (c.result) {
      case distribution::FileCheck::Result::kMatches:
        std::cout << fmt::format("  ok               {}\n", c.name);
        break;
      case distribution::FileCheck::Result::kDiffers:
        std::cout << fmt::format("  DIFFERS          {} (the manifest says {}, the file is {})\n", c.name, c.expected,
                                 c.actual);
        differ.push_back(c.name);
        break;
      case distribution::FileCheck::Result::kNotInManifest:
        std::cout << fmt::format("  NOT IN MANIFEST  {}\n", c.name);
        unknown.push_back(c.name);
        break;
      case distribution::FileCheck::Result::kNotGiven:
        std::cout << fmt::format("  not given        {}\n", c.name);
        missing.push_back(c.name);
        break;
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  if (!differ.empty()) {
    return absl::DataLossError(fmt::format("{} differ{} from the signed manifest: {}",
                                           differ.size() == 1 ? "1 file" : fmt::format("{} files", differ.size()),
                                           differ.size() == 1 ? "s" : "", join(differ)));
  }
  if (!unknown.empty()) return absl::DataLossError(fmt::format("not in the signed manifest: {}", join(unknown)));
  if (!missing.empty() && !partial) {
    return absl::FailedPreconditionError(
        fmt::format("not checked (give them, or --partial to check only the files given): {}", join(missing)));
  }
  std::cout << fmt::format("every file given matches the signed manifest\n");
  return absl::OkStatus();
}

void PrintCard(const Json& card) {
  std::cout << fmt::format(
      "model {}: {} ({}); OSI Open Source AI Definition: {}\n", card.value("model", ""),
      card["class"]["reached"].is_null() ? "no MOF class reached" : card["class"]["reached"].get<std::string>(),
      card["class"].value("status", ""), card["osaid"].value("meets", false) ? "meets" : "not met");
  for (const Json& c : card["classes"]) {
    std::cout << fmt::format("  {:<26} {:<12} {}/{} ({}%)\n", c.value("name", ""), c.value("status", ""),
                             c.value("counted", 0), c.value("required", 0), c.value("percent", 0));
  }
  for (const Json& c : card["components"]) {
    std::cout << fmt::format("  {:<32} {:<9} {}\n", c.value("name", ""), c.value("source", ""),
                             c.value("counts", false) ? "counts" : c.value("why_not", ""));
  }
}

}  // namespace

void AddDistributionCommands(CLI::App& cli, absl::Status& status, std::string& data, std::string& store,
                             const ServicesOpener& open) {
  // Options outlive the parse: CLI11 binds them by reference.
  static std::string model, spdx, name, file, levels, component, url, licence, note, manifest_path, key_path,
      report_path;
  static std::vector<std::string> files;
  static bool no_gate = false, partial = false, html = false, json = false;
  auto data_opt = [&](CLI::App* c) { AddDataOptions(c, data, store); };
  auto with = [&status, open](const std::function<absl::Status(Services&)>& fn) {
    return [&status, open, fn] {
      auto s = open("");
      status = s.ok() ? fn(**s) : s.status();
    };
  };
  const Caller op = AccessService::Operator();

  // licence
  auto* licence_cmd = cli.add_subcommand("licence", "a model's licence: what downloaders accept");
  licence_cmd->require_subcommand(1);
  auto* set =
      licence_cmd->add_subcommand("set", "set the licence (an SPDX id, or a custom licence's name) from a file");
  data_opt(set);
  set->add_option("--model", model)->required();
  set->add_option("--spdx", spdx, "SPDX licence id, e.g. Apache-2.0");
  set->add_option("--name", name, "the title of a custom licence (without --spdx)");
  set->add_option("--file", file, "the licence's full text")->required();
  set->add_option("--accept-levels", levels, "comma-separated levels whose callers must accept it (default: download)");
  set->add_flag("--no-gate", no_gate, "no level must accept it (it is still shown and shipped)");
  set->callback(with([op](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(std::string text, ReadTextFile(file, distribution::kMaxLicenceTextBytes));
    Json body = {{"text", text}};
    if (!spdx.empty()) body["spdx_id"] = spdx;
    if (!name.empty()) body["name"] = name;
    if (no_gate) {
      body["accept_levels"] = Json::array();
    } else if (!levels.empty()) {
      Json list = Json::array();
      for (size_t start = 0; start <= levels.size();) {
        size_t comma = levels.find(',', start);
        if (comma == std::string::npos) comma = levels.size();
        list.push_back(levels.substr(start, comma - start));
        start = comma + 1;
      }
      body["accept_levels"] = std::move(list);
    }
    ASSIGN_OR_RETURN(distribution::LicenceTerms terms, distribution::ParseLicenceTerms(body));
    ASSIGN_OR_RETURN(Licence l, s.distribution->SetLicence(op, model, terms));
    std::cout << fmt::format("licence of {} set: {} (sha256 {})\n", model, l.name, l.sha256);
    return absl::OkStatus();
  }));
  auto* show = licence_cmd->add_subcommand("show", "the licence in force, with its text");
  data_opt(show);
  show->add_option("--model", model)->required();
  show->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<Licence> l, s.store->FindLicence(model));
    if (!l) return absl::NotFoundError(fmt::format("model '{}' has no licence", model));
    std::cout << DumpJson(LicenceJson(*l, /*with_text=*/true), 2) << "\n";
    return absl::OkStatus();
  }));

  // model set-card
  CLI::App* model_cmd = nullptr;
  for (CLI::App* sub : cli.get_subcommands([](CLI::App* a) { return a->get_name() == "model"; })) model_cmd = sub;
  if (model_cmd != nullptr) {
    auto* card = model_cmd->add_subcommand("set-card", "the model card (Markdown), served as README.md");
    data_opt(card);
    card->add_option("--id", model)->required();
    card->add_option("--file", file, "a Markdown file")->required();
    card->callback(with([op](Services& s) -> absl::Status {
      ASSIGN_OR_RETURN(std::string text, ReadTextFile(file, AccessService::kMaxCardBytes));
      RETURN_IF_ERROR(s.access->SetModelCard(op, model, text));
      std::cout << fmt::format("model card of {} set (sha256 {})\n", model, Sha256Hex(text));
      return absl::OkStatus();
    }));
  }

  // openness
  auto* openness_cmd = cli.add_subcommand("openness", "the openness card: what is served, what is declared");
  openness_cmd->require_subcommand(1);
  auto* declare = openness_cmd->add_subcommand("declare", "declare a component published at a link");
  data_opt(declare);
  declare->add_option("--model", model)->required();
  declare->add_option("--component", component, "a MOF component id, e.g. data-card, technical-report")->required();
  declare->add_option("--url", url, "where it is published (http or https)")->required();
  declare->add_option("--licence", licence, "its SPDX licence id, e.g. CC-BY-4.0");
  declare->add_option("--note", note);
  declare->callback(with([op](Services& s) -> absl::Status {
    Json body = {{"url", url}};
    if (!licence.empty()) body["licence"] = licence;
    if (!note.empty()) body["note"] = note;
    ASSIGN_OR_RETURN(OpennessDeclaration d, s.openness->Declare(op, model, component, body));
    std::cout << fmt::format("{} of {} declared at {}\n", d.component, model, d.url);
    return absl::OkStatus();
  }));
  auto* withdraw = openness_cmd->add_subcommand("withdraw", "withdraw a declaration");
  data_opt(withdraw);
  withdraw->add_option("--model", model)->required();
  withdraw->add_option("--component", component)->required();
  withdraw->callback(with([op](Services& s) -> absl::Status {
    RETURN_IF_ERROR(s.openness->Withdraw(op, model, component));
    std::cout << fmt::format("declaration of {} for {} withdrawn\n", component, model);
    return absl::OkStatus();
  }));
  auto* card_show = openness_cmd->add_subcommand("show", "the openness card as served");
  data_opt(card_show);
  card_show->add_option("--model", model)->required();
  card_show->add_flag("--json", json, "print JSON, as GET /v1/models/{id}/openness answers");
  card_show->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(Model m, FindModel(s, model));
    ASSIGN_OR_RETURN(openness::OpennessCard card, s.openness->Card(m));
    Json j = openness::OpennessCardJson(card);
    if (json) {
      std::cout << DumpJson(j, 2) << "\n";
    } else {
      PrintCard(j);
    }
    return absl::OkStatus();
  }));

  // manifest
  auto* manifest = cli.add_subcommand("manifest", "signed manifests of a model's files");
  manifest->require_subcommand(1);
  auto* verify = manifest->add_subcommand(
      "verify", "check a manifest's signature and every file's digest; names any file that differs");
  verify->add_option("--manifest", manifest_path, "the manifest (model.sig, GET /v1/models/{id}/manifest)")->required();
  verify->add_option("--key", key_path, "the server's public key (PEM, GET /v1/signing-key)")->required();
  verify->add_option("files", files, "the downloaded files")->required();
  verify->add_flag("--partial", partial, "check only the files given");
  verify->callback([&status] { status = VerifyManifest(manifest_path, key_path, files, partial); });
  auto* key = manifest->add_subcommand("key", "print the public key manifests and reports are signed with (PEM)");
  data_opt(key);
  key->callback(with([](Services& s) -> absl::Status {
    std::cout << s.distribution->manifest_key().PublicPem();
    return absl::OkStatus();
  }));

  // report
  auto* report_cmd = cli.add_subcommand("report", "a model's signed transparency report");
  report_cmd->require_subcommand(1);
  auto* report_show = report_cmd->add_subcommand("show", "compute the report now (signed JSON, or --html)");
  data_opt(report_show);
  report_show->add_option("--model", model)->required();
  report_show->add_flag("--html", html, "the HTML page instead of the signed JSON");
  report_show->callback(with([](Services& s) -> absl::Status {
    ASSIGN_OR_RETURN(Model m, FindModel(s, model));
    s.recorder->Flush();
    ASSIGN_OR_RETURN(report::SignedReport r, s.reports->Report(m));
    std::cout << (html ? report::ReportHtml(r.report) : DumpJson(report::SignedReportJson(r), 2) + "\n");
    return absl::OkStatus();
  }));
  auto* report_verify = report_cmd->add_subcommand("verify", "check a signed report (GET /v1/models/{id}/report)");
  report_verify->add_option("--report", report_path)->required();
  report_verify->add_option("--key", key_path, "the server's public key (PEM, GET /v1/signing-key)")->required();
  report_verify->callback([&status] {
    status = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(std::string text, ReadTextFile(report_path, size_t{16} << 20));
      ASSIGN_OR_RETURN(std::string key_pem, ReadTextFile(key_path, 16 * 1024));
      ASSIGN_OR_RETURN(distribution::EcdsaP256Verifier key, distribution::EcdsaP256Verifier::FromPem(key_pem));
      ASSIGN_OR_RETURN(Json signed_report, report::VerifySignedReport(text, key));
      std::cout << fmt::format("{}: the transparency report of '{}' at log size {}, signed by the given key\n",
                               report_path, signed_report.value("model", ""),
                               signed_report["checkpoint"].value("size", 0));
      return absl::OkStatus();
    }();
  });
}

}  // namespace aperture
