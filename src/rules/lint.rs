//! Checks on a rule set against a config: scopes naming nothing, expired waivers, dead rules.

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use super::model::Rule;
use super::RuleSet;
use crate::config::Config;
use crate::glob::NameGlob;

/// How serious a lint issue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LintLevel {
    /// The rule is certainly wrong (it names something that does not exist).
    Error,
    /// The rule is probably stale or useless.
    Warning,
}

impl fmt::Display for LintLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LintLevel::Error => "error",
            LintLevel::Warning => "warning",
        })
    }
}

/// One problem found in a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LintIssue {
    /// Error or warning.
    pub level: LintLevel,
    /// The rule's id.
    pub rule: String,
    /// Where the rule is written.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

/// An error when an exact (glob-free) scope names nothing in `known`.
fn unknown_name<'a>(
    glob: Option<&NameGlob>,
    what: &str,
    known: impl Iterator<Item = &'a str>,
) -> Option<String> {
    let glob = glob.filter(|g| g.is_exact())?;
    let known: Vec<&str> = known.collect();
    if known.contains(&glob.as_str()) {
        return None;
    }
    let mut listed = known.clone();
    listed.sort_unstable();
    listed.dedup();
    Some(format!(
        "scoped to {what} {:?}, which the config does not define (known: {})",
        glob.as_str(),
        if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        }
    ))
}

/// The earlier rule that always decides before `rule` could, if any.
fn shadowed_by<'r>(earlier: &'r [Rule], rule: &Rule) -> Option<&'r Rule> {
    earlier.iter().find(|e| {
        e.scope == rule.scope
            && e.until.is_none()
            && (e.pattern.matches_everything() || e.pattern == rule.pattern)
    })
}

impl RuleSet {
    /// Problems in these rules given `config`, on `today`, in rule order.
    pub fn lint(&self, config: &Config, today: NaiveDate) -> Vec<LintIssue> {
        let mut issues = Vec::new();
        let rules = self.rules();
        for (i, rule) in rules.iter().enumerate() {
            let mut issue = |level, message| {
                issues.push(LintIssue {
                    level,
                    rule: rule.id.clone(),
                    origin: rule.origin.to_string(),
                    message,
                })
            };
            let pairs = config.pairs.iter().map(|p| p.name.as_str());
            let sources = config
                .environments
                .values()
                .flat_map(|e| e.sources.keys().map(String::as_str));
            let environments = config.environments.keys().map(String::as_str);
            let scope = &rule.scope;
            for message in [
                unknown_name(scope.pair.as_ref(), "pair", pairs),
                unknown_name(scope.source.as_ref(), "source", sources),
                unknown_name(scope.environment.as_ref(), "environment", environments),
            ]
            .into_iter()
            .flatten()
            {
                issue(LintLevel::Error, message);
            }
            if let (true, Some(until)) = (rule.is_expired(today), rule.until) {
                issue(
                    LintLevel::Warning,
                    format!(
                        "expired on {until}: it no longer applies; remove it, or extend until if \
                         the difference is still expected"
                    ),
                );
            }
            if let Some(earlier) = shadowed_by(&rules[..i], rule) {
                let how = if earlier.pattern.matches_everything() {
                    "matches every path".to_string()
                } else {
                    format!("has the same pattern {:?}", rule.pattern.as_str())
                };
                issue(
                    LintLevel::Warning,
                    format!(
                        "can never decide: rule {:?} ({}) comes first with the same scope and {how}",
                        earlier.id, earlier.origin
                    ),
                );
            }
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path as FsPath;

    fn config() -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("driftwarden.toml");
        let mut text = String::from(
            "[[pairs]]\nname = \"staging-vs-production\"\nbaseline = \"production\"\ncandidate = \"staging\"\n",
        );
        for env in ["production", "staging"] {
            for name in ["appdb", "app-config"] {
                text.push_str(&format!(
                    "[environments.{env}.sources.{name}]\nkind = \"file\"\npath = \"x.yaml\"\n"
                ));
            }
        }
        std::fs::write(&file, text).unwrap();
        crate::config::load_with_env(&file, &|_| None).unwrap()
    }

    fn lint(text: &str) -> Vec<String> {
        let set =
            RuleSet::from_rules(RuleSet::parse(FsPath::new("r.toml"), text).unwrap()).unwrap();
        set.lint(&config(), NaiveDate::from_ymd_opt(2026, 6, 1).unwrap())
            .iter()
            .map(|i| format!("{} {} {}: {}", i.level, i.rule, i.origin, i.message))
            .collect()
    }

    #[test]
    fn exact_scopes_naming_nothing_are_errors_but_globs_are_not() {
        let issues = lint(
            r#"[[rule]]
id = "typo-pair"
match = "x"
pair = "stagign-vs-production"
[[rule]]
id = "typo-source"
match = "x"
source = "app-db"
environment = "prod"
[[rule]]
id = "globs"
match = "x"
pair = "qa-*"
source = "*db"
environment = "stag*"
[[rule]]
id = "fine"
match = "y"
pair = "staging-vs-production"
source = "appdb"
environment = "staging"
"#,
        );
        assert_eq!(
            issues,
            [
                "error typo-pair r.toml:1: scoped to pair \"stagign-vs-production\", which the config does not define (known: staging-vs-production)",
                "error typo-source r.toml:5: scoped to source \"app-db\", which the config does not define (known: app-config, appdb)",
                "error typo-source r.toml:5: scoped to environment \"prod\", which the config does not define (known: production, staging)",
            ]
        );
    }

    #[test]
    fn expired_ignore_rules_are_warnings() {
        let issues = lint(
            "[[rule]]\nid = \"old\"\nmatch = \"x\"\nexpect = \"ignore\"\nreason = \"r\"\nuntil = 2026-05-31\n\
             [[rule]]\nid = \"current\"\nmatch = \"y\"\nexpect = \"ignore\"\nreason = \"r\"\nuntil = 2026-06-01\n",
        );
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].starts_with("warning old r.toml:1: expired on 2026-05-31"),
            "{issues:?}"
        );
    }

    #[test]
    fn rules_behind_an_equal_pattern_or_match_all_with_the_same_scope_are_shadowed() {
        let issues = lint(
            r#"[[rule]]
id = "first"
match = "a/*"
source = "appdb"
[[rule]]
id = "same-pattern"
match = "a/*"
source = "appdb"
[[rule]]
id = "other-scope"
match = "a/*"
[[rule]]
id = "catch-all"
match = "**"
expect = "ignore"
reason = "r"
[[rule]]
id = "behind-catch-all"
match = "b"
[[rule]]
id = "scoped-behind-catch-all"
match = "b"
source = "appdb"
"#,
        );
        assert_eq!(
            issues,
            [
                "warning same-pattern r.toml:5: can never decide: rule \"first\" (r.toml:1) comes first with the same scope and has the same pattern \"a/*\"",
                "warning behind-catch-all r.toml:17: can never decide: rule \"catch-all\" (r.toml:12) comes first with the same scope and matches every path",
            ]
        );
    }

    #[test]
    fn a_temporary_waiver_does_not_shadow_what_follows() {
        let issues = lint(
            "[[rule]]\nid = \"w\"\nmatch = \"**\"\nexpect = \"ignore\"\nreason = \"r\"\nuntil = 2027-01-01\n\
             [[rule]]\nid = \"after\"\nmatch = \"x\"\n",
        );
        assert!(issues.is_empty(), "{issues:?}");
    }
}
