//! Reading rule files: TOML → validated [`Rule`]s in decision order, with located errors.
//!
//! Sources load in the order given; a folder contributes its `*.toml` files sorted by file
//! name; rules keep their order within a file; the built-in defaults come last.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};

use chrono::NaiveDate;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::model::{Expectation, Origin, Rule, Scope, Severity};
use super::pattern::Pattern;
use super::PiiRule;
use super::RuleSet;
use crate::config::error::line_col;
use crate::config::read::{read_text, MAX_CONFIG_BYTES};
use crate::config::ConfigError;
use crate::glob::NameGlob;

/// The built-in default rules (known noise), applied after the user's rules.
pub const DEFAULT_RULES: &str = include_str!("../../rules/builtin/defaults.toml");

/// The file name the built-in defaults report as their origin.
pub const DEFAULT_RULES_ORIGIN: &str = "<builtin>/defaults.toml";

const PATTERN_HINT: &str = "patterns are paths joined by `/`: `*` matches within one segment, \
     `**` (a whole segment) matches any number of segments, %2A is a literal `*`, %E an empty key";
const EXPECT_HINT: &str = "use \"equal\", \"differ\", \"ignore\", \"candidate_nonzero\", \
     { within_percent = 10 }, { at_least_percent = 90 } or { ratio = [0.5, 2.0] }";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pii: Vec<Spanned<RawPii>>,
}

/// `[[pii]]`: a column holding personal data.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPii {
    #[serde(rename = "match")]
    column: Spanned<String>,
    source: Option<String>,
    sample: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    expect: Option<Spanned<RawExpect>>,
    severity: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
    until: Option<Spanned<toml::Value>>,
    pair: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    environment: Option<Spanned<String>>,
    labels: Option<BTreeMap<String, String>>,
    replace: Option<Spanned<BTreeMap<String, String>>>,
    runbook_url: Option<String>,
    notify: Option<bool>,
}

/// `expect` as written: a name, or an inline table whose entries keep their spans.
enum RawExpect {
    Name(String),
    Table(Vec<(Spanned<String>, Spanned<toml::Value>)>),
}

impl<'de> Deserialize<'de> for RawExpect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = RawExpect;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECT_HINT)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawExpect, E> {
                Ok(RawExpect::Name(value.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawExpect, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Spanned<toml::Value>>()?));
                }
                Ok(RawExpect::Table(entries))
            }
        }
        deserializer.deserialize_any(ExpectVisitor)
    }
}

/// One file's text, for located errors.
struct Source<'a> {
    file: &'a FsPath,
    text: &'a str,
}

impl Source<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>, hint: &str) -> ConfigError {
        ConfigError::at(
            self.file,
            self.text,
            Some(span),
            message,
            Some(hint.to_string()),
        )
    }

    fn rules(&self) -> Result<ParsedFile, ConfigError> {
        let raw: RawFile = toml::from_str(self.text)
            .map_err(|e| ConfigError::from_toml(self.file, self.text, &e))?;
        let pii = raw
            .pii
            .into_iter()
            .map(|p| self.pii(p))
            .collect::<Result<_, _>>()?;
        let rules = raw
            .rule
            .into_iter()
            .map(|r| self.rule(r))
            .collect::<Result<_, _>>()?;
        Ok((rules, pii))
    }

    fn pii(&self, raw: Spanned<RawPii>) -> Result<PiiRule, ConfigError> {
        let line = line_col(self.text, raw.span().start).0;
        let raw = raw.into_inner();
        let column = raw.column.get_ref().trim();
        if column.split('.').count() < 2 || column.split('.').any(str::is_empty) {
            return Err(self.err(
                raw.column.span(),
                format!("pii match {column:?} does not name a column"),
                "write match = \"schema.table.column\" (or \"table.column\"); `*` matches any run of characters",
            ));
        }
        let sample = raw.sample.unwrap_or(10_000);
        if sample == 0 {
            return Err(self.err(
                raw.column.span(),
                "pii sample is 0",
                "sample is how many production values are checked; the default is 10000",
            ));
        }
        Ok(PiiRule {
            column: NameGlob::new(column),
            source: raw.source.as_deref().map(NameGlob::new),
            sample,
            origin: Origin {
                file: self.file.to_path_buf(),
                line,
            },
        })
    }

    fn rule(&self, raw: Spanned<RawRule>) -> Result<(Rule, Range<usize>), ConfigError> {
        // The span of an array-of-tables entry starts at its `[[rule]]` header.
        let line = line_col(self.text, raw.span().start).0;
        let raw = raw.into_inner();
        let id_span = raw.id.span();
        let id = raw.id.into_inner();
        if id.trim().is_empty() {
            return Err(self.err(
                id_span,
                "rule id is empty",
                "give every rule a short unique id",
            ));
        }
        if id == "default" {
            return Err(self.err(
                id_span,
                "rule id \"default\" is reserved for the implicit default rule",
                "choose another id",
            ));
        }
        let pattern = Pattern::parse(raw.pattern.get_ref())
            .map_err(|e| self.err(raw.pattern.span(), e.to_string(), PATTERN_HINT))?;
        let (expect, expect_span) = match raw.expect {
            Some(e) => {
                let span = e.span();
                (self.expectation(span.clone(), e.into_inner())?, Some(span))
            }
            None => (Expectation::Equal, None),
        };
        let severity = match raw.severity {
            Some(s) => s
                .get_ref()
                .parse::<Severity>()
                .map_err(|m| self.err(s.span(), m, "use info, warning or critical"))?,
            None => Severity::Warning,
        };
        let reason = match raw.reason {
            Some(r) if r.get_ref().trim().is_empty() => {
                return Err(self.err(
                    r.span(),
                    "reason is empty",
                    "say why the difference is expected, or leave reason out",
                ))
            }
            Some(r) => Some(r.into_inner()),
            None => None,
        };
        let is_ignore = expect == Expectation::Ignore;
        if is_ignore && reason.is_none() {
            return Err(self.err(
                expect_span.unwrap_or(id_span),
                format!("ignore rule {id:?} has no reason"),
                "add reason = \"…\" saying why this difference is expected",
            ));
        }
        let until = match raw.until {
            Some(u) if !is_ignore => {
                return Err(self.err(
                    u.span(),
                    format!("`until` is only allowed on ignore rules, and {id:?} expects {expect}"),
                    "remove until, or make the rule expect = \"ignore\"",
                ))
            }
            Some(u) => Some(self.date(&u)?),
            None => None,
        };
        let mut replace = Vec::new();
        if let Some(r) = raw.replace {
            if !matches!(expect, Expectation::Equal | Expectation::Differ) {
                return Err(self.err(
                    r.span(),
                    format!("`replace` only applies to equal and differ rules, not {expect}"),
                    "remove replace, or use expect = \"equal\" or \"differ\"",
                ));
            }
            if r.get_ref().keys().any(String::is_empty) {
                return Err(self.err(
                    r.span(),
                    "`replace` has an empty key",
                    "every key is a non-empty substring to replace",
                ));
            }
            replace = r.into_inner().into_iter().collect();
            // Longest first: the documented leftmost-longest order, independent of key order.
            replace.sort_by(|a: &(String, String), b| {
                b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0))
            });
        }
        let scope = Scope {
            pair: self.glob(raw.pair, "pair")?,
            source: self.glob(raw.source, "source")?,
            environment: self.glob(raw.environment, "environment")?,
        };
        let rule = Rule {
            id,
            pattern,
            expect,
            severity,
            reason,
            until,
            scope,
            labels: raw.labels.unwrap_or_default(),
            replace,
            runbook_url: raw.runbook_url,
            notify: raw.notify.unwrap_or(true),
            origin: Origin {
                file: self.file.to_path_buf(),
                line,
            },
        };
        Ok((rule, id_span))
    }

    fn expectation(&self, span: Range<usize>, raw: RawExpect) -> Result<Expectation, ConfigError> {
        let entries = match raw {
            RawExpect::Name(name) => {
                return match name.as_str() {
                    "equal" => Ok(Expectation::Equal),
                    "differ" => Ok(Expectation::Differ),
                    "ignore" => Ok(Expectation::Ignore),
                    "candidate_nonzero" => Ok(Expectation::CandidateNonzero),
                    _ => Err(self.err(span, format!("unknown expectation {name:?}"), EXPECT_HINT)),
                }
            }
            RawExpect::Table(entries) => entries,
        };
        let [(key, value)] = entries.as_slice() else {
            return Err(self.err(
                span,
                "an expectation table has exactly one key",
                EXPECT_HINT,
            ));
        };
        match key.get_ref().as_str() {
            "within_percent" => match number(value.get_ref()) {
                Some(n) if n >= 0.0 => Ok(Expectation::WithinPercent(n)),
                Some(_) => Err(self.err(
                    value.span(),
                    "within_percent is negative",
                    "give the allowed difference as a percentage of the baseline, e.g. 10",
                )),
                None => Err(self.err(
                    value.span(),
                    "within_percent must be a number",
                    "write e.g. { within_percent = 10 }",
                )),
            },
            "at_least_percent" => match number(value.get_ref()) {
                Some(n) if n >= 0.0 => Ok(Expectation::AtLeastPercent(n)),
                _ => Err(self.err(
                    value.span(),
                    "at_least_percent must be a number of at least 0",
                    "write e.g. { at_least_percent = 90 }: the candidate has at least 90% of the baseline",
                )),
            },
            "ratio" => {
                let bounds = match value.get_ref() {
                    toml::Value::Array(items) if items.len() == 2 => {
                        number(&items[0]).zip(number(&items[1]))
                    }
                    _ => None,
                };
                match bounds {
                    Some((lo, hi)) if lo < 0.0 || hi < 0.0 => Err(self.err(
                        value.span(),
                        format!("ratio bounds [{lo}, {hi}] are negative"),
                        "ratios compare candidate / baseline and are at least 0",
                    )),
                    Some((lo, hi)) if lo > hi => Err(self.err(
                        value.span(),
                        format!("ratio lower bound {lo} is above the upper bound {hi}"),
                        "write [lo, hi] with lo <= hi, e.g. [0.5, 2.0]",
                    )),
                    Some((lo, hi)) => Ok(Expectation::Ratio(lo, hi)),
                    None => Err(self.err(
                        value.span(),
                        "ratio must be two numbers [lo, hi]",
                        "write e.g. { ratio = [0.5, 2.0] }",
                    )),
                }
            }
            other => Err(self.err(
                key.span(),
                format!("unknown expectation {other:?}"),
                EXPECT_HINT,
            )),
        }
    }

    fn date(&self, value: &Spanned<toml::Value>) -> Result<NaiveDate, ConfigError> {
        let date = match value.get_ref() {
            toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => d
                .date
                .and_then(|d| NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())),
            toml::Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => None,
        };
        date.ok_or_else(|| {
            self.err(
                value.span(),
                "`until` is not a date",
                "write a date such as until = 2026-12-31 (the last day the rule applies)",
            )
        })
    }

    fn glob(
        &self,
        value: Option<Spanned<String>>,
        what: &str,
    ) -> Result<Option<NameGlob>, ConfigError> {
        match value {
            Some(v) if v.get_ref().is_empty() => Err(self.err(
                v.span(),
                format!("`{what}` is empty"),
                &format!("name a {what} (or a glob such as \"staging-*\"), or leave {what} out"),
            )),
            Some(v) => Ok(Some(NameGlob::new(v.get_ref()))),
            None => Ok(None),
        }
    }
}

/// A finite number from an integer or float value.
fn number(value: &toml::Value) -> Option<f64> {
    match value {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// Accumulates rules across files, keeping the first origin of each id.
/// A file's rules (each with its id's span, for duplicate errors) and its `[[pii]]` columns.
type ParsedFile = (Vec<(Rule, Range<usize>)>, Vec<PiiRule>);

#[derive(Default)]
struct Loader {
    rules: Vec<Rule>,
    pii: Vec<PiiRule>,
    seen: HashMap<String, String>,
}

impl Loader {
    fn add(&mut self, file: &FsPath, text: &str) -> Result<(), ConfigError> {
        let source = Source { file, text };
        let (rules, pii) = source.rules()?;
        self.pii.extend(pii);
        for (rule, id_span) in rules {
            if let Some(first) = self.seen.get(&rule.id) {
                return Err(source.err(
                    id_span,
                    format!("duplicate rule id {:?} (first defined at {first})", rule.id),
                    duplicate_hint(&rule.id),
                ));
            }
            self.seen.insert(rule.id.clone(), rule.origin.to_string());
            self.rules.push(rule);
        }
        Ok(())
    }
}

fn duplicate_hint(id: &str) -> &'static str {
    if id.starts_with("builtin-") {
        "ids starting with builtin- belong to the built-in defaults; rename yours, or set \
         default_rules = false to replace the defaults"
    } else {
        "rule ids are unique across all rule files; rename one of them"
    }
}

/// The rule files a configured path stands for: itself, or a folder's `*.toml` by file name.
fn files_of(path: &FsPath) -> Result<Vec<PathBuf>, ConfigError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "create it, or fix `rules` in driftwarden.toml (paths are relative to its folder)"
        } else {
            "check the path and its permissions"
        };
        ConfigError::file(
            path,
            format!("cannot read rules path {}: {e}", path.display()),
            Some(hint.into()),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        ConfigError::file(
            path,
            format!("cannot list rules folder {}: {e}", path.display()),
            Some("check the folder's permissions".into()),
        )
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path();
        if file.extension().is_some_and(|ext| ext == "toml") && file.is_file() {
            files.push(file);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

impl RuleSet {
    /// Loads rule files and folders in order, then the built-in defaults when asked.
    pub fn load(paths: &[PathBuf], include_defaults: bool) -> Result<RuleSet, ConfigError> {
        let mut loader = Loader::default();
        for path in paths {
            for file in files_of(path)? {
                let text = read_text(&file, MAX_CONFIG_BYTES).map_err(|e| {
                    e.into_config_error(
                        &file,
                        "cannot read rules file",
                        "check the file exists and is readable",
                    )
                })?;
                loader.add(&file, &text)?;
            }
        }
        if include_defaults {
            loader.add(FsPath::new(DEFAULT_RULES_ORIGIN), DEFAULT_RULES)?;
        }
        Ok(RuleSet {
            rules: loader.rules,
            pii: loader.pii,
        })
    }

    /// Parses one rules file's text (ids must be unique within it).
    pub fn parse(file: &FsPath, text: &str) -> Result<Vec<Rule>, ConfigError> {
        let mut loader = Loader::default();
        loader.add(file, text)?;
        Ok(loader.rules)
    }

    /// A rule set from rules already in decision order; ids must be unique.
    pub fn from_rules(rules: Vec<Rule>) -> Result<RuleSet, ConfigError> {
        let mut seen: HashMap<&str, &Rule> = HashMap::new();
        for rule in &rules {
            if let Some(first) = seen.insert(&rule.id, rule) {
                return Err(ConfigError {
                    file: rule.origin.file.clone(),
                    line: Some(rule.origin.line),
                    column: None,
                    message: format!(
                        "duplicate rule id {:?} (first defined at {})",
                        rule.id, first.origin
                    ),
                    hint: Some(duplicate_hint(&rule.id).into()),
                });
            }
        }
        Ok(RuleSet {
            rules,
            pii: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Rule>, ConfigError> {
        RuleSet::parse(FsPath::new("rules/x.toml"), text)
    }

    fn error(text: &str) -> ConfigError {
        parse(text).unwrap_err()
    }

    fn at(err: &ConfigError) -> (usize, usize) {
        (err.line.unwrap(), err.column.unwrap())
    }

    #[test]
    fn a_full_rule_loads_every_field() {
        let rules = parse(
            r#"
# comment
[[rule]]
id = "db-host-must-differ"
match = "database/host"
expect = "differ"
severity = "critical"
reason = "staging must never point at the production database"
pair = "staging-*"
source = "app-config"
environment = "staging"
labels = { team = "payments" }
replace = { "staging." = "", "-stg" = "" }
runbook_url = "https://runbooks.example/db"
notify = false
"#,
        )
        .unwrap();
        let rule = &rules[0];
        assert_eq!(rule.id, "db-host-must-differ");
        assert_eq!(rule.pattern.as_str(), "database/host");
        assert_eq!(rule.expect, Expectation::Differ);
        assert_eq!(rule.severity, Severity::Critical);
        assert_eq!(rule.scope.pair.as_ref().unwrap().as_str(), "staging-*");
        assert_eq!(rule.scope.source.as_ref().unwrap().as_str(), "app-config");
        assert_eq!(rule.scope.environment.as_ref().unwrap().as_str(), "staging");
        assert_eq!(rule.labels["team"], "payments");
        assert_eq!(
            rule.replace,
            [("staging.".into(), "".into()), ("-stg".into(), "".into())]
        );
        assert_eq!(
            rule.runbook_url.as_deref(),
            Some("https://runbooks.example/db")
        );
        assert!(!rule.notify);
        assert_eq!(rule.origin.to_string(), "rules/x.toml:3");
    }

    #[test]
    fn defaults_are_equal_warning_notify_and_no_scope() {
        let rules = parse("[[rule]]\nid = \"a\"\nmatch = \"x/**\"\n").unwrap();
        let rule = &rules[0];
        assert_eq!(rule.expect, Expectation::Equal);
        assert_eq!(rule.severity, Severity::Warning);
        assert!(rule.notify);
        assert_eq!(rule.scope, Scope::default());
        assert!(rule.replace.is_empty() && rule.labels.is_empty());
    }

    #[test]
    fn numeric_expectations_and_until_dates_parse() {
        let rules = parse(
            r#"
[[rule]]
id = "a"
match = "rows/*"
expect = { within_percent = 12.5 }
[[rule]]
id = "b"
match = "rows/users"
expect = { ratio = [0.5, 2] }
[[rule]]
id = "c"
match = "x"
expect = "ignore"
reason = "r"
until = 2026-12-31
[[rule]]
id = "d"
match = "y"
expect = "ignore"
reason = "r"
until = "2027-01-15"
"#,
        )
        .unwrap();
        assert_eq!(rules[0].expect, Expectation::WithinPercent(12.5));
        assert_eq!(rules[1].expect, Expectation::Ratio(0.5, 2.0));
        assert_eq!(rules[2].until, NaiveDate::from_ymd_opt(2026, 12, 31));
        assert_eq!(rules[3].until, NaiveDate::from_ymd_opt(2027, 1, 15));
        assert_eq!(rules[3].origin.line, 16);
    }

    #[test]
    fn invalid_toml_is_located() {
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"x\nseverity = 1\n");
        assert_eq!(at(&err), (3, 11), "{err}");
        assert_eq!(err.file, PathBuf::from("rules/x.toml"));
    }

    #[test]
    fn an_unknown_key_is_located_at_the_key() {
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"x\"\nseverty = \"info\"\n");
        assert_eq!(at(&err), (4, 1));
        assert!(err.message.contains("unknown field"), "{}", err.message);
        assert!(err.hint.is_some());
    }

    #[test]
    fn an_ignore_rule_without_reason_points_at_expect() {
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"x\"\nexpect = \"ignore\"\n");
        assert_eq!(at(&err), (4, 10));
        assert!(err.message.contains("no reason"));
    }

    #[test]
    fn a_bad_glob_points_at_the_pattern() {
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"a**/b\"\n");
        assert_eq!(at(&err), (3, 9));
        assert!(err.message.contains("**"), "{}", err.message);
        assert!(err.hint.as_deref().unwrap().contains("segment"));
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"a//b\"\n");
        assert_eq!(at(&err), (3, 9));
    }

    #[test]
    fn a_duplicate_id_points_at_the_second_id() {
        let err =
            error("[[rule]]\nid = \"a\"\nmatch = \"x\"\n\n[[rule]]\nid = \"a\"\nmatch = \"y\"\n");
        assert_eq!(at(&err), (6, 6));
        assert!(err.message.contains("rules/x.toml:1"), "{}", err.message);
    }

    #[test]
    fn until_on_a_non_ignore_rule_is_refused() {
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"x\"\nuntil = 2026-01-01\n");
        assert_eq!(at(&err), (4, 9));
    }

    #[test]
    fn bad_values_point_at_themselves() {
        let cases: [(&str, (usize, usize)); 10] = [
            ("expect = \"different\"", (4, 10)),
            ("expect = { ratio = [2, 1] }", (4, 20)),
            ("expect = { ratio = [-1, 1] }", (4, 20)),
            ("expect = { ratio = [1] }", (4, 20)),
            ("expect = { within_percent = -5 }", (4, 29)),
            ("expect = { within = 5 }", (4, 12)),
            ("expect = 5", (4, 10)),
            ("severity = \"fatal\"", (4, 12)),
            ("pair = \"\"", (4, 8)),
            (
                "expect = \"ignore\"\nreason = \"r\"\nuntil = \"soon\"",
                (6, 9),
            ),
        ];
        for (line, expected) in cases {
            let err = error(&format!("[[rule]]\nid = \"a\"\nmatch = \"x\"\n{line}\n"));
            assert_eq!(at(&err), expected, "{line}: {err}");
            assert!(err.hint.is_some(), "{line}");
        }
    }

    #[test]
    fn replace_is_only_for_equal_and_differ_rules() {
        let err = error(
            "[[rule]]\nid = \"a\"\nmatch = \"x\"\nexpect = { within_percent = 1 }\nreplace = { a = \"b\" }\n",
        );
        assert_eq!(at(&err).0, 5);
        let err = error("[[rule]]\nid = \"a\"\nmatch = \"x\"\nreplace = { \"\" = \"b\" }\n");
        assert!(err.message.contains("empty key"));
    }

    #[test]
    fn reserved_and_empty_ids_are_refused() {
        assert!(error("[[rule]]\nid = \"default\"\nmatch = \"x\"\n")
            .message
            .contains("reserved"));
        assert!(error("[[rule]]\nid = \"\"\nmatch = \"x\"\n")
            .message
            .contains("empty"));
    }

    #[test]
    fn an_empty_file_has_no_rules() {
        assert!(parse("# nothing yet\n").unwrap().is_empty());
    }

    #[test]
    fn the_builtin_defaults_parse_and_every_rule_has_a_reason() {
        let rules = RuleSet::parse(FsPath::new(DEFAULT_RULES_ORIGIN), DEFAULT_RULES).unwrap();
        assert!(rules.len() >= 5);
        assert!(rules.iter().all(|r| r.reason.is_some()));
        assert!(rules.iter().all(|r| r.id.starts_with("builtin-")));
    }

    #[test]
    fn the_annotated_example_parses_and_loads_alongside_the_defaults() {
        let text = include_str!("../../rules/examples/staging-vs-production.toml");
        let mut rules = RuleSet::parse(FsPath::new("staging-vs-production.toml"), text).unwrap();
        assert!(rules.len() >= 10);
        assert!(rules.iter().any(|r| r.expect == Expectation::Differ));
        assert!(rules.iter().any(|r| r.until.is_some()));
        rules.extend(RuleSet::parse(FsPath::new(DEFAULT_RULES_ORIGIN), DEFAULT_RULES).unwrap());
        assert!(RuleSet::from_rules(rules).is_ok());
    }

    fn write(dir: &FsPath, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn load_order_is_config_order_then_file_names_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("rules");
        std::fs::create_dir(&folder).unwrap();
        write(
            &folder,
            "b.toml",
            "[[rule]]\nid = \"b1\"\nmatch = \"x\"\n[[rule]]\nid = \"b2\"\nmatch = \"y\"\n",
        );
        write(&folder, "a.toml", "[[rule]]\nid = \"a1\"\nmatch = \"x\"\n");
        write(&folder, "notes.txt", "not rules");
        let first = write(
            dir.path(),
            "first.toml",
            "[[rule]]\nid = \"f1\"\nmatch = \"x\"\n",
        );
        let set = RuleSet::load(&[first, folder.clone()], true).unwrap();
        let ids: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(&ids[..4], ["f1", "a1", "b1", "b2"]);
        assert!(ids[4..].iter().all(|id| id.starts_with("builtin-")));
        let without = RuleSet::load(&[folder], false).unwrap();
        assert_eq!(without.rules().len(), 3);
    }

    #[test]
    fn a_duplicate_id_across_files_names_both_places() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.toml",
            "[[rule]]\nid = \"same\"\nmatch = \"x\"\n",
        );
        let b = write(
            dir.path(),
            "b.toml",
            "\n[[rule]]\nid = \"same\"\nmatch = \"y\"\n",
        );
        let err = RuleSet::load(&[a.clone(), b.clone()], false).unwrap_err();
        assert_eq!(err.file, b);
        assert_eq!(at(&err), (3, 6));
        assert!(err.message.contains(&format!("{}:1", a.display())), "{err}");
    }

    #[test]
    fn a_missing_rules_path_is_named_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = RuleSet::load(std::slice::from_ref(&missing), true).unwrap_err();
        assert_eq!(err.file, missing);
        assert!(err.message.contains("nope"));
        assert!(err.hint.is_some());
    }

    #[test]
    fn from_rules_refuses_duplicate_ids() {
        let mut rules = parse("[[rule]]\nid = \"a\"\nmatch = \"x\"\n").unwrap();
        rules.push(rules[0].clone());
        let err = RuleSet::from_rules(rules).unwrap_err();
        assert!(err.message.contains("duplicate"));
        assert!(RuleSet::from_rules(Vec::new()).is_ok());
    }
}
