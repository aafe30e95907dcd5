//! What a rule is: its pattern, scopes, expectation, severity and metadata, and how one rule
//! relates to one path in one pair context (scope, pattern, expiry).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::pattern::Pattern;
use crate::glob::NameGlob;
use crate::snapshot::Path;

/// Which comparison a change is being judged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairContext<'a> {
    /// The pair's name.
    pub pair: &'a str,
    /// The pair's baseline environment.
    pub baseline: &'a str,
    /// The pair's candidate environment.
    pub candidate: &'a str,
    /// The source being compared.
    pub source: &'a str,
}

/// How important a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Should be looked at (the default).
    Warning,
    /// Must be fixed.
    Critical,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (use info, warning or critical)"
            )),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule expects of the values at the paths it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expectation {
    /// Both sides equal (after normalisation).
    Equal,
    /// The sides must differ (equal leaves are findings).
    Differ,
    /// Any difference is expected.
    Ignore,
    /// Numbers within this many percent of the baseline.
    WithinPercent(f64),
    /// Candidate / baseline within `[lo, hi]`.
    Ratio(f64, f64),
    /// The candidate is at least this many percent of the baseline (more is fine).
    AtLeastPercent(f64),
    /// Any difference is fine as long as the candidate is a number above 0 (a staging table
    /// that must not be empty).
    CandidateNonzero,
}

impl Expectation {
    /// Short name for metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            Expectation::Equal => "equal",
            Expectation::Differ => "differ",
            Expectation::Ignore => "ignore",
            Expectation::WithinPercent(_) => "within_percent",
            Expectation::Ratio(..) => "ratio",
            Expectation::AtLeastPercent(_) => "at_least_percent",
            Expectation::CandidateNonzero => "candidate_nonzero",
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::WithinPercent(n) => write!(f, "within_percent {n}"),
            Expectation::Ratio(lo, hi) => write!(f, "ratio [{lo}, {hi}]"),
            Expectation::AtLeastPercent(n) => write!(f, "at_least_percent {n}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Where a rule was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The rules file.
    pub file: PathBuf,
    /// 1-based line of the rule.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Which pairs, sources and environments a rule applies to (`None` = all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Pair names.
    pub pair: Option<NameGlob>,
    /// Source names.
    pub source: Option<NameGlob>,
    /// Environment names; the pair's baseline or candidate must match.
    pub environment: Option<NameGlob>,
}

impl Scope {
    /// Why the scope excludes `ctx` (`"scoped to source app-config"`), or `None` if it applies.
    pub fn mismatch(&self, ctx: &PairContext<'_>) -> Option<String> {
        if let Some(glob) = &self.pair {
            if !glob.matches(ctx.pair) {
                return Some(format!("scoped to pair {glob}"));
            }
        }
        if let Some(glob) = &self.source {
            if !glob.matches(ctx.source) {
                return Some(format!("scoped to source {glob}"));
            }
        }
        if let Some(glob) = &self.environment {
            if !glob.matches(ctx.baseline) && !glob.matches(ctx.candidate) {
                return Some(format!("scoped to environment {glob}"));
            }
        }
        None
    }
}

/// One rule, as loaded.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id.
    pub id: String,
    /// Paths it matches.
    pub pattern: Pattern,
    /// What it expects.
    pub expect: Expectation,
    /// Severity of its findings.
    pub severity: Severity,
    /// Why (required for ignore rules).
    pub reason: Option<String>,
    /// Last day an ignore rule applies.
    pub until: Option<NaiveDate>,
    /// Pairs, sources and environments it applies to.
    pub scope: Scope,
    /// Routing labels copied onto verdicts.
    pub labels: BTreeMap<String, String>,
    /// Substring replacements applied to string leaves of both sides before comparing.
    pub replace: Vec<(String, String)>,
    /// Where to read about a finding.
    pub runbook_url: Option<String>,
    /// Whether alert sinks should notify about its findings.
    pub notify: bool,
    /// Where it was written.
    pub origin: Origin,
}

/// How one rule relates to one path in one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applies {
    /// The rule's scope excludes the context (with the reason).
    OutOfScope(String),
    /// The pattern does not match the path.
    NoMatch,
    /// It would match, but it is an ignore rule past its `until` date.
    Expired(NaiveDate),
    /// It matches: this rule decides.
    Decides,
}

impl Rule {
    /// Whether the rule is an ignore rule past its `until` date on `today`.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        self.expect == Expectation::Ignore && self.until.is_some_and(|until| today > until)
    }

    /// How this rule relates to `path` in `ctx` on `today`.
    pub(crate) fn applies(&self, ctx: &PairContext<'_>, path: &Path, today: NaiveDate) -> Applies {
        if let Some(why) = self.scope.mismatch(ctx) {
            return Applies::OutOfScope(why);
        }
        if !self.pattern.matches(path) {
            return Applies::NoMatch;
        }
        match self.until {
            Some(until) if self.is_expired(today) => Applies::Expired(until),
            _ => Applies::Decides,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: PairContext<'static> = PairContext {
        pair: "staging-vs-production",
        baseline: "production",
        candidate: "staging",
        source: "app-config",
    };

    #[test]
    fn severities_order_info_below_warning_below_critical_and_parse_lower_case() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        assert_eq!("critical".parse::<Severity>(), Ok(Severity::Critical));
        assert!("Critical".parse::<Severity>().is_err());
        assert_eq!(Severity::Warning.to_string(), "warning");
        assert_eq!(serde_json::to_string(&Severity::Info).unwrap(), "\"info\"");
    }

    #[test]
    fn expectations_display_with_their_parameters() {
        assert_eq!(Expectation::Equal.to_string(), "equal");
        assert_eq!(
            Expectation::WithinPercent(10.0).to_string(),
            "within_percent 10"
        );
        assert_eq!(Expectation::Ratio(0.5, 2.0).to_string(), "ratio [0.5, 2]");
        assert_eq!(Expectation::Ratio(0.5, 2.0).name(), "ratio");
    }

    #[test]
    fn scopes_match_pair_source_and_either_environment() {
        let scope = |pair: Option<&str>, source: Option<&str>, env: Option<&str>| Scope {
            pair: pair.map(NameGlob::new),
            source: source.map(NameGlob::new),
            environment: env.map(NameGlob::new),
        };
        assert_eq!(Scope::default().mismatch(&CTX), None);
        assert_eq!(scope(Some("staging-*"), None, None).mismatch(&CTX), None);
        assert_eq!(
            scope(Some("qa-*"), None, None).mismatch(&CTX).as_deref(),
            Some("scoped to pair qa-*")
        );
        assert_eq!(
            scope(None, Some("appdb"), None).mismatch(&CTX).as_deref(),
            Some("scoped to source appdb")
        );
        assert_eq!(scope(None, None, Some("production")).mismatch(&CTX), None);
        assert_eq!(scope(None, None, Some("stag*")).mismatch(&CTX), None);
        assert_eq!(
            scope(None, None, Some("qa")).mismatch(&CTX).as_deref(),
            Some("scoped to environment qa")
        );
    }
}
