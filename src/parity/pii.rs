//! The PII-leak check: production values of columns tagged `[[pii]]` must not be in the
//! candidate (staging must be anonymised).
//!
//! Values are hashed with HMAC-SHA256 under a key drawn for this one check and then dropped,
//! the moment they are read: neither side's values are held in clear, and the hashes cannot be
//! matched against anything after the check. A bounded sample of the baseline (`sample`,
//! default 10,000 values) is hashed into a set; the candidate's values stream past it, up to
//! [`CANDIDATE_SCAN`] of them. Only a count leaves this module, never a value.

use std::collections::HashSet;

use futures_util::TryStreamExt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::{AssertSqlSafe, Row};
use tracing::{info, warn};

use super::sql::Dialect;
use super::{split_name, Engine, ParityError};
use crate::config::SourceKind;
use crate::rules::PiiRule;
use crate::snapshot::{Node, Tree};

/// Most candidate values compared per column.
pub const CANDIDATE_SCAN: u64 = 5_000_000;

/// Name of the subtree holding PII results.
pub const PII: &str = "pii";

type Hash = [u8; 32];

/// `schema.table.column` of every column in `tree` that a rule tags, as (table, column).
fn tagged_columns(tree: &Tree, rules: &[PiiRule]) -> Vec<(String, String)> {
    let Some(Node::Map(tables)) =
        tree.get(&crate::snapshot::Path::from_segments(["schema", "tables"]))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (table, node) in tables {
        let Node::Map(fields) = node else { continue };
        let Some(Node::Map(columns)) = fields.get("columns") else {
            continue;
        };
        for column in columns.keys() {
            let qualified = format!("{table}.{column}");
            if rules.iter().any(|r| r.column.matches(&qualified)) {
                out.push((table.clone(), column.clone()));
            }
        }
    }
    out
}

/// The sample size for a column: the largest asked by the rules that tag it.
fn sample_for(rules: &[PiiRule], table: &str, column: &str) -> u64 {
    let qualified = format!("{table}.{column}");
    rules
        .iter()
        .filter(|r| r.column.matches(&qualified))
        .map(|r| r.sample)
        .max()
        .unwrap_or(10_000)
}

/// Runs the check for every tagged column and records the outcome in both trees as
/// `pii/<table.column>`: equal leaves when nothing leaked, different ones when it did (the
/// built-in rules make that critical).
pub async fn check(
    baseline: &SourceKind,
    baseline_tree: &mut Tree,
    candidate: &SourceKind,
    candidate_tree: &mut Tree,
    rules: &[PiiRule],
) {
    let columns = tagged_columns(baseline_tree, rules);
    if columns.is_empty() {
        return;
    }
    let timeout =
        super::spec_of(candidate).map_or(std::time::Duration::from_secs(300), |s| s.timeout);
    let (a, b) = tokio::join!(
        Engine::open(baseline, timeout),
        Engine::open(candidate, timeout)
    );
    let (mut a, mut b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let reason = [a.err(), b.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            for (table, column) in &columns {
                record(baseline_tree, candidate_tree, table, column, Err(&reason));
            }
            return;
        }
    };
    let mut key = [0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        warn!("No randomness for the PII check's key; it is skipped.");
        return;
    }
    for (table, column) in &columns {
        let sample = sample_for(rules, table, column);
        let outcome = overlap(&mut a, &mut b, table, column, sample, &key).await;
        match &outcome {
            Ok((0, n)) => {
                info!(table = %table, column = %column, sampled = n, "No production values in the candidate.")
            }
            Ok((found, n)) => {
                warn!(table = %table, column = %column, sampled = n, found, "Production values found in the candidate.")
            }
            Err(error) => {
                warn!(table = %table, column = %column, error = %error, "PII check failed.")
            }
        }
        let outcome = outcome.map_err(|e| e.to_string());
        record(
            baseline_tree,
            candidate_tree,
            table,
            column,
            outcome.as_ref().map(|o| *o).map_err(String::as_str),
        );
    }
    a.close().await;
    b.close().await;
}

/// (distinct sampled baseline values found in the candidate, baseline values sampled).
async fn overlap(
    a: &mut Engine,
    b: &mut Engine,
    table: &str,
    column: &str,
    sample: u64,
    key: &[u8; 32],
) -> Result<(u64, u64), ParityError> {
    let mut sampled: HashSet<Hash> = HashSet::new();
    a.each_value(table, column, sample, key, |h| {
        sampled.insert(h);
        true
    })
    .await?;
    let mut found: HashSet<Hash> = HashSet::new();
    b.each_value(table, column, CANDIDATE_SCAN, key, |h| {
        if sampled.contains(&h) {
            found.insert(h);
        }
        // Every sampled value found: nothing more to learn.
        found.len() < sampled.len()
    })
    .await?;
    Ok((found.len() as u64, sampled.len() as u64))
}

fn record(
    a: &mut Tree,
    b: &mut Tree,
    table: &str,
    column: &str,
    outcome: Result<(u64, u64), &str>,
) {
    let leaf = format!("{table}.{column}");
    let (base, cand) = match outcome {
        Ok((0, _)) => (
            "no production value in the candidate".to_string(),
            "no production value in the candidate".to_string(),
        ),
        Ok((found, sampled)) => (
            "no production value in the candidate".to_string(),
            format!("{found} of {sampled} sampled production values found in the candidate"),
        ),
        Err(reason) => ("checked".to_string(), format!("could not check: {reason}")),
    };
    a.entry(PII).insert(leaf.clone(), Node::str(base));
    b.entry(PII).insert(leaf, Node::str(cand));
}

fn keyed(key: &[u8; 32], value: &str) -> Hash {
    let mut out = [0u8; 32];
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        // Case and surrounding blanks do not make a leaked e-mail address anonymous.
        mac.update(value.trim().to_lowercase().as_bytes());
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

impl Engine {
    /// Streams up to `limit` non-null values of `table.column`, each keyed-hashed as it is
    /// read; `each` returns false to stop early.
    pub async fn each_value(
        &mut self,
        table: &str,
        column: &str,
        limit: u64,
        key: &[u8; 32],
        mut each: impl FnMut(Hash) -> bool,
    ) -> Result<(), ParityError> {
        let (schema, name) = split_name(table);
        let shape = super::Shape {
            table: table.into(),
            schema,
            name,
            key: vec![],
            columns: vec![],
        };
        macro_rules! stream {
            ($conn:expr, $sql:expr) => {{
                let mut rows = sqlx::query(AssertSqlSafe($sql)).fetch($conn);
                while let Some(row) = rows
                    .try_next()
                    .await
                    .map_err(|e| ParityError::Query(e.to_string()))?
                {
                    let value: Option<String> = row
                        .try_get(0)
                        .map_err(|e| ParityError::Query(e.to_string()))?;
                    if let Some(value) = value {
                        if !each(keyed(key, &value)) {
                            break;
                        }
                    }
                }
            }};
        }
        match self {
            Engine::Postgres(conn) => {
                let d = Dialect::Postgres;
                let c = d.quote(column);
                stream!(
                    &mut *conn,
                    format!(
                        "SELECT {c}::text FROM {} WHERE {c} IS NOT NULL LIMIT {limit}",
                        d.table(&shape)
                    )
                )
            }
            Engine::Mysql(conn) => {
                let d = Dialect::Mysql;
                let c = d.quote(column);
                stream!(
                    &mut *conn,
                    format!(
                        "SELECT CAST({c} AS CHAR) FROM {} WHERE {c} IS NOT NULL LIMIT {limit}",
                        d.table(&shape)
                    )
                )
            }
            Engine::Sqlite(conn) => {
                let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
                let t = match &shape.schema {
                    Some(s) => format!("{}.{}", q(s), q(&shape.name)),
                    None => q(&shape.name),
                };
                let c = q(column);
                stream!(
                    &mut *conn,
                    format!(
                        "SELECT CAST({c} AS TEXT) FROM {t} WHERE {c} IS NOT NULL LIMIT {limit}"
                    )
                )
            }
        }
        Ok(())
    }
}
