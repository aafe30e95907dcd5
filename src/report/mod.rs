//! ⑥ The result of a check and its renderings (text, JSON, JUnit, Markdown, HTML).
//!
//! Renderers consume this model only; they know nothing of collectors.

/// Appends one formatted line to a `String` (writing to a String cannot fail, unlike `writeln!`'s
/// signature suggests).
macro_rules! emit {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod text;

use chrono::{DateTime, Utc};
use serde::Serialize;

use std::collections::BTreeMap;

use crate::findings::{Expected, Finding};
use crate::rules::{ExpiredRule, Severity};
use crate::signoff::{Signoff, SinceSignoff};

/// Everything one check found, pair by pair.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// One entry per pair checked.
    pub pairs: Vec<PairReport>,
}

/// The outcome for one pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    /// Pair name.
    pub name: String,
    /// Baseline environment.
    pub baseline: String,
    /// Candidate environment.
    pub candidate: String,
    /// clean, drift or unknown.
    pub status: PairStatus,
    /// Differences that matter, by source then path.
    pub findings: Vec<Finding>,
    /// Sources that could not be collected (they make the pair unknown).
    pub errors: Vec<SourceError>,
    /// Differences the rules allowed.
    pub expected: Vec<Expected>,
    /// Ignore rules past their `until` date, no longer applied.
    pub expired_rules: Vec<ExpiredRule>,
    /// Per compared source: status and snapshot metadata.
    pub sources: Vec<SourceSummary>,
    /// Sources defined in only one of the two environments (not compared).
    pub unmatched_sources: Vec<UnmatchedSource>,
}

/// A pair's overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PairStatus {
    /// Every source compared; no findings.
    Clean,
    /// Every source compared; findings exist.
    Drift,
    /// Some source could not be collected: never reported as clean.
    Unknown,
}

impl PairStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PairStatus::Clean => "clean",
            PairStatus::Drift => "drift",
            PairStatus::Unknown => "unknown",
        }
    }
}

/// The answer a release report leads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every source compared; nothing at or above the threshold.
    Ready,
    /// Findings at or above the threshold.
    Drift,
    /// Some source could not be collected: nobody can say.
    Unknown,
}

impl Verdict {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Drift => "drift",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What a rendering needs besides the report: the threshold, when, and the sign-offs in force.
#[derive(Debug, Clone)]
pub struct Context {
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// Findings at or above this block a release.
    pub fail_on: Severity,
    /// Per pair: the sign-off in force and what changed since.
    pub signoffs: BTreeMap<String, (Signoff, Vec<SinceSignoff>)>,
}

impl Context {
    /// A context without sign-offs.
    pub fn new(fail_on: Severity) -> Self {
        Context {
            generated_at: Utc::now(),
            fail_on,
            signoffs: BTreeMap::new(),
        }
    }
}

/// A source that could not be collected.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SourceError {
    /// Environment of the source.
    pub environment: String,
    /// Source name.
    pub source: String,
    /// timeout, connect, auth, query or parse.
    pub reason: String,
    /// What went wrong (never contains secrets).
    pub message: String,
}

/// State of one compared source within a pair.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    /// Source name.
    pub name: String,
    /// in_sync, drifted or unknown.
    pub status: String,
    /// Baseline snapshot metadata, if collected.
    pub baseline: Option<SnapshotInfo>,
    /// Candidate snapshot metadata, if collected.
    pub candidate: Option<SnapshotInfo>,
}

/// Metadata of a snapshot (not its content).
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    /// When collection started.
    pub taken_at: DateTime<Utc>,
    /// Collection time in seconds.
    pub duration_seconds: f64,
    /// Content hash.
    pub hash: String,
    /// Number of leaves.
    pub leaves: usize,
}

/// A source present in one environment of a pair only.
#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedSource {
    /// Source name.
    pub source: String,
    /// The environment that has it.
    pub only_in: String,
}

impl CheckReport {
    /// 2 if any pair is unknown, 1 if any finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        if self.pairs.iter().any(|p| p.status == PairStatus::Unknown) {
            2
        } else if self
            .pairs
            .iter()
            .flat_map(|p| &p.findings)
            .any(|f| f.severity >= fail_on)
        {
            1
        } else {
            0
        }
    }
}

impl PairReport {
    /// Ready, drift or unknown against `fail_on`.
    pub fn verdict(&self, fail_on: Severity) -> Verdict {
        if self.status == PairStatus::Unknown {
            Verdict::Unknown
        } else if self.findings.iter().any(|f| f.severity >= fail_on) {
            Verdict::Drift
        } else {
            Verdict::Ready
        }
    }

    /// Findings of one severity, in report order.
    pub fn findings_at(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == severity)
    }

    /// Expected differences grouped by the rule that allowed them, in order of first appearance.
    pub fn expected_groups(&self) -> Vec<(&str, Vec<&Expected>)> {
        let mut groups: Vec<(&str, Vec<&Expected>)> = Vec::new();
        for e in &self.expected {
            match groups.iter_mut().find(|(rule, _)| *rule == e.rule) {
                Some((_, list)) => list.push(e),
                None => groups.push((&e.rule, vec![e])),
            }
        }
        groups
    }

    /// Number of findings at each severity, highest first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        [Severity::Critical, Severity::Warning, Severity::Info]
            .into_iter()
            .map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, colored on a terminal.
    Text,
    /// One JSON object.
    Json,
    /// JUnit XML: a test suite per pair and source, a failure per finding.
    Junit,
    /// Markdown for a pull-request comment.
    Markdown,
    /// One self-contained HTML page (inline CSS, no requests), printable.
    Html,
}

/// Renders `report` in `format`; `color` applies to text only.
pub fn render(report: &CheckReport, format: Format, context: &Context, color: bool) -> String {
    match format {
        Format::Text => text::render(report, context.fail_on, color),
        Format::Json => json::render(report, context),
        Format::Junit => junit::render(report),
        Format::Markdown => markdown::render(report, context),
        Format::Html => html::render(report, context),
    }
}

/// The first 12 characters of a content hash, as shown to people.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
