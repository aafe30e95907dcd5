//! Judging changes: the first matching rule decides each change, its expectation gives the
//! outcome; `differ` rules also scan equal leaves, and expired ignore rules are reported.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::model::{Expectation, PairContext, Rule, Severity};
use super::RuleSet;
use crate::diff::{Change, ChangeKind};
use crate::snapshot::{Node, Path, Tree};

/// What a rule made of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Drift that matters.
    Finding,
    /// A difference the rules expect.
    Expected,
}

/// One change with the decision about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The change judged.
    pub change: Change,
    /// Finding or expected.
    pub outcome: Outcome,
    /// Id of the deciding rule (`"default"` for the implicit rule).
    pub rule: String,
    /// The deciding rule's severity.
    pub severity: Severity,
    /// The deciding rule's reason.
    pub reason: Option<String>,
    /// How the values compared (`"differs by 3.2% (allowed 10%)"`).
    pub note: Option<String>,
    /// The deciding rule's routing labels.
    pub labels: BTreeMap<String, String>,
    /// The deciding rule's runbook.
    pub runbook_url: Option<String>,
    /// Whether alert sinks should notify.
    pub notify: bool,
}

/// An ignore rule that would have matched changes but is past its `until` date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredRule {
    /// The rule's id.
    pub id: String,
    /// Its last day.
    pub until: NaiveDate,
    /// Where it is written (`rules/x.toml:12`).
    pub origin: String,
    /// How many changes it would have decided.
    pub matched: usize,
}

/// The verdicts for one pair and source, and the expired rules met on the way.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Evaluation {
    /// One per input change (same order), then `Unchanged` findings of `differ` rules.
    pub verdicts: Vec<Verdict>,
    /// Expired ignore rules that matched at least one change, in rule order.
    pub expired: Vec<ExpiredRule>,
}

/// The rules whose scope includes one context, with their expiry precomputed.
struct Active<'r> {
    rules: Vec<(&'r Rule, bool)>,
}

impl<'r> Active<'r> {
    fn new(set: &'r RuleSet, ctx: &PairContext<'_>, today: NaiveDate) -> Self {
        Active {
            rules: set
                .rules()
                .iter()
                .filter(|r| r.scope.mismatch(ctx).is_none())
                .map(|r| (r, r.is_expired(today)))
                .collect(),
        }
    }

    /// The deciding rule for `path` (`None`: the implicit default), counting expired matches.
    fn decide(&self, path: &Path, mut expired_hits: Option<&mut [usize]>) -> Option<&'r Rule> {
        for (i, (rule, expired)) in self.rules.iter().enumerate() {
            if !rule.pattern.matches(path) {
                continue;
            }
            if !*expired {
                return Some(rule);
            }
            if let Some(hits) = expired_hits.as_deref_mut() {
                hits[i] += 1;
            }
        }
        None
    }
}

impl RuleSet {
    /// Judges `changes` (from `baseline` to `candidate`) for one pair and source on `today`.
    pub fn evaluate(
        &self,
        ctx: &PairContext<'_>,
        baseline: &Tree,
        candidate: &Tree,
        changes: &[Change],
        today: NaiveDate,
    ) -> Evaluation {
        let active = Active::new(self, ctx, today);
        let mut hits = vec![0; active.rules.len()];
        let mut verdicts: Vec<Verdict> = changes
            .iter()
            .map(|change| judge(active.decide(&change.path, Some(&mut hits)), change))
            .collect();
        let differ: Vec<&Rule> = active
            .rules
            .iter()
            .filter(|(r, expired)| r.expect == Expectation::Differ && !expired)
            .map(|(r, _)| *r)
            .collect();
        if !differ.is_empty() {
            for (path, node) in baseline.leaves() {
                // Cheap checks first: only an equal leaf some differ rule matches can be a finding.
                if candidate.get(&path) != Some(node)
                    || !differ.iter().any(|r| r.pattern.matches(&path))
                {
                    continue;
                }
                let Some(rule) = active.decide(&path, None) else {
                    continue;
                };
                if rule.expect == Expectation::Differ {
                    let change = Change {
                        path,
                        kind: ChangeKind::Unchanged,
                        baseline: Some(node.clone()),
                        candidate: Some(node.clone()),
                    };
                    let note = Some("equal on both sides, expected to differ".to_string());
                    verdicts.push(verdict(Some(rule), change, Outcome::Finding, note));
                }
            }
        }
        let expired = active
            .rules
            .iter()
            .zip(hits)
            .filter(|(_, matched)| *matched > 0)
            .filter_map(|((rule, _), matched)| {
                Some(ExpiredRule {
                    id: rule.id.clone(),
                    until: rule.until?,
                    origin: rule.origin.to_string(),
                    matched,
                })
            })
            .collect();
        Evaluation { verdicts, expired }
    }
}

fn verdict(rule: Option<&Rule>, change: Change, outcome: Outcome, note: Option<String>) -> Verdict {
    match rule {
        Some(rule) => Verdict {
            change,
            outcome,
            rule: rule.id.clone(),
            severity: rule.severity,
            reason: rule.reason.clone(),
            note,
            labels: rule.labels.clone(),
            runbook_url: rule.runbook_url.clone(),
            notify: rule.notify,
        },
        None => Verdict {
            change,
            outcome,
            rule: "default".into(),
            severity: Severity::Warning,
            reason: None,
            note,
            labels: BTreeMap::new(),
            runbook_url: None,
            notify: true,
        },
    }
}

/// Applies the deciding rule's expectation (the implicit default is `equal`) to one change.
fn judge(rule: Option<&Rule>, change: &Change) -> Verdict {
    let expect = rule.map_or(Expectation::Equal, |r| r.expect);
    let replace = rule.map_or(&[][..], |r| r.replace.as_slice());
    let sides = change.baseline.as_ref().zip(change.candidate.as_ref());
    let (outcome, note) = match expect {
        Expectation::Ignore => (Outcome::Expected, None),
        Expectation::Equal => match sides {
            Some((b, c)) if b == c => (Outcome::Expected, None),
            Some((b, c)) if equal_after(b, c, replace) => (
                Outcome::Expected,
                Some("equal after normalisation".to_string()),
            ),
            _ => (Outcome::Finding, None),
        },
        Expectation::Differ => match sides {
            Some((b, c)) if b == c => (
                Outcome::Finding,
                Some("equal on both sides, expected to differ".to_string()),
            ),
            Some((b, c)) if equal_after(b, c, replace) => (
                Outcome::Finding,
                Some("equal after normalisation, expected to differ".to_string()),
            ),
            _ => (Outcome::Expected, None),
        },
        Expectation::WithinPercent(allowed) => match numbers(change) {
            Ok((b, c)) => within_percent(b, c, allowed),
            Err(why) => (
                Outcome::Finding,
                Some(format!("within_percent {allowed}: {why}")),
            ),
        },
        Expectation::Ratio(lo, hi) => match numbers(change) {
            Ok((b, c)) => ratio(b, c, lo, hi),
            Err(why) => (Outcome::Finding, Some(format!("ratio [{lo}, {hi}]: {why}"))),
        },
        Expectation::AtLeastPercent(n) => match numbers(change) {
            Ok((b, c)) if c + EPSILON >= b * n / 100.0 => (
                Outcome::Expected,
                Some(format!("{c} is at least {n}% of {b}")),
            ),
            Ok((b, c)) => (Outcome::Finding, Some(format!("{c} is below {n}% of {b}"))),
            Err(why) => (
                Outcome::Finding,
                Some(format!("at_least_percent {n}: {why}")),
            ),
        },
        Expectation::CandidateNonzero => match change.candidate.as_ref().and_then(|c| c.as_f64()) {
            Some(c) if c > 0.0 => (Outcome::Expected, None),
            Some(_) => (
                Outcome::Finding,
                Some("the candidate is empty (0), expected above 0".to_string()),
            ),
            None => (
                Outcome::Finding,
                Some("candidate_nonzero: the candidate has no number".to_string()),
            ),
        },
    };
    verdict(rule, change.clone(), outcome, note)
}

/// Both sides as numbers, or why not.
fn numbers(change: &Change) -> Result<(f64, f64), String> {
    match (&change.baseline, &change.candidate) {
        (Some(b), Some(c)) => match (b.as_f64(), c.as_f64()) {
            (Some(b), Some(c)) => Ok((b, c)),
            _ => Err(format!(
                "needs numbers on both sides, got {} and {}",
                b.kind(),
                c.kind()
            )),
        },
        (None, Some(_)) => Err("needs a value on both sides, only the candidate has one".into()),
        (Some(_), None) => Err("needs a value on both sides, only the baseline has one".into()),
        (None, None) => Err("needs a value on both sides".into()),
    }
}

/// Tolerance for rounding when a difference sits exactly on a bound.
const EPSILON: f64 = 1e-9;

fn within_percent(b: f64, c: f64, allowed: f64) -> (Outcome, Option<String>) {
    if b == 0.0 {
        return if c == 0.0 {
            (
                Outcome::Expected,
                Some(format!("differs by 0.0% (allowed {allowed}%)")),
            )
        } else {
            (
                Outcome::Finding,
                Some(format!(
                    "baseline is 0, so only 0 is within {allowed}% (candidate {c})"
                )),
            )
        };
    }
    let percent = (c - b).abs() * 100.0 / b.abs();
    let note = Some(format!("differs by {percent:.1}% (allowed {allowed}%)"));
    if percent <= allowed + EPSILON {
        (Outcome::Expected, note)
    } else {
        (Outcome::Finding, note)
    }
}

fn ratio(b: f64, c: f64, lo: f64, hi: f64) -> (Outcome, Option<String>) {
    if b == 0.0 {
        return if c == 0.0 {
            (Outcome::Expected, Some("both sides are 0".into()))
        } else {
            (
                Outcome::Finding,
                Some(format!("baseline is 0, so the ratio to {c} is undefined")),
            )
        };
    }
    let r = c / b;
    if r >= lo - EPSILON && r <= hi + EPSILON {
        (
            Outcome::Expected,
            Some(format!("ratio {r:.2} within [{lo}, {hi}]")),
        )
    } else {
        (
            Outcome::Finding,
            Some(format!("ratio {r:.2} outside [{lo}, {hi}]")),
        )
    }
}

/// Whether two nodes are equal once `replace` is applied to every string leaf of both.
fn equal_after(a: &Node, b: &Node, replace: &[(String, String)]) -> bool {
    if replace.is_empty() {
        return a == b;
    }
    match (a, b) {
        (Node::Str(x), Node::Str(y)) => normalise(x, replace) == normalise(y, replace),
        (Node::Map(x), Node::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && equal_after(va, vb, replace))
        }
        (Node::List(x), Node::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(va, vb)| equal_after(va, vb, replace))
        }
        _ => a == b,
    }
}

/// One left-to-right pass replacing, at each position, the longest key that starts there.
/// `replace` is sorted longest key first, so the first key that fits is the longest.
fn normalise<'s>(text: &'s str, replace: &[(String, String)]) -> Cow<'s, str> {
    if !replace.iter().any(|(from, _)| text.contains(from.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match replace
            .iter()
            .find(|(from, _)| rest.starts_with(from.as_str()))
        {
            Some((from, to)) => {
                out.push_str(to);
                rest = &rest[from.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use serde_json::json;
    use std::path::Path as FsPath;

    const CTX: PairContext<'static> = PairContext {
        pair: "staging-vs-production",
        baseline: "production",
        candidate: "staging",
        source: "app-config",
    };

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        day(2026, 6, 1)
    }

    fn rules(text: &str) -> RuleSet {
        RuleSet::from_rules(RuleSet::parse(FsPath::new("rules/t.toml"), text).unwrap()).unwrap()
    }

    fn tree(value: serde_json::Value) -> Tree {
        Node::from_json(value).unwrap()
    }

    fn run(set: &RuleSet, a: serde_json::Value, b: serde_json::Value) -> Evaluation {
        let (a, b) = (tree(a), tree(b));
        set.evaluate(&CTX, &a, &b, &diff(&a, &b), today())
    }

    fn run_in(
        ctx: &PairContext<'_>,
        set: &RuleSet,
        a: serde_json::Value,
        b: serde_json::Value,
    ) -> Evaluation {
        let (a, b) = (tree(a), tree(b));
        set.evaluate(ctx, &a, &b, &diff(&a, &b), today())
    }

    /// `outcome rule path (note)` per verdict.
    fn summary(eval: &Evaluation) -> Vec<String> {
        eval.verdicts
            .iter()
            .map(|v| {
                let outcome = match v.outcome {
                    Outcome::Finding => "finding",
                    Outcome::Expected => "expected",
                };
                match &v.note {
                    Some(note) => format!("{outcome} {} {} ({note})", v.rule, v.change.path),
                    None => format!("{outcome} {} {}", v.rule, v.change.path),
                }
            })
            .collect()
    }

    #[test]
    fn with_no_rules_every_change_is_a_default_warning_finding() {
        let eval = run(
            &RuleSet::default(),
            json!({"a": 1, "b": 2}),
            json!({"a": 2, "c": 3}),
        );
        assert_eq!(
            summary(&eval),
            [
                "finding default a",
                "finding default b",
                "finding default c"
            ]
        );
        assert!(eval
            .verdicts
            .iter()
            .all(|v| v.severity == Severity::Warning && v.notify));
        assert!(eval.expired.is_empty());
    }

    #[test]
    fn the_first_matching_rule_decides_like_a_firewall() {
        let set = rules(
            r#"
[[rule]]
id = "users-critical"
match = "rows/users"
expect = { within_percent = 1 }
severity = "critical"
[[rule]]
id = "rows-loose"
match = "rows/*"
expect = "ignore"
reason = "rows drift"
[[rule]]
id = "never-reached"
match = "rows/users"
expect = "ignore"
reason = "shadowed"
"#,
        );
        let eval = run(
            &set,
            json!({"rows": {"users": 100, "orders": 100}}),
            json!({"rows": {"users": 150, "orders": 999}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected rows-loose rows/orders",
                "finding users-critical rows/users (differs by 50.0% (allowed 1%))"
            ]
        );
        assert_eq!(eval.verdicts[1].severity, Severity::Critical);
        assert_eq!(eval.verdicts[0].reason.as_deref(), Some("rows drift"));
    }

    #[test]
    fn scopes_restrict_rules_to_pairs_sources_and_environments() {
        let set = rules(
            r#"
[[rule]]
id = "other-pair"
match = "**"
expect = "ignore"
reason = "r"
pair = "qa-*"
[[rule]]
id = "other-source"
match = "**"
expect = "ignore"
reason = "r"
source = "appdb"
[[rule]]
id = "env-glob"
match = "a"
expect = "ignore"
reason = "r"
environment = "stag*"
[[rule]]
id = "baseline-env"
match = "b"
expect = "ignore"
reason = "r"
environment = "production"
[[rule]]
id = "pair-glob"
match = "c"
expect = "ignore"
reason = "r"
pair = "*-vs-production"
source = "app-*"
"#,
        );
        let eval = run(
            &set,
            json!({"a": 1, "b": 1, "c": 1, "d": 1}),
            json!({"a": 2, "b": 2, "c": 2, "d": 2}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected env-glob a",
                "expected baseline-env b",
                "expected pair-glob c",
                "finding default d"
            ]
        );
        let qa = PairContext {
            pair: "qa-vs-production",
            baseline: "production",
            candidate: "qa",
            source: "appdb",
        };
        let eval = run_in(&qa, &set, json!({"a": 1}), json!({"a": 2}));
        assert_eq!(summary(&eval), ["expected other-pair a"]);
    }

    #[test]
    fn equal_rules_report_any_difference_with_their_severity_and_metadata() {
        let set = rules(
            r#"
[[rule]]
id = "flags"
match = "features/**"
severity = "critical"
labels = { team = "payments" }
runbook_url = "https://runbooks/flags"
notify = false
"#,
        );
        let eval = run(
            &set,
            json!({"features": {"x": true, "y": 1}}),
            json!({"features": {"x": false}}),
        );
        assert_eq!(
            summary(&eval),
            ["finding flags features/x", "finding flags features/y"]
        );
        let v = &eval.verdicts[0];
        assert_eq!(v.severity, Severity::Critical);
        assert_eq!(v.labels["team"], "payments");
        assert_eq!(v.runbook_url.as_deref(), Some("https://runbooks/flags"));
        assert!(!v.notify);
    }

    #[test]
    fn replace_normalises_string_leaves_of_both_sides_before_equal() {
        let set = rules(
            r#"
[[rule]]
id = "urls"
match = "services/**"
replace = { "staging." = "", "-stg" = "" }
"#,
        );
        let eval = run(
            &set,
            json!({"services": {"api": "https://api.example.com", "db": "db", "list": ["a.example.com"], "other": "x"}}),
            json!({"services": {"api": "https://staging.api.example.com", "db": "db-stg", "list": ["staging.a.example.com"], "other": "y"}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected urls services/api (equal after normalisation)",
                "expected urls services/db (equal after normalisation)",
                "expected urls services/list/0 (equal after normalisation)",
                "finding urls services/other"
            ]
        );
    }

    #[test]
    fn replace_applies_recursively_inside_subtrees_that_changed_shape() {
        let set = rules("[[rule]]\nid = \"n\"\nmatch = \"s\"\nreplace = { \"-stg\" = \"\" }\n");
        let a = tree(json!({"s": {"h": "db", "p": ["q"]}}));
        let b = tree(json!({"s": {"h": "db-stg", "p": ["q-stg"]}}));
        let change = Change {
            path: Path::parse("s").unwrap(),
            kind: ChangeKind::Changed,
            baseline: a.get(&Path::parse("s").unwrap()).cloned(),
            candidate: b.get(&Path::parse("s").unwrap()).cloned(),
        };
        let eval = set.evaluate(&CTX, &a, &b, &[change], today());
        assert_eq!(summary(&eval), ["expected n s (equal after normalisation)"]);
    }

    #[test]
    fn normalisation_is_one_leftmost_longest_pass() {
        let replace = vec![
            ("staging.".to_string(), "".to_string()),
            ("staging".to_string(), "production".to_string()),
            ("-stg".to_string(), "".to_string()),
        ];
        assert_eq!(normalise("staging.api staging", &replace), "api production");
        assert_eq!(normalise("db-stg-stg", &replace), "db");
        assert!(matches!(normalise("none", &replace[..2]), Cow::Borrowed(_)));
        assert_eq!(normalise("é-staging", &replace), "é-production");
    }

    #[test]
    fn added_and_removed_paths_are_findings_for_equal_rules() {
        let set = rules("[[rule]]\nid = \"all\"\nmatch = \"**\"\nreplace = { x = \"\" }\n");
        let eval = run(&set, json!({"a": "x"}), json!({"b": "x"}));
        assert_eq!(summary(&eval), ["finding all a", "finding all b"]);
    }

    #[test]
    fn differ_rules_expect_changes_additions_and_removals() {
        let set = rules("[[rule]]\nid = \"d\"\nmatch = \"db/*\"\nexpect = \"differ\"\n");
        let eval = run(
            &set,
            json!({"db": {"host": "a", "old": 1}}),
            json!({"db": {"host": "b", "new": 1}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected d db/host",
                "expected d db/new",
                "expected d db/old"
            ]
        );
    }

    #[test]
    fn differ_rules_scan_equal_leaves_and_report_them_unchanged_after_the_changes() {
        let set = rules(
            r#"
[[rule]]
id = "password-shared"
match = "db/password"
expect = "ignore"
reason = "checked elsewhere"
[[rule]]
id = "db-differs"
match = "db/**"
expect = "differ"
severity = "critical"
"#,
        );
        let eval = run(
            &set,
            json!({"db": {"host": "prod", "name": "app", "password": "p", "port": 5432}, "x": 1}),
            json!({"db": {"host": "staging", "name": "app", "password": "p", "port": 5432}, "x": 2}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected db-differs db/host",
                "finding default x",
                "finding db-differs db/name (equal on both sides, expected to differ)",
                "finding db-differs db/port (equal on both sides, expected to differ)"
            ]
        );
        let unchanged = &eval.verdicts[2];
        assert_eq!(unchanged.change.kind, ChangeKind::Unchanged);
        assert_eq!(unchanged.change.baseline, Some(Node::str("app")));
        assert_eq!(unchanged.change.candidate, Some(Node::str("app")));
        assert_eq!(unchanged.severity, Severity::Critical);
    }

    #[test]
    fn differ_rules_find_values_equal_after_normalisation() {
        let set = rules(
            "[[rule]]\nid = \"host\"\nmatch = \"db/host\"\nexpect = \"differ\"\nreplace = { \"staging.\" = \"\" }\n",
        );
        let eval = run(
            &set,
            json!({"db": {"host": "db.example"}}),
            json!({"db": {"host": "staging.db.example"}}),
        );
        assert_eq!(
            summary(&eval),
            ["finding host db/host (equal after normalisation, expected to differ)"]
        );
        assert_eq!(eval.verdicts[0].change.kind, ChangeKind::Changed);
    }

    #[test]
    fn within_percent_compares_relative_to_the_baseline_with_notes() {
        let set = rules(
            "[[rule]]\nid = \"rows\"\nmatch = \"rows/*\"\nexpect = { within_percent = 10 }\n",
        );
        let eval = run(
            &set,
            json!({"rows": {"a": 1000, "b": 1000, "c": 100, "d": 0, "e": 0, "f": "many", "g": 5}}),
            json!({"rows": {"a": 1032, "b": 1350, "c": 90.0, "d": 0.0, "e": 3, "f": 7, "h": 5}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected rows rows/a (differs by 3.2% (allowed 10%))",
                "finding rows rows/b (differs by 35.0% (allowed 10%))",
                "expected rows rows/c (differs by 10.0% (allowed 10%))",
                "expected rows rows/d (differs by 0.0% (allowed 10%))",
                "finding rows rows/e (baseline is 0, so only 0 is within 10% (candidate 3))",
                "finding rows rows/f (within_percent 10: needs numbers on both sides, got string and int)",
                "finding rows rows/g (within_percent 10: needs a value on both sides, only the baseline has one)",
                "finding rows rows/h (within_percent 10: needs a value on both sides, only the candidate has one)",
            ]
        );
    }

    #[test]
    fn at_least_percent_and_candidate_nonzero() {
        let set = rules(
            "[[rule]]\nid = \"floor\"\nmatch = \"rows/*\"\nexpect = { at_least_percent = 90 }\n\
             [[rule]]\nid = \"nonzero\"\nmatch = \"seed/*\"\nexpect = \"candidate_nonzero\"\n",
        );
        let eval = run(
            &set,
            json!({"rows": {"a": 100, "b": 100, "c": 100}, "seed": {"x": 5, "y": 5, "z": 5}}),
            json!({"rows": {"a": 90, "b": 89, "c": 500}, "seed": {"x": 1, "y": 0, "z": "n"}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected floor rows/a (90 is at least 90% of 100)",
                "finding floor rows/b (89 is below 90% of 100)",
                "expected floor rows/c (500 is at least 90% of 100)",
                "expected nonzero seed/x",
                "finding nonzero seed/y (the candidate is empty (0), expected above 0)",
                "finding nonzero seed/z (candidate_nonzero: the candidate has no number)",
            ]
        );
    }

    #[test]
    fn ratio_bounds_are_inclusive_with_notes() {
        let set = rules("[[rule]]\nid = \"r\"\nmatch = \"n/*\"\nexpect = { ratio = [0.5, 2.0] }\n");
        let eval = run(
            &set,
            json!({"n": {"a": 10, "b": 10, "c": 10, "d": 0, "e": 0, "f": 4}}),
            json!({"n": {"a": 4, "b": 20, "c": 5, "d": 0.0, "e": 1, "f": true}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "finding r n/a (ratio 0.40 outside [0.5, 2])",
                "expected r n/b (ratio 2.00 within [0.5, 2])",
                "expected r n/c (ratio 0.50 within [0.5, 2])",
                "expected r n/d (both sides are 0)",
                "finding r n/e (baseline is 0, so the ratio to 1 is undefined)",
                "finding r n/f (ratio [0.5, 2]: needs numbers on both sides, got int and bool)",
            ]
        );
    }

    #[test]
    fn an_expired_ignore_rule_is_skipped_and_reported_with_its_match_count() {
        let set = rules(
            r#"
[[rule]]
id = "old-waiver"
match = "flags/*"
expect = "ignore"
reason = "migration window"
until = 2026-05-31
[[rule]]
id = "flags-info"
match = "flags/**"
severity = "info"
"#,
        );
        let eval = run(
            &set,
            json!({"flags": {"a": 1, "b": 1}}),
            json!({"flags": {"a": 2, "b": 2}}),
        );
        assert_eq!(
            summary(&eval),
            ["finding flags-info flags/a", "finding flags-info flags/b"]
        );
        assert_eq!(
            eval.expired,
            [ExpiredRule {
                id: "old-waiver".into(),
                until: day(2026, 5, 31),
                origin: "rules/t.toml:2".into(),
                matched: 2
            }]
        );
    }

    #[test]
    fn an_ignore_rule_applies_through_its_until_day() {
        let set = rules(
            "[[rule]]\nid = \"w\"\nmatch = \"a\"\nexpect = \"ignore\"\nreason = \"r\"\nuntil = 2026-06-01\n",
        );
        let eval = run(&set, json!({"a": 1}), json!({"a": 2}));
        assert_eq!(summary(&eval), ["expected w a"]);
        assert!(eval.expired.is_empty());
        let later = set.evaluate(
            &CTX,
            &tree(json!({"a": 1})),
            &tree(json!({"a": 2})),
            &diff(&tree(json!({"a": 1})), &tree(json!({"a": 2}))),
            day(2026, 6, 2),
        );
        assert_eq!(summary(&later), ["finding default a"]);
        assert_eq!(later.expired[0].matched, 1);
    }

    #[test]
    fn the_builtin_defaults_hide_counters_but_not_schema() {
        let set = RuleSet::load(&[], true).unwrap();
        let eval = run(
            &set,
            json!({"stats": {"pages": 1}, "counters": {"users": 10}, "schema": {"tables": {"t": {"auto_increment": 5, "columns": {"a": "int"}}}, "sequences": {"s": {"last_value": 3, "increment": 1}}}, "rows": {"t": 100}}),
            json!({"stats": {"pages": 2}, "counters": {"users": 11}, "schema": {"tables": {"t": {"auto_increment": 9, "columns": {"a": "text"}}}, "sequences": {"s": {"last_value": 7, "increment": 2}}}, "rows": {"t": 105}}),
        );
        assert_eq!(
            summary(&eval),
            [
                "expected builtin-counters counters/users",
                "expected builtin-row-counts rows/t (differs by 5.0% (allowed 10%))",
                "finding default schema/sequences/s/increment",
                "expected builtin-sequence-last-value schema/sequences/s/last_value",
                "expected builtin-auto-increment schema/tables/t/auto_increment",
                "finding default schema/tables/t/columns/a",
                "expected builtin-stats stats/pages",
            ]
        );
    }

    #[test]
    fn verdicts_serialise_as_lower_case_json() {
        let eval = run(&RuleSet::default(), json!({"a": 1}), json!({"a": 2}));
        let text = serde_json::to_string(&eval).unwrap();
        assert!(text.contains(r#""outcome":"finding""#), "{text}");
        assert!(text.contains(r#""severity":"warning""#), "{text}");
        assert!(text.contains(r#""kind":"changed""#), "{text}");
    }
}
