#include "report/report_html.h"

#include "core/markup_escape.h"
#include "fmt/format.h"

namespace aperture::report {
namespace {

// A JSON value as escaped text (strings without quotes).
std::string Text(const Json& v) {
  if (v.is_null()) return "–";
  if (v.is_string()) return EscapeMarkup(v.get<std::string>());
  return EscapeMarkup(CanonicalJson(v));
}

const Json& At(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// A link only to http(s) URLs or the server's own paths.
std::string Link(const Json& where) {
  if (!where.is_string()) return Text(where);
  const std::string& url = where.get_ref<const std::string&>();
  const bool safe = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0 || url.rfind("/v1/", 0) == 0;
  if (!safe) return EscapeMarkup(url);
  return fmt::format("<a href=\"{0}\">{0}</a>", EscapeMarkup(url));
}

void Section(std::string& out, std::string_view title) { out += fmt::format("<h2>{}</h2>\n", EscapeMarkup(title)); }

}  // namespace

std::string ReportHtml(const Json& report) {
  std::string out;
  const std::string model = Text(At(report, "model"));
  out += fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Transparency report: {0}</title>"
      "<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}"
      "table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;"
      "text-align:left;vertical-align:top}}code{{word-break:break-all}}</style></head><body>\n"
      "<h1>Transparency report: {0}</h1>\n",
      model);
  const Json& checkpoint = At(report, "checkpoint");
  out += fmt::format(
      "<p>Computed at {} over the transparency log's first {} entries (origin <code>{}</code>, root <code>{}</code>). "
      "The JSON form of this report is signed; see <a href=\"/v1/models/{}/report\">the signed report</a> and "
      "<a href=\"/v1/signing-key\">the signing key</a>.</p>\n<pre>{}</pre>\n",
      Text(At(report, "computed_at")), Text(At(checkpoint, "size")), Text(At(checkpoint, "origin")),
      Text(At(checkpoint, "root")), model, Text(At(checkpoint, "note")));

  const Json& release = At(report, "release");
  Section(out, "Release");
  out += fmt::format("<p>Public level <b>{}</b>; ceiling <b>{}</b>{}.</p>\n", Text(At(release, "public_level")),
                     Text(At(release, "ceiling")),
                     At(release, "ceiling_reason").is_string() && !At(release, "ceiling_reason").empty()
                         ? ": " + Text(At(release, "ceiling_reason"))
                         : std::string());
  for (const char* key : {"history", "ceiling_history"}) {
    out += fmt::format(
        "<h3>{}</h3>\n<table><tr><th>Time</th><th>Kind</th><th>From</th><th>To</th><th>By</th>"
        "<th>Reason</th></tr>\n",
        std::string(key) == "history" ? "Release history" : "Ceiling history");
    for (const Json& e : At(release, key)) {
      out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                         Text(At(e, "time")), Text(At(e, "kind")), Text(At(e, "from")), Text(At(e, "to")),
                         Text(At(e, "actor")), Text(At(e, "reason")));
    }
    out += "</table>\n";
  }

  Section(out, "Evaluations");
  out +=
      "<table><tr><th>Suite</th><th>Domain</th><th>Finished</th><th>Metrics</th><th>Tiers</th>"
      "<th>Results SHA-256</th></tr>\n";
  for (const Json& r : At(report, "evaluations")) {
    const Json& suite = At(r, "suite");
    out += fmt::format(
        "<tr><td>{} {}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td>"
        "<td><code>{}</code></td></tr>\n",
        Text(At(suite, "name")), Text(At(suite, "version")), Text(At(suite, "domain")), Text(At(r, "finished_at")),
        Text(At(r, "metrics")), Text(At(r, "tiers")), Text(At(r, "results_sha256")));
  }
  out += "</table>\n";

  const Json& findings = At(report, "findings");
  Section(out, "Findings");
  out += fmt::format("<p>{} finding(s). By state: <code>{}</code>. By severity: <code>{}</code>.{}</p>\n",
                     Text(At(findings, "total")), Text(At(findings, "by_state")), Text(At(findings, "by_severity")),
                     At(findings, "note").is_string() ? " " + Text(At(findings, "note")) : std::string());

  Section(out, "Access by level");
  out += fmt::format("<p>Counted from the log's entries {}.</p>\n",
                     Text(At(At(report, "access"), "counted_over_entries")));
  out +=
      "<table><tr><th>Level</th><th>Principals</th><th>Requests</th><th>Denied</th><th>Failed</th><th>Tokens</th>"
      "<th>Downloads</th><th>Bytes downloaded</th><th>Research queries</th></tr>\n";
  for (const auto& [level, a] : At(At(report, "access"), "by_level").items()) {
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td></tr>\n",
        EscapeMarkup(level), Text(At(a, "principals")), Text(At(a, "requests")), Text(At(a, "denied")),
        Text(At(a, "failed")), Text(At(a, "tokens")), Text(At(a, "downloads")), Text(At(a, "download_bytes")),
        Text(At(a, "research_queries")));
  }
  out += "</table>\n";

  Section(out, "Licence");
  const Json& licence = At(report, "licence");
  if (licence.is_null()) {
    out += "<p>No licence has been set.</p>\n";
  } else {
    out += fmt::format("<p>{} ({}), SHA-256 <code>{}</code>; accepted before use at: {}. {}</p>\n",
                       Text(At(licence, "name")), Text(At(licence, "spdx_id")), Text(At(licence, "sha256")),
                       Text(At(licence, "accept_levels")), Link(At(licence, "text")));
  }

  Section(out, "Manifest");
  const Json& manifest = At(report, "manifest");
  if (manifest.is_null()) {
    out += "<p>The model's files are not served.</p>\n";
  } else {
    out += fmt::format(
        "<p>Root SHA-256 <code>{}</code>, signed at {}; log leaf <code>{}</code>. {}</p>\n"
        "<table><tr><th>File</th><th>Size</th><th>SHA-256</th></tr>\n",
        Text(At(manifest, "root_sha256")), Text(At(manifest, "signed_at")), Text(At(manifest, "log_leaf_hash")),
        Link(At(manifest, "bundle")));
    for (const Json& f : At(manifest, "files")) {
      out += fmt::format("<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n", Text(At(f, "name")),
                         Text(At(f, "size")), Text(At(f, "sha256")));
    }
    out += "</table>\n";
  }

  const Json& card = At(report, "openness");
  Section(out, "Openness");
  const Json& cls = At(card, "class");
  out += fmt::format("<p>Model Openness Framework: <b>{}</b> ({}). OSI Open Source AI Definition: {}.</p>\n",
                     At(cls, "reached").is_null() ? "no class reached" : Text(At(cls, "reached")),
                     Text(At(cls, "status")), At(At(card, "osaid"), "meets") == true ? "meets" : "does not meet");
  out +=
      "<table><tr><th>Component</th><th>Source</th><th>Available to</th><th>Licence</th><th>Where</th>"
      "<th>Counts</th></tr>\n";
  for (const Json& c : At(card, "components")) {
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       Text(At(c, "name")), Text(At(c, "source")), Text(At(c, "to_whom")), Text(At(c, "licence")),
                       Link(At(c, "where")), At(c, "counts") == true ? "yes" : Text(At(c, "why_not")));
  }
  out += "</table>\n</body></html>\n";
  return out;
}

}  // namespace aperture::report
