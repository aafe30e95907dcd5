//! `--format markdown`: fits a pull-request comment.

use super::text::short;
use super::{CheckReport, PairStatus};

/// Renders the report as Markdown.
pub fn render(report: &CheckReport) -> String {
    let mut out = String::from("# driftwarden check\n");
    for pair in &report.pairs {
        let badge = match pair.status {
            PairStatus::Clean => "✅ clean",
            PairStatus::Drift => "⚠️ drift",
            PairStatus::Unknown => "❓ unknown",
        };
        emit!(
            out,
            "\n## {} ({} → {}): {badge}\n",
            pair.name,
            pair.baseline,
            pair.candidate
        );
        if !pair.errors.is_empty() {
            emit!(
                out,
                "**Could not collect** (the pair is unknown, not clean):\n"
            );
            for e in &pair.errors {
                emit!(
                    out,
                    "- `{}/{}` ({}): {}",
                    e.environment,
                    e.source,
                    e.reason,
                    cell(&e.message)
                );
            }
            out.push('\n');
        }
        if pair.findings.is_empty() {
            out.push_str("No findings.\n");
        } else {
            out.push_str("| severity | source | change | path | baseline | candidate | rule |\n|---|---|---|---|---|---|---|\n");
            for f in &pair.findings {
                let value = |v: &Option<crate::snapshot::Node>| {
                    v.as_ref()
                        .map_or(String::new(), |n| format!("`{}`", cell(&short(n))))
                };
                emit!(
                    out,
                    "| {} | {} | {} | `{}` | {} | {} | {} |",
                    f.severity,
                    f.source,
                    f.change,
                    cell(&f.path.to_string()),
                    if f.diff.is_some() {
                        "(see diff)".into()
                    } else {
                        value(&f.baseline)
                    },
                    if f.diff.is_some() {
                        "(see diff)".into()
                    } else {
                        value(&f.candidate)
                    },
                    f.rule
                );
            }
            for f in pair.findings.iter().filter(|f| f.diff.is_some()) {
                emit!(
                    out,
                    "\n<details><summary>{} {}</summary>\n\n```diff",
                    f.source,
                    f.path
                );
                out.push_str(
                    f.diff
                        .as_deref()
                        .unwrap_or_default()
                        .replace("```", "` ` `")
                        .as_str(),
                );
                out.push_str("```\n</details>\n");
            }
        }
        if !pair.expected.is_empty() {
            out.push_str("\n**Expected differences** (allowed by rules):\n\n");
            for e in &pair.expected {
                let why = e.reason.as_deref().or(e.note.as_deref()).unwrap_or("");
                emit!(
                    out,
                    "- `{}` `{}`: rule `{}`: {}",
                    e.source,
                    cell(&e.path.to_string()),
                    e.rule,
                    cell(why)
                );
            }
        }
        for r in &pair.expired_rules {
            emit!(
                out,
                "\n> rule `{}` ({}) expired on {} and no longer applies",
                r.id,
                r.origin,
                r.until
            );
        }
    }
    out
}

/// Escapes text for a table cell or inline code.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "'")
        .replace('\n', " ")
}
