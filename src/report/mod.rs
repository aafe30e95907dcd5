//! ⑥ The result of a check and its renderings (text, JSON, JUnit, Markdown).
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

pub mod json;
pub mod junit;
pub mod markdown;
pub mod text;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::findings::{Expected, Finding};
use crate::rules::{ExpiredRule, Severity};

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
}

/// Renders `report` in `format`; `color` applies to text only.
pub fn render(report: &CheckReport, format: Format, fail_on: Severity, color: bool) -> String {
    match format {
        Format::Text => text::render(report, fail_on, color),
        Format::Json => json::render(report),
        Format::Junit => junit::render(report),
        Format::Markdown => markdown::render(report),
    }
}
