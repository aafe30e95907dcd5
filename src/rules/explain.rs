//! Why a path is decided the way it is: every rule tried, in order, up to the one that decides.

use chrono::NaiveDate;
use serde::Serialize;

use super::model::{Applies, Expectation, PairContext, Rule, Severity};
use super::RuleSet;
use crate::snapshot::Path;

/// One rule considered for a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExplainStep {
    /// The rule's id.
    pub rule: String,
    /// Where it is written.
    pub origin: String,
    /// Whether it took effect (matched, in scope, not expired): only the deciding rule.
    pub matched: bool,
    /// Why it did or did not decide.
    pub why: String,
}

/// How the rules decide one path in one context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The path explained.
    pub path: Path,
    /// The rules considered, in decision order, ending with the deciding one if any.
    pub steps: Vec<ExplainStep>,
    /// Id of the deciding rule, or `"default"`.
    pub decided_by: String,
    /// The deciding expectation (`"equal"`, `"within_percent 10"`, …).
    pub expectation: String,
    /// The deciding severity.
    pub severity: Severity,
}

/// What the deciding step says: the expectation, with the reason or severity.
fn decision(rule: &Rule) -> String {
    match (&rule.expect, &rule.reason) {
        (Expectation::Ignore, Some(reason)) => format!("decides: ignore (reason {reason})"),
        (expect, _) => format!("decides: {expect} (severity {})", rule.severity),
    }
}

impl RuleSet {
    /// Traces the decision for `path` in `ctx` on `today`, rule by rule.
    pub fn explain(&self, ctx: &PairContext<'_>, path: &Path, today: NaiveDate) -> Explanation {
        let mut steps = Vec::new();
        for rule in self.rules() {
            let (matched, why) = match rule.applies(ctx, path, today) {
                Applies::OutOfScope(why) => (false, why),
                Applies::NoMatch => (false, "pattern does not match".to_string()),
                Applies::Expired(until) => (
                    false,
                    format!("expired on {until} (pattern matches, but the rule is skipped)"),
                ),
                Applies::Decides => (true, decision(rule)),
            };
            steps.push(ExplainStep {
                rule: rule.id.clone(),
                origin: rule.origin.to_string(),
                matched,
                why,
            });
            if matched {
                return Explanation {
                    path: path.clone(),
                    steps,
                    decided_by: rule.id.clone(),
                    expectation: rule.expect.to_string(),
                    severity: rule.severity,
                };
            }
        }
        Explanation {
            path: path.clone(),
            steps,
            decided_by: "default".into(),
            expectation: Expectation::Equal.to_string(),
            severity: Severity::Warning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path as FsPath;

    const CTX: PairContext<'static> = PairContext {
        pair: "staging-vs-production",
        baseline: "production",
        candidate: "staging",
        source: "appdb",
    };

    fn set() -> RuleSet {
        let text = r#"[[rule]]
id = "config-only"
match = "**"
expect = "ignore"
reason = "config noise"
source = "app-config"

[[rule]]
id = "other-table"
match = "rows/orders"

[[rule]]
id = "old-waiver"
match = "rows/*"
expect = "ignore"
reason = "bulk import"
until = 2026-01-01

[[rule]]
id = "rows"
match = "rows/*"
expect = { within_percent = 10 }

[[rule]]
id = "after"
match = "**"
"#;
        RuleSet::from_rules(RuleSet::parse(FsPath::new("rules/r.toml"), text).unwrap()).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn whys(explanation: &Explanation) -> Vec<String> {
        explanation
            .steps
            .iter()
            .map(|s| format!("{} {} {}: {}", s.rule, s.origin, s.matched, s.why))
            .collect()
    }

    #[test]
    fn explain_lists_each_rule_tried_until_the_deciding_one() {
        let e = set().explain(&CTX, &Path::parse("rows/users").unwrap(), today());
        assert_eq!(
            whys(&e),
            [
                "config-only rules/r.toml:1 false: scoped to source app-config",
                "other-table rules/r.toml:8 false: pattern does not match",
                "old-waiver rules/r.toml:12 false: expired on 2026-01-01 (pattern matches, but the rule is skipped)",
                "rows rules/r.toml:19 true: decides: within_percent 10 (severity warning)",
            ]
        );
        assert_eq!(e.decided_by, "rows");
        assert_eq!(e.expectation, "within_percent 10");
        assert_eq!(e.severity, Severity::Warning);
    }

    #[test]
    fn explain_shows_an_ignore_rule_deciding_with_its_reason() {
        let ctx = PairContext {
            source: "app-config",
            ..CTX
        };
        let e = set().explain(&ctx, &Path::parse("anything").unwrap(), today());
        assert_eq!(e.steps.len(), 1);
        assert_eq!(e.steps[0].why, "decides: ignore (reason config noise)");
        assert_eq!(e.decided_by, "config-only");
        assert_eq!(e.expectation, "ignore");
    }

    #[test]
    fn explain_falls_back_to_the_implicit_default() {
        let e = RuleSet::default().explain(&CTX, &Path::parse("x").unwrap(), today());
        assert!(e.steps.is_empty());
        assert_eq!(e.decided_by, "default");
        assert_eq!(e.expectation, "equal");
        assert_eq!(e.severity, Severity::Warning);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""path":"x""#) && json.contains(r#""severity":"warning""#));
    }
}
