//! ④ Rules: which changes matter. Pure: trees and changes in, verdicts out; no I/O but loading.
//!
//! Rules are TOML (`[[rule]]` tables, see docs/rules.md). They are kept in decision order (rule
//! sources in config order, a folder's files by name, rules in file order, built-in defaults
//! last) and, for each change, the first rule whose pattern and scopes match decides.

pub mod baseline;
pub mod evaluate;
pub mod explain;
pub mod lint;
pub mod load;
pub mod model;
pub mod pattern;

pub use crate::glob::NameGlob;
pub use baseline::baseline_rules;
pub use evaluate::{Evaluation, ExpiredRule, Outcome, Verdict};
pub use explain::{ExplainStep, Explanation};
pub use lint::{LintIssue, LintLevel};
pub use load::{DEFAULT_RULES, DEFAULT_RULES_ORIGIN};
pub use model::{Expectation, Origin, PairContext, Rule, Scope, Severity};
pub use pattern::{escape_literal, Pattern, PatternError};

/// Rules in decision order: the first one that matches a change decides it.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    pii: Vec<PiiRule>,
}

impl RuleSet {
    /// The rules, in decision order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The `[[pii]]` columns that apply to `source`.
    pub fn pii_for(&self, source: &str) -> Vec<PiiRule> {
        self.pii
            .iter()
            .filter(|p| p.source.as_ref().is_none_or(|g| g.matches(source)))
            .cloned()
            .collect()
    }
}

/// `[[pii]]`: a column holding personal data; production values must never be in the candidate.
#[derive(Debug, Clone)]
pub struct PiiRule {
    /// `schema.table.column` (or `table.column`), globs allowed.
    pub column: crate::glob::NameGlob,
    /// Only for sources whose name matches.
    pub source: Option<crate::glob::NameGlob>,
    /// How many baseline values are checked.
    pub sample: u64,
    /// Where it is written.
    pub origin: Origin,
}
