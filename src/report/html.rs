//! `--format html`: one self-contained page (inline CSS, a CSP that forbids every request and
//! script), verdict first. The building blocks are shared with the dashboard.
//!
//! maud escapes every interpolated string, so a table named `<script>` stays text.

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::{short_hash, CheckReport, Context, PairReport, SnapshotInfo, Verdict};
use crate::findings::Finding;
use crate::rules::Severity;
use crate::signoff::{Signoff, SinceSignoff};
use crate::snapshot::Node;

/// The shared stylesheet.
pub const CSS: &str = include_str!("style.css");

/// Content-Security-Policy of every page, in a `<meta>`: styles and images inline, no scripts,
/// no requests. (`frame-ancestors` is not allowed in a meta element: see [`CSP_HEADER`].)
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'";

/// The dashboard's Content-Security-Policy header: the meta policy, and no framing.
pub const CSP_HEADER: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Longest value shown inline before it is cut.
const MAX_VALUE_CHARS: usize = 300;

/// Where findings link to: nowhere in a report file, their history page on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// A standalone file: no links to pages that do not exist.
    None,
    /// Served by the daemon: link to `/pairs/{pair}/findings/{fingerprint}`.
    Dashboard,
}

/// Renders the report as one HTML document.
pub fn render(report: &CheckReport, context: &Context) -> String {
    let title = match report.pairs.as_slice() {
        [one] => format!(
            "Release report: {} ({} vs {})",
            one.name, one.candidate, one.baseline
        ),
        _ => "Release report".to_string(),
    };
    let body = html! {
        h1 { (title) }
        p.dim { "Generated " (when(context.generated_at)) " by driftwarden " (env!("CARGO_PKG_VERSION"))
            ". Findings at or above " strong { (context.fail_on.as_str()) } " block the release." }
        @for pair in &report.pairs {
            (pair_section(pair, context, Links::None))
        }
    };
    page(&title, None, body).into_string()
}

/// A complete page around `body`; `nav` adds the dashboard's navigation bar.
pub fn page(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                // An inline icon, so browsers do not ask the server for /favicon.ico.
                link rel="icon" href="data:,";
                title { (title) " · driftwarden" }
                style { (PreEscaped(CSS)) }
            }
            body {
                @if let Some(nav) = nav {
                    header.top { span.brand { "driftwarden" } nav { (nav) } }
                }
                (body)
                footer { "driftwarden " (env!("CARGO_PKG_VERSION")) }
            }
        }
    }
}

/// Everything about one pair: verdict, sign-off, sources, findings, expected, expired rules.
pub fn pair_section(pair: &PairReport, context: &Context, links: Links) -> Markup {
    let signoff = context.signoffs.get(&pair.name);
    html! {
        section.pair {
            h2 { (pair.name) " " span.dim { "(" (pair.candidate) " vs " (pair.baseline) ")" } }
            (verdict_box(pair, context.fail_on))
            @if let Some((signoff, since)) = signoff {
                (signoff_box(signoff, since))
            }
            (sources_table(pair))
            (findings_list(pair, links))
            (expected_table(pair))
            @if !pair.expired_rules.is_empty() {
                h3 { "Expired ignore rules (no longer applied)" }
                ul {
                    @for rule in &pair.expired_rules {
                        li { code { (rule.id) } " (" (rule.origin) ") expired on " (rule.until)
                            "; it would have decided " (rule.matched) " difference(s)." }
                    }
                }
            }
            @if !pair.unmatched_sources.is_empty() {
                h3 { "Sources in one environment only (not compared)" }
                ul {
                    @for u in &pair.unmatched_sources {
                        li { code { (u.source) } " only in " (u.only_in) }
                    }
                }
            }
        }
    }
}

/// The verdict banner.
pub fn verdict_box(pair: &PairReport, fail_on: Severity) -> Markup {
    let verdict = pair.verdict(fail_on);
    let blocking = pair
        .findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .count();
    let below = pair.findings.len() - blocking;
    html! {
        div class=(format!("verdict {}", verdict.as_str())) {
            strong { (verdict.as_str().to_uppercase()) }
            @match verdict {
                Verdict::Ready => span { (pair.candidate) " mirrors " (pair.baseline)
                    ": no finding at or above " (fail_on.as_str()) "." }
                Verdict::Drift => span { (blocking) " finding(s) at or above " (fail_on.as_str())
                    " between " (pair.candidate) " and " (pair.baseline) "." }
                Verdict::Unknown => span { (pair.errors.len()) " source(s) could not be collected: "
                    "this is not a clean result." }
            }
            p {
                @for (severity, n) in pair.counts() {
                    span class=(format!("badge {severity}")) { (n) " " (severity.as_str()) } " "
                }
                @if below > 0 { span.dim { (below) " below the threshold. " } }
                span.dim { (pair.expected.len()) " expected difference(s) allowed by rules." }
            }
        }
    }
}

/// The sign-off in force and what changed since.
pub fn signoff_box(signoff: &Signoff, since: &[SinceSignoff]) -> Markup {
    html! {
        div.notice {
            "Last sign-off: " strong { (signoff.by) } " on " (when(signoff.at))
            @if !signoff.note.is_empty() { " — " em { (signoff.note) } }
            @if !signoff.accepted.is_empty() { " (" (signoff.accepted.len()) " finding(s) accepted)" }
            @if since.is_empty() {
                br; span.ready { "Nothing changed since sign-off." }
            } @else {
                ul.stale {
                    @for change in since { li { strong { (change.describe()) } } }
                }
            }
        }
    }
}

fn snapshot_cell(info: &Option<SnapshotInfo>) -> Markup {
    html! {
        @match info {
            Some(info) => {
                (when(info.taken_at)) br;
                (short_hash_markup(&info.hash)) span.dim { " · " (info.leaves) " leaves" }
            }
            None => span.down { "not collected" },
        }
    }
}

fn sources_table(pair: &PairReport) -> Markup {
    html! {
        h3 { "Sources" }
        table {
            thead { tr { th { "source" } th { "status" } th { (pair.baseline) " snapshot" } th { (pair.candidate) " snapshot" } } }
            tbody {
                @for source in &pair.sources {
                    tr {
                        td { code { (source.name) } }
                        td { span class=(format!("badge {}", source.status)) { (source.status) } }
                        td { (snapshot_cell(&source.baseline)) }
                        td { (snapshot_cell(&source.candidate)) }
                    }
                }
            }
        }
        @if !pair.errors.is_empty() {
            h3.unknown { "Could not collect" }
            table {
                thead { tr { th { "environment" } th { "source" } th { "reason" } th { "error" } } }
                tbody {
                    @for e in &pair.errors {
                        tr { td { (e.environment) } td { code { (e.source) } } td { (e.reason) } td { (e.message) } }
                    }
                }
            }
        }
    }
}

fn findings_list(pair: &PairReport, links: Links) -> Markup {
    html! {
        h3 { "Findings (" (pair.findings.len()) ")" }
        @if pair.findings.is_empty() { p.dim { "None." } }
        @for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
            @let list: Vec<&Finding> = pair.findings_at(severity).collect();
            @if !list.is_empty() {
                h3 class=(severity.as_str()) { (capitalized(severity.as_str())) " (" (list.len()) ")" }
                @for f in list { (finding_card(&pair.name, &pair.baseline, &pair.candidate, f, links)) }
            }
        }
    }
}

/// One finding: what, where, old → new (or a colored diff), why, and its identity.
pub fn finding_card(
    pair: &str,
    baseline: &str,
    candidate: &str,
    f: &Finding,
    links: Links,
) -> Markup {
    html! {
        div class=(format!("finding {}", f.severity.as_str())) id=(format!("f-{}", f.fingerprint)) {
            div {
                span class=(format!("badge {}", f.severity.as_str())) { (f.severity.as_str()) } " "
                code { (f.source) } " " code { (f.path.to_string()) } " " span.dim { (f.change.to_string()) }
            }
            @if let Some(diff) = &f.diff {
                (diff_block(diff))
            } @else {
                div.values {
                    (baseline) ": " (value(f.baseline.as_ref(), "old")) " → "
                    (candidate) ": " (value(f.candidate.as_ref(), "new"))
                }
            }
            @if let Some(note) = &f.note { div { (note) } }
            div.meta {
                "rule " code { (f.rule) } " · fingerprint "
                @match links {
                    Links::Dashboard => a href=(format!("/pairs/{}/findings/{}", segment(pair), segment(&f.fingerprint))) { code { (f.fingerprint) } },
                    Links::None => code { (f.fingerprint) },
                }
                @if let Some(url) = f.runbook_url.as_deref().filter(|u| is_web_url(u)) {
                    " · " a href=(url) rel="noreferrer noopener" { "runbook" }
                }
            }
        }
    }
}

/// A value inline, cut when long; absent values say so.
pub fn value(node: Option<&Node>, class: &str) -> Markup {
    match node {
        None => html! { span.dim { "(absent)" } },
        Some(node) => {
            let text = node.to_string();
            let shown: String = text.chars().take(MAX_VALUE_CHARS).collect();
            let cut = shown.len() < text.len();
            html! { code class=(class) { (shown) @if cut { "…" } } }
        }
    }
}

/// A unified diff with added, removed and hunk lines colored.
pub fn diff_block(diff: &str) -> Markup {
    html! {
        pre.diff {
            @for line in diff.lines() {
                @let class = if line.starts_with("@@") { "hunk" }
                    else if line.starts_with('+') { "add" }
                    else if line.starts_with('-') { "del" }
                    else { "" };
                @if class.is_empty() { (line) "\n" } @else { span class=(class) { (line) } }
            }
        }
    }
}

fn expected_table(pair: &PairReport) -> Markup {
    html! {
        h3 { "Expected differences (" (pair.expected.len()) ")" }
        @if pair.expected.is_empty() { p.dim { "None." } } @else {
            table {
                thead { tr { th { "rule" } th { "reason" } th { "differences" } } }
                tbody {
                    @for (rule, list) in pair.expected_groups() {
                        tr {
                            td { code { (rule) } }
                            td { (list.first().and_then(|e| e.reason.as_deref()).unwrap_or("")) }
                            td {
                                @for e in list {
                                    div { code { (e.source) } " " code { (e.path.to_string()) } " " span.dim { (e.change.to_string()) }
                                        @if let Some(note) = &e.note { " — " span.dim { (note) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A content hash shortened, in monospace.
pub fn short_hash_markup(hash: &str) -> Markup {
    html! { span.dim.mono title=(hash) { (short_hash(hash)) } }
}

/// Time as people read it in a report, to the second, UTC.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Everything but RFC 3986's unreserved characters is encoded in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment.
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// Only http(s) links are rendered as links; anything else (`javascript:`) stays text.
fn is_web_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_classed_and_escaped() {
        let out = diff_block("@@ -1 +1 @@\n-<b>old</b>\n+new\n same").into_string();
        assert!(out.contains("<span class=\"hunk\">@@ -1 +1 @@</span>"));
        assert!(out.contains("<span class=\"del\">-&lt;b&gt;old&lt;/b&gt;</span>"));
        assert!(out.contains("<span class=\"add\">+new</span>"));
        assert!(out.contains(" same\n"));
    }

    #[test]
    fn only_web_urls_become_links() {
        assert!(is_web_url("https://runbooks.example/drift"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url(" JavaScript:alert(1)"));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("a b/c-d.e"), "a%20b%2Fc-d.e");
    }
}
