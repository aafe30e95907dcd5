//! ⑦ Sign-off: "I reviewed these snapshots of both environments and they may ship".
//!
//! Pure: decides whether a pair's report may be signed off and what the record holds; the store
//! keeps records, the CLI and the API ask for them. A sign-off pins the snapshot hashes it saw,
//! so anything collected later that differs is shown as "changed since sign-off".

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::check::SourceKey;
use crate::report::{PairReport, PairStatus, SourceError};
use crate::rules::Severity;

/// Longest accepted `by`, `note` or `reason`, in characters.
const MAX_TEXT: usize = 2_000;

/// A finding the signer accepts although it is at or above the threshold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Acceptance {
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// Why it may ship anyway.
    pub reason: String,
}

/// One side of one source as it was signed off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedSnapshot {
    /// Environment name.
    pub environment: String,
    /// Source name.
    pub source: String,
    /// Store id of the snapshot, when it was stored.
    pub snapshot_id: Option<i64>,
    /// Content hash of the snapshot.
    pub hash: String,
}

/// A recorded sign-off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signoff {
    /// Store id (0 before it is stored).
    pub id: i64,
    /// Pair name.
    pub pair: String,
    /// Baseline environment.
    pub baseline: String,
    /// Candidate environment.
    pub candidate: String,
    /// Who signed off.
    pub by: String,
    /// Free text (release, ticket).
    pub note: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The threshold in force: findings at or above it needed an acceptance.
    pub fail_on: Severity,
    /// The snapshots reviewed, both sides of every compared source.
    pub snapshots: Vec<SignedSnapshot>,
    /// Fingerprints of every finding open at sign-off, sorted.
    pub findings: Vec<String>,
    /// Findings at or above `fail_on` accepted explicitly.
    pub accepted: Vec<Acceptance>,
}

/// What the signer asks for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SignoffRequest {
    /// Who signs off.
    pub by: String,
    /// Free text.
    #[serde(default)]
    pub note: String,
    /// Threshold (default warning).
    #[serde(default)]
    pub fail_on: Option<Severity>,
    /// Accepted findings.
    #[serde(default)]
    pub accept: Vec<Acceptance>,
}

/// A finding that blocks the sign-off.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Blocker {
    /// Fingerprint to pass to `--accept`.
    pub fingerprint: String,
    /// Its severity.
    pub severity: Severity,
    /// Source.
    pub source: String,
    /// Canonical path.
    pub path: String,
}

/// Why a sign-off was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum Refusal {
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A source could not be collected: nobody can sign off what was not seen.
    #[error("pair {pair} is unknown: {} source(s) could not be collected ({}); fix them and try again", errors.len(), describe_errors(errors))]
    Unknown {
        /// Pair name.
        pair: String,
        /// The failures.
        errors: Vec<SourceError>,
    },
    /// Findings at or above the threshold have no acceptance.
    #[error("pair {pair} has {} open finding(s) at or above {fail_on} without an acceptance: {}; fix them, or accept each with --accept FINGERPRINT --reason TEXT", blockers.len(), describe_blockers(blockers))]
    Blocked {
        /// Pair name.
        pair: String,
        /// The threshold.
        fail_on: Severity,
        /// The blocking findings.
        blockers: Vec<Blocker>,
    },
    /// An acceptance names no current finding (a typo, or the finding is gone).
    #[error("--accept {0} matches no open finding of the pair at or above the threshold (see `driftwarden report` for fingerprints)")]
    UnknownAcceptance(String),
}

fn describe_errors(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}/{}: {}", e.environment, e.source, e.reason))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_blockers(blockers: &[Blocker]) -> String {
    blockers
        .iter()
        .map(|b| format!("{} {} {} {}", b.fingerprint, b.severity, b.source, b.path))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks a free-text field: bounded, no control characters but newlines in notes.
fn check_text(field: &str, value: &str, required: bool) -> Result<String, Refusal> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(Refusal::Invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(Refusal::Invalid(format!(
            "{field} is longer than {MAX_TEXT} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Refusal::Invalid(format!(
            "{field} contains control characters"
        )));
    }
    Ok(value.to_string())
}

/// Decides on a sign-off of `report`. `snapshot_ids` gives the stored id of each side.
pub fn decide(
    report: &PairReport,
    snapshot_ids: &BTreeMap<SourceKey, i64>,
    request: &SignoffRequest,
    now: DateTime<Utc>,
) -> Result<Signoff, Refusal> {
    let by = check_text("by", &request.by, true)?;
    let note = check_text("note", &request.note, false)?;
    let fail_on = request.fail_on.unwrap_or(Severity::Warning);
    if report.status == PairStatus::Unknown {
        return Err(Refusal::Unknown {
            pair: report.name.clone(),
            errors: report.errors.clone(),
        });
    }
    let mut accepted = Vec::new();
    for acceptance in &request.accept {
        let reason = check_text("reason", &acceptance.reason, true).map_err(|_| {
            Refusal::Invalid(format!(
                "--accept {} needs a --reason (non-empty, one line per acceptance)",
                acceptance.fingerprint
            ))
        })?;
        let matches = report
            .findings
            .iter()
            .any(|f| f.fingerprint == acceptance.fingerprint && f.severity >= fail_on);
        if !matches {
            return Err(Refusal::UnknownAcceptance(acceptance.fingerprint.clone()));
        }
        if !accepted
            .iter()
            .any(|a: &Acceptance| a.fingerprint == acceptance.fingerprint)
        {
            accepted.push(Acceptance {
                fingerprint: acceptance.fingerprint.clone(),
                reason,
            });
        }
    }
    let blockers: Vec<Blocker> = report
        .findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .filter(|f| !accepted.iter().any(|a| a.fingerprint == f.fingerprint))
        .map(|f| Blocker {
            fingerprint: f.fingerprint.clone(),
            severity: f.severity,
            source: f.source.clone(),
            path: f.path.to_string(),
        })
        .collect();
    if !blockers.is_empty() {
        return Err(Refusal::Blocked {
            pair: report.name.clone(),
            fail_on,
            blockers,
        });
    }
    let mut snapshots = Vec::new();
    for source in &report.sources {
        for (environment, info) in [
            (&report.baseline, &source.baseline),
            (&report.candidate, &source.candidate),
        ] {
            if let Some(info) = info {
                snapshots.push(SignedSnapshot {
                    environment: environment.clone(),
                    source: source.name.clone(),
                    snapshot_id: snapshot_ids
                        .get(&(environment.clone(), source.name.clone()))
                        .copied(),
                    hash: info.hash.clone(),
                });
            }
        }
    }
    let mut findings: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect();
    findings.sort();
    findings.dedup();
    accepted.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    Ok(Signoff {
        id: 0,
        pair: report.name.clone(),
        baseline: report.baseline.clone(),
        candidate: report.candidate.clone(),
        by,
        note,
        at: now,
        fail_on,
        snapshots,
        findings,
        accepted,
    })
}

/// Something that differs from what was signed off.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SinceSignoff {
    /// Environment that changed.
    pub environment: String,
    /// Source that changed.
    pub source: String,
    /// What: `changed` (new content), `missing` (no snapshot now), `new` (not signed off).
    pub what: &'static str,
}

impl SinceSignoff {
    /// "staging changed after sign-off (appdb)".
    pub fn describe(&self) -> String {
        match self.what {
            "missing" => format!(
                "{} has no current snapshot of {} (it was signed off)",
                self.environment, self.source
            ),
            "new" => format!(
                "{}/{} was not part of the sign-off",
                self.environment, self.source
            ),
            _ => format!(
                "{} changed after sign-off ({})",
                self.environment, self.source
            ),
        }
    }
}

/// What changed since `signoff`, given the current content hash of each (environment, source)
/// the pair compares.
pub fn changes_since(
    signoff: &Signoff,
    current: &BTreeMap<SourceKey, String>,
) -> Vec<SinceSignoff> {
    let mut out = Vec::new();
    for signed in &signoff.snapshots {
        let key = (signed.environment.clone(), signed.source.clone());
        let what = match current.get(&key) {
            None => Some("missing"),
            Some(hash) if *hash != signed.hash => Some("changed"),
            Some(_) => None,
        };
        if let Some(what) = what {
            out.push(SinceSignoff {
                environment: signed.environment.clone(),
                source: signed.source.clone(),
                what,
            });
        }
    }
    for (environment, source) in current.keys() {
        let known = signoff
            .snapshots
            .iter()
            .any(|s| &s.environment == environment && &s.source == source);
        if !known {
            out.push(SinceSignoff {
                environment: environment.clone(),
                source: source.clone(),
                what: "new",
            });
        }
    }
    out
}

/// The content hash of each side of each source a pair report compared.
pub fn current_hashes(report: &PairReport) -> BTreeMap<SourceKey, String> {
    let mut out = BTreeMap::new();
    for source in &report.sources {
        for (environment, info) in [
            (&report.baseline, &source.baseline),
            (&report.candidate, &source.candidate),
        ] {
            if let Some(info) = info {
                out.insert(
                    (environment.clone(), source.name.clone()),
                    info.hash.clone(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Finding;
    use crate::report::{SnapshotInfo, SourceSummary};
    use crate::snapshot::{Node, Path};

    fn finding(fingerprint: &str, severity: Severity) -> Finding {
        Finding {
            fingerprint: fingerprint.into(),
            source: "appdb".into(),
            path: Path::parse("schema/tables/main.orders").unwrap(),
            change: crate::diff::ChangeKind::Removed,
            baseline: Some(Node::Str("x".into())),
            candidate: None,
            severity,
            rule: "default".into(),
            note: None,
            diff: None,
            labels: BTreeMap::new(),
            runbook_url: None,
            notify: true,
        }
    }

    fn report(findings: Vec<Finding>) -> PairReport {
        let info = |hash: &str| {
            Some(SnapshotInfo {
                taken_at: Utc::now(),
                duration_seconds: 0.1,
                hash: hash.into(),
                leaves: 3,
            })
        };
        PairReport {
            name: "staging-vs-production".into(),
            baseline: "production".into(),
            candidate: "staging".into(),
            status: if findings.is_empty() {
                PairStatus::Clean
            } else {
                PairStatus::Drift
            },
            findings,
            errors: vec![],
            expected: vec![],
            expired_rules: vec![],
            sources: vec![SourceSummary {
                name: "appdb".into(),
                status: "drifted".into(),
                baseline: info("b1"),
                candidate: info("c1"),
            }],
            unmatched_sources: vec![],
        }
    }

    fn request(accept: &[(&str, &str)]) -> SignoffRequest {
        SignoffRequest {
            by: "alice".into(),
            note: "release 42".into(),
            fail_on: None,
            accept: accept
                .iter()
                .map(|(f, r)| Acceptance {
                    fingerprint: (*f).into(),
                    reason: (*r).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn critical_finding_blocks_until_accepted() {
        let r = report(vec![
            finding("aa", Severity::Critical),
            finding("bb", Severity::Info),
        ]);
        let ids = BTreeMap::from([(("production".into(), "appdb".into()), 7)]);
        let refused = decide(&r, &ids, &request(&[]), Utc::now()).unwrap_err();
        match &refused {
            Refusal::Blocked { blockers, .. } => {
                assert_eq!(blockers.len(), 1);
                assert_eq!(blockers[0].fingerprint, "aa");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(refused.to_string().contains("--accept"));
        let ok = decide(
            &r,
            &ids,
            &request(&[("aa", "known, fixed in 43")]),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(ok.findings, vec!["aa", "bb"]);
        assert_eq!(ok.accepted.len(), 1);
        assert_eq!(ok.snapshots.len(), 2);
        assert_eq!(ok.snapshots[0].snapshot_id, Some(7));
        assert_eq!(ok.snapshots[1].snapshot_id, None);
    }

    #[test]
    fn acceptance_must_match_and_have_a_reason() {
        let r = report(vec![finding("aa", Severity::Critical)]);
        let ids = BTreeMap::new();
        assert!(matches!(
            decide(&r, &ids, &request(&[("zz", "typo")]), Utc::now()),
            Err(Refusal::UnknownAcceptance(_))
        ));
        assert!(matches!(
            decide(&r, &ids, &request(&[("aa", " ")]), Utc::now()),
            Err(Refusal::Invalid(_))
        ));
        let mut nobody = request(&[("aa", "ok")]);
        nobody.by = "  ".into();
        assert!(matches!(
            decide(&r, &ids, &nobody, Utc::now()),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn unknown_pair_cannot_be_signed_off() {
        let mut r = report(vec![]);
        r.status = PairStatus::Unknown;
        r.errors.push(SourceError {
            environment: "staging".into(),
            source: "appdb".into(),
            reason: "connect".into(),
            message: "refused".into(),
        });
        let refused = decide(&r, &BTreeMap::new(), &request(&[]), Utc::now()).unwrap_err();
        assert!(refused.to_string().contains("staging/appdb: connect"));
    }

    #[test]
    fn changes_since_compares_hashes() {
        let r = report(vec![]);
        let s = decide(&r, &BTreeMap::new(), &request(&[]), Utc::now()).unwrap();
        let mut now: BTreeMap<SourceKey, String> = BTreeMap::from([
            (("production".into(), "appdb".into()), "b1".into()),
            (("staging".into(), "appdb".into()), "c1".into()),
        ]);
        assert!(changes_since(&s, &now).is_empty());
        now.insert(("staging".into(), "appdb".into()), "c2".into());
        now.insert(("staging".into(), "config".into()), "x".into());
        let changes = changes_since(&s, &now);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            changes[0].describe(),
            "staging changed after sign-off (appdb)"
        );
        assert_eq!(changes[1].what, "new");
    }
}
