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
}

impl RuleSet {
    /// The rules, in decision order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}
