//! `--format markdown`: fits a pull-request comment. Verdict first, then sources, findings by
//! severity (diffs folded in `<details>`), expected differences, expired rules.
//!
//! Values come from the audited systems, so nothing is pasted raw: text is escaped for
//! Markdown and HTML, values sit in code spans they cannot close, diffs in fences longer than
//! any backtick run they contain.

use super::text::short;
use super::{short_hash, CheckReport, Context, PairReport, SnapshotInfo, Verdict};
use crate::rules::Severity;
use crate::signoff::{Signoff, SinceSignoff};

/// Renders the report as Markdown.
pub fn render(report: &CheckReport, context: &Context) -> String {
    let mut out = match report.pairs.as_slice() {
        [one] => format!(
            "# Release report: {} ({} vs {})\n\n",
            text(&one.name),
            text(&one.candidate),
            text(&one.baseline)
        ),
        _ => String::from("# driftwarden check\n\n"),
    };
    emit!(
        out,
        "Generated {} by driftwarden {}. Findings at or above **{}** block the release.",
        context.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        env!("CARGO_PKG_VERSION"),
        context.fail_on
    );
    for pair in &report.pairs {
        render_pair(&mut out, pair, context);
    }
    out
}

fn render_pair(out: &mut String, pair: &PairReport, context: &Context) {
    let verdict = pair.verdict(context.fail_on);
    let badge = match verdict {
        Verdict::Ready => "✅ READY",
        Verdict::Drift => "⚠️ DRIFT",
        Verdict::Unknown => "❓ UNKNOWN",
    };
    emit!(
        out,
        "\n## {} ({} → {}): {badge}\n",
        text(&pair.name),
        text(&pair.baseline),
        text(&pair.candidate)
    );
    let counts: Vec<String> = pair
        .counts()
        .into_iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    emit!(
        out,
        "**{}**: {}. Findings: {}; {} expected difference(s) allowed by rules.",
        verdict.as_str().to_uppercase(),
        match verdict {
            Verdict::Ready => format!(
                "{} mirrors {}, nothing at or above {}",
                text(&pair.candidate),
                text(&pair.baseline),
                context.fail_on
            ),
            Verdict::Drift => format!(
                "findings at or above {} between {} and {}",
                context.fail_on,
                text(&pair.candidate),
                text(&pair.baseline)
            ),
            Verdict::Unknown => format!(
                "{} source(s) could not be collected; this is not a clean result",
                pair.errors.len()
            ),
        },
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        },
        pair.expected.len()
    );
    if let Some((signoff, since)) = context.signoffs.get(&pair.name) {
        render_signoff(out, signoff, since);
    }
    render_sources(out, pair);
    render_findings(out, pair);
    if !pair.expected.is_empty() {
        out.push_str(
            "\n### Expected differences\n\n| rule | reason | differences |\n|---|---|---|\n",
        );
        for (rule, list) in pair.expected_groups() {
            let reason = list.first().and_then(|e| e.reason.as_deref()).unwrap_or("");
            let paths: Vec<String> = list
                .iter()
                .map(|e| {
                    let note = e
                        .note
                        .as_deref()
                        .map(|n| format!(" ({})", text(n)))
                        .unwrap_or_default();
                    format!(
                        "{} {} {}{note}",
                        code(&e.source),
                        code(&e.path.to_string()),
                        e.change
                    )
                })
                .collect();
            emit!(
                out,
                "| {} | {} | {} |",
                code(rule),
                text(reason),
                paths.join("<br>")
            );
        }
    }
    if !pair.expired_rules.is_empty() {
        out.push_str("\n### Expired ignore rules\n\n");
        for r in &pair.expired_rules {
            emit!(
                out,
                "- {} ({}) expired on {} and no longer applies ({} difference(s) it would decide)",
                code(&r.id),
                text(&r.origin),
                r.until,
                r.matched
            );
        }
    }
    for u in &pair.unmatched_sources {
        emit!(
            out,
            "\n> source {} exists only in {} and is not compared",
            code(&u.source),
            text(&u.only_in)
        );
    }
}

fn render_signoff(out: &mut String, signoff: &Signoff, since: &[SinceSignoff]) {
    let note = if signoff.note.is_empty() {
        String::new()
    } else {
        format!(" ({})", text(&signoff.note))
    };
    emit!(
        out,
        "\n**Last sign-off**: {} on {}{note}, {} finding(s) accepted.",
        text(&signoff.by),
        signoff.at.format("%Y-%m-%d %H:%M:%S UTC"),
        signoff.accepted.len()
    );
    if since.is_empty() {
        out.push_str("Nothing changed since sign-off.\n");
    }
    for change in since {
        emit!(out, "- ⚠️ {}", text(&change.describe()));
    }
}

fn snapshot_cell(info: &Option<SnapshotInfo>) -> String {
    match info {
        Some(i) => format!(
            "{} `{}` {} leaves",
            i.taken_at.format("%Y-%m-%d %H:%M:%S UTC"),
            short_hash(&i.hash),
            i.leaves
        ),
        None => "not collected".into(),
    }
}

fn render_sources(out: &mut String, pair: &PairReport) {
    emit!(
        out,
        "\n### Sources\n\n| source | status | {} snapshot | {} snapshot |\n|---|---|---|---|",
        text(&pair.baseline),
        text(&pair.candidate)
    );
    for s in &pair.sources {
        emit!(
            out,
            "| {} | {} | {} | {} |",
            code(&s.name),
            s.status,
            snapshot_cell(&s.baseline),
            snapshot_cell(&s.candidate)
        );
    }
    if !pair.errors.is_empty() {
        out.push_str("\n**Could not collect** (the pair is unknown, not clean):\n\n");
        for e in &pair.errors {
            emit!(
                out,
                "- {}/{} ({}): {}",
                text(&e.environment),
                code(&e.source),
                e.reason,
                text(&e.message)
            );
        }
    }
}

fn render_findings(out: &mut String, pair: &PairReport) {
    emit!(out, "\n### Findings ({})", pair.findings.len());
    if pair.findings.is_empty() {
        out.push_str("None.\n");
    }
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let list: Vec<_> = pair.findings_at(severity).collect();
        if list.is_empty() {
            continue;
        }
        emit!(out, "\n#### {} ({})\n", severity.as_str(), list.len());
        for f in list {
            let value = |v: &Option<crate::snapshot::Node>| {
                v.as_ref()
                    .map_or("(absent)".to_string(), |n| code(&short(n)))
            };
            let values = if f.diff.is_some() {
                "see diff".to_string()
            } else {
                format!("{} → {}", value(&f.baseline), value(&f.candidate))
            };
            let note = f
                .note
                .as_deref()
                .map(|n| format!(" {}.", text(n)))
                .unwrap_or_default();
            emit!(
                out,
                "- {} {} **{}**: {values}.{note} Rule {}, fingerprint `{}`.",
                code(&f.source),
                code(&f.path.to_string()),
                f.change,
                code(&f.rule),
                f.fingerprint
            );
            if let Some(diff) = &f.diff {
                let fence = "`".repeat(longest_backtick_run(diff).max(2) + 1);
                emit!(
                    out,
                    "\n  <details><summary>diff of {}</summary>\n\n{fence}diff",
                    html(&f.path.to_string())
                );
                out.push_str(diff);
                if !diff.ends_with('\n') {
                    out.push('\n');
                }
                emit!(out, "{fence}\n\n  </details>\n");
            }
        }
    }
}

/// Text outside code: Markdown punctuation backslash-escaped, HTML characters as entities,
/// newlines flattened (a table row is one line).
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '|' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code span that its content cannot close: backticks become quotes, pipes are escaped for
/// tables, newlines flattened.
fn code(raw: &str) -> String {
    let inner: String = raw
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", inner.replace('|', "\\|"))
}

/// Escapes text for an HTML context inside Markdown (`<summary>`).
fn html(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn longest_backtick_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_open_links_or_tags() {
        let out = text("[x](javascript:alert(1)) <script>");
        assert_eq!(out, "\\[x\\]\\(javascript:alert\\(1\\)\\) &lt;script&gt;");
    }

    #[test]
    fn code_spans_cannot_be_closed() {
        assert_eq!(code("a`b|c\nd"), "`a'b\\|c d`");
    }

    #[test]
    fn fences_outgrow_backtick_runs() {
        assert_eq!(longest_backtick_run("a ```` b ` c"), 4);
    }
}
