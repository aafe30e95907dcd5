//! Human-readable output: grouped by pair and source, old → new values, unified diffs for text,
//! then the expected differences and a one-line verdict. Colored only when asked.

use console::Style;

use super::{CheckReport, PairReport, PairStatus};
use crate::diff::text::visible;
use crate::findings::Finding;
use crate::rules::Severity;
use crate::snapshot::Node;

/// Longest value printed inline before it is cut.
const MAX_VALUE_CHARS: usize = 160;

struct Palette {
    bold: Style,
    dim: Style,
    red: Style,
    yellow: Style,
    green: Style,
    cyan: Style,
}

impl Palette {
    fn new(color: bool) -> Self {
        let style = |s: Style| s.force_styling(color);
        Palette {
            bold: style(Style::new().bold()),
            dim: style(Style::new().dim()),
            red: style(Style::new().red()),
            yellow: style(Style::new().yellow()),
            green: style(Style::new().green()),
            cyan: style(Style::new().cyan()),
        }
    }

    fn severity(&self, severity: Severity) -> &Style {
        match severity {
            Severity::Critical => &self.red,
            Severity::Warning => &self.yellow,
            Severity::Info => &self.cyan,
        }
    }

    fn status(&self, status: PairStatus) -> &Style {
        match status {
            PairStatus::Clean => &self.green,
            PairStatus::Drift => &self.yellow,
            PairStatus::Unknown => &self.red,
        }
    }
}

/// Renders the whole report.
pub fn render(report: &CheckReport, fail_on: Severity, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    for pair in &report.pairs {
        render_pair(&mut out, pair, &p);
    }
    let code = report.exit_code(fail_on);
    let verdict = match code {
        0 => p.green.apply_to(format!("no drift at or above {fail_on}")),
        1 => p.yellow.apply_to(format!("drift at or above {fail_on}")),
        _ => p
            .red
            .apply_to("unknown: some sources could not be collected".to_string()),
    };
    emit!(
        out,
        "{} {verdict} (exit {code})",
        p.bold.apply_to("Result:")
    );
    out
}

fn render_pair(out: &mut String, pair: &PairReport, p: &Palette) {
    let counts: Vec<String> = pair
        .counts()
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let summary = if pair.findings.is_empty() {
        "no findings".to_string()
    } else {
        format!(
            "{} finding{}: {}",
            pair.findings.len(),
            plural(pair.findings.len()),
            counts.join(", ")
        )
    };
    emit!(
        out,
        "{} {}  {}  {}",
        p.bold.apply_to(&pair.name),
        p.dim
            .apply_to(format!("({} → {})", pair.baseline, pair.candidate)),
        p.status(pair.status)
            .apply_to(pair.status.as_str().to_uppercase()),
        summary
    );
    let mut current: Option<&str> = None;
    for finding in &pair.findings {
        if current != Some(finding.source.as_str()) {
            emit!(out, "\n  {}", p.bold.apply_to(&finding.source));
            current = Some(&finding.source);
        }
        render_finding(out, finding, pair, p);
    }
    if !pair.errors.is_empty() {
        emit!(
            out,
            "\n  {}",
            p.red
                .apply_to("Could not collect (the pair is unknown, not clean):")
        );
        for e in &pair.errors {
            emit!(
                out,
                "    ✗ {}/{} [{}]: {}",
                e.environment,
                e.source,
                e.reason,
                visible(&e.message)
            );
        }
    }
    for u in &pair.unmatched_sources {
        emit!(
            out,
            "\n  {} source {} exists only in {}; it is not compared",
            p.dim.apply_to("note:"),
            u.source,
            u.only_in
        );
    }
    if !pair.expected.is_empty() {
        emit!(
            out,
            "\n  {}",
            p.dim.apply_to("Expected differences (allowed by rules):")
        );
        for (rule, group) in pair.expected_groups() {
            let first = group[0];
            if let [only] = group.as_slice() {
                let why = match (&only.reason, &only.note) {
                    (Some(r), Some(n)) => format!("{r} ({n})"),
                    (Some(r), None) => r.clone(),
                    (None, Some(n)) => n.clone(),
                    (None, None) => String::new(),
                };
                emit!(
                    out,
                    "    {} {} {}  {}",
                    p.green.apply_to("✓"),
                    only.source,
                    visible(&only.path.to_string()),
                    p.dim.apply_to(format!("rule {rule}: {why}"))
                );
                continue;
            }
            let shown: Vec<String> = group
                .iter()
                .take(3)
                .map(|e| format!("{} {}", e.source, visible(&e.path.to_string())))
                .collect();
            let more = match group.len() {
                n if n > 3 => format!(", and {} more", n - 3),
                _ => String::new(),
            };
            emit!(
                out,
                "    {} {} differences: {}{more}  {}",
                p.green.apply_to("✓"),
                group.len(),
                shown.join(", "),
                p.dim.apply_to(format!(
                    "rule {rule}: {}",
                    first.reason.as_deref().unwrap_or("")
                ))
            );
        }
    }
    for r in &pair.expired_rules {
        emit!(
            out,
            "\n  {} rule {} ({}) expired on {} and no longer applies; it would have covered {} change{}",
            p.yellow.apply_to("warning:"),
            r.id,
            r.origin,
            r.until,
            r.matched,
            plural(r.matched)
        );
    }
    out.push('\n');
}

fn render_finding(out: &mut String, f: &Finding, pair: &PairReport, p: &Palette) {
    emit!(
        out,
        "    {} {:<9} {}  {}",
        p.severity(f.severity)
            .apply_to(format!("{:<8}", f.severity.to_string().to_uppercase())),
        f.change.as_str(),
        visible(&f.path.to_string()),
        p.dim.apply_to(format!("[rule {}]", f.rule))
    );
    let indent = "                      ";
    if let Some(diff) = &f.diff {
        for line in diff.lines() {
            let styled = if line.starts_with('+') {
                p.green.apply_to(line).to_string()
            } else if line.starts_with('-') {
                p.red.apply_to(line).to_string()
            } else {
                p.dim.apply_to(line).to_string()
            };
            emit!(out, "{indent}{styled}");
        }
    } else {
        match (&f.baseline, &f.candidate) {
            (Some(b), Some(c)) => {
                emit!(
                    out,
                    "{indent}{}: {}  →  {}: {}",
                    pair.baseline,
                    p.red.apply_to(short(b)),
                    pair.candidate,
                    p.green.apply_to(short(c))
                );
            }
            (Some(b), None) => {
                emit!(out, "{indent}only in {}: {}", pair.baseline, short(b));
            }
            (None, Some(c)) => {
                emit!(out, "{indent}only in {}: {}", pair.candidate, short(c));
            }
            (None, None) => {}
        }
    }
    if let Some(note) = &f.note {
        emit!(out, "{indent}{}", p.dim.apply_to(note));
    }
}

/// A value on one line, cut to a readable length, with control characters escaped (JSON
/// escapes C0 ones; DEL, C1 and bidi overrides would still reach the terminal raw).
pub fn short(node: &Node) -> String {
    let text = visible(&node.to_string()).into_owned();
    if text.chars().count() <= MAX_VALUE_CHARS {
        text
    } else {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
