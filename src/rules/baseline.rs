//! Baselines: ignore rules accepting today's drift, one per exact path, written as TOML text.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::pattern::escape_literal;
use crate::snapshot::Path;

/// Hex digits of the path hash in a baseline rule id.
const HASH_LEN: usize = 12;

/// TOML text of one ignore rule per `(source, path)` entry, scoped to `pair` and that source.
///
/// Ids are `baseline-<source>-<hash>`, the hash taken over the pair and the path, so baselines
/// of different pairs can be loaded together. Duplicate entries are written once; the root path
/// cannot be matched by a pattern and is skipped with a comment.
pub fn baseline_rules(
    pair: &str,
    entries: &[(String, Path)],
    reason: &str,
    until: Option<NaiveDate>,
) -> String {
    let mut unique = BTreeSet::new();
    let entries: Vec<&(String, Path)> = entries.iter().filter(|e| unique.insert(*e)).collect();
    let mut lines = vec![
        format!(
            "# Baseline for pair {}: {} accepted difference(s).",
            quote(pair),
            entries.len()
        ),
        "# Each rule ignores one exact path of one source; delete a rule to report that".into(),
        "# difference again. The first matching rule decides, so load this file after any".into(),
        "# rule that must still decide for these paths.".into(),
    ];
    if let Some(until) = until {
        lines.push(format!("# These rules stop applying after {until}."));
    }
    for (source, path) in entries {
        lines.push(String::new());
        if path.is_root() {
            lines.push(format!(
                "# skipped: the whole of source {} (the root path has no pattern)",
                quote(source)
            ));
            continue;
        }
        let id = format!("baseline-{source}-{}", short_hash(pair, path));
        lines.extend([
            "[[rule]]".to_string(),
            format!("id = {}", quote(&id)),
            format!("match = {}", quote(&escape_literal(path))),
            "expect = \"ignore\"".to_string(),
            format!("pair = {}", quote(pair)),
            format!("source = {}", quote(source)),
            format!("reason = {}", quote(reason)),
        ]);
        if let Some(until) = until {
            lines.push(format!("until = {}", until.format("%Y-%m-%d")));
        }
    }
    lines.push(String::new());
    lines.join("\n")
}

fn short_hash(pair: &str, path: &Path) -> String {
    let mut hasher = Sha256::new();
    hasher.update(pair.as_bytes());
    hasher.update([0]);
    hasher.update(path.to_string().as_bytes());
    let mut hex = hex::encode(hasher.finalize());
    hex.truncate(HASH_LEN);
    hex
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Expectation, PairContext, RuleSet};
    use std::path::Path as FsPath;

    fn entry(source: &str, segments: &[&str]) -> (String, Path) {
        (
            source.to_string(),
            Path::from_segments(segments.iter().copied()),
        )
    }

    #[test]
    fn baseline_rules_reparse_and_ignore_exactly_their_paths() {
        let entries = vec![
            entry("appdb", &["schema", "tables", "users", "columns", "email"]),
            entry("appdb", &["schema", "tables", "*", "weird/key", "50%", ""]),
            entry("app-config", &["quote\"and\\slash", "line\nbreak", "**"]),
            entry("appdb", &["schema", "tables", "users", "columns", "email"]),
        ];
        let until = NaiveDate::from_ymd_opt(2026, 12, 31);
        let text = baseline_rules(
            "staging-vs-production",
            &entries,
            "accepted \"as is\" on day one",
            until,
        );
        assert!(
            text.starts_with("# Baseline for pair \"staging-vs-production\": 3"),
            "{text}"
        );
        let rules = RuleSet::parse(FsPath::new("rules/baseline.toml"), &text).unwrap();
        assert_eq!(rules.len(), 3);
        for (rule, (source, path)) in rules.iter().zip(&entries) {
            assert!(
                rule.id.starts_with(&format!("baseline-{source}-")),
                "{}",
                rule.id
            );
            assert_eq!(
                rule.id.len(),
                "baseline-".len() + source.len() + 1 + HASH_LEN
            );
            assert_eq!(rule.expect, Expectation::Ignore);
            assert_eq!(rule.until, until);
            assert_eq!(
                rule.reason.as_deref(),
                Some("accepted \"as is\" on day one")
            );
            assert!(rule.pattern.is_literal());
            assert!(rule.pattern.matches(path));
            let mut sibling = path.segments().to_vec();
            sibling.push("child".into());
            assert!(!rule.pattern.matches(&Path::from_segments(sibling)));
            let ctx = PairContext {
                pair: "staging-vs-production",
                baseline: "production",
                candidate: "staging",
                source,
            };
            assert_eq!(rule.scope.mismatch(&ctx), None);
            let other = PairContext {
                pair: "qa-vs-production",
                ..ctx
            };
            assert!(rule.scope.mismatch(&other).is_some());
        }
    }

    #[test]
    fn baselines_of_two_pairs_load_together() {
        let entries = vec![entry("appdb", &["rows", "users"])];
        let a = baseline_rules("staging-vs-production", &entries, "r", None);
        let b = baseline_rules("qa-vs-production", &entries, "r", None);
        let mut rules = RuleSet::parse(FsPath::new("a.toml"), &a).unwrap();
        rules.extend(RuleSet::parse(FsPath::new("b.toml"), &b).unwrap());
        assert!(RuleSet::from_rules(rules).is_ok());
        assert!(!a.contains("until"));
    }

    #[test]
    fn the_root_path_is_skipped_with_a_comment() {
        let text = baseline_rules("p", &[entry("s", &[])], "r", None);
        assert!(text.contains("# skipped"));
        assert!(RuleSet::parse(FsPath::new("b.toml"), &text)
            .unwrap()
            .is_empty());
    }
}
