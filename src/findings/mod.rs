//! ⑤ Findings: the changes rules say matter, with a stable identity.
//!
//! Pure: knows nothing of collectors, storage or output formats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::ChangeKind;
use crate::rules::{Outcome, Severity, Verdict};
use crate::snapshot::{Node, Path};

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// A difference that matters, as reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// Stable identity across runs: the same drift has the same fingerprint.
    pub fingerprint: String,
    /// Source the difference was found in.
    pub source: String,
    /// Canonical path of the difference.
    pub path: Path,
    /// Added, removed, changed, or unchanged (a `differ` rule saw equal values).
    pub change: ChangeKind,
    /// The baseline's value.
    pub baseline: Option<Node>,
    /// The candidate's value.
    pub candidate: Option<Node>,
    /// How much it matters.
    pub severity: Severity,
    /// Id of the rule that decided (`default` when none matched).
    pub rule: String,
    /// Why, in words (tolerance exceeded by how much, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Unified diff for multi-line text values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The rule's routing labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The deciding rule's runbook, for alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
    /// False when the deciding rule says `notify = false`: reported, never sent to alert sinks.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub notify: bool,
}

/// A difference the rules allow, listed so nobody wonders where it went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Expected {
    /// Source of the difference.
    pub source: String,
    /// Canonical path.
    pub path: Path,
    /// Kind of change.
    pub change: ChangeKind,
    /// Id of the rule that allowed it.
    pub rule: String,
    /// The rule's reason, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Detail such as "differs by 3.1% (allowed 10%)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The stable identity of a finding: (pair, source, path). Independent of values and rules,
/// so editing a rule's wording or the drifted value does not make it a new finding.
pub fn fingerprint(pair: &str, source: &str, path: &Path) -> String {
    let mut hasher = Sha256::new();
    for part in [pair, source, &path.to_string()] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Splits verdicts into findings and expected differences.
pub fn classify(pair: &str, source: &str, verdicts: Vec<Verdict>) -> (Vec<Finding>, Vec<Expected>) {
    let mut findings = Vec::new();
    let mut expected = Vec::new();
    for verdict in verdicts {
        match verdict.outcome {
            Outcome::Finding => findings.push(Finding {
                fingerprint: fingerprint(pair, source, &verdict.change.path),
                source: source.to_string(),
                diff: verdict.change.text_diff(),
                path: verdict.change.path,
                change: verdict.change.kind,
                baseline: verdict.change.baseline,
                candidate: verdict.change.candidate,
                severity: verdict.severity,
                rule: verdict.rule,
                note: verdict.note,
                labels: verdict.labels,
                runbook_url: verdict.runbook_url,
                notify: verdict.notify,
            }),
            Outcome::Expected => expected.push(Expected {
                source: source.to_string(),
                path: verdict.change.path,
                change: verdict.change.kind,
                rule: verdict.rule,
                reason: verdict.reason,
                note: verdict.note,
            }),
        }
    }
    (findings, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_pair_source_and_path_only() {
        let p = Path::parse("schema/tables/main.orders").unwrap();
        let a = fingerprint("s-vs-p", "appdb", &p);
        assert_eq!(a, fingerprint("s-vs-p", "appdb", &p));
        assert_eq!(a.len(), 16);
        assert_ne!(a, fingerprint("s-vs-p", "other", &p));
        assert_ne!(a, fingerprint("qa-vs-p", "appdb", &p));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(fingerprint("ab", "c", &p), fingerprint("a", "bc", &p));
    }
}
