//! ⑧ Data parity: row checksums of chosen tables, located down to the differing keys.
//!
//! The rows of a table are spread over buckets by a hash of their primary key, so both sides
//! of a pair bucket alike without talking to each other, whatever the key's type, sparsity or
//! width (data-diff splits interpolated key *ranges*, which suffer from sparse and compound
//! keys). Each collection stores, per table, the count and the sum of a 48-bit row hash of
//! each of the 256 first-level buckets: one scan, one statement per table. When a pair's
//! buckets differ, [`refine`] asks both databases again, only about those buckets: finer
//! buckets (8 more key-hash bits, one statement per side per level) until few rows are left,
//! then their keys and row hashes, and reports keys only: missing, extra, different.
//!
//! A count is paired with every hash sum, so duplicates cannot cancel out (an XOR would).
//! A table without a primary key, or past its row or time budget, is reported as such, never
//! as equal.

mod engine;
pub mod pii;
mod refine;
mod sql;

pub use engine::Engine;
pub use refine::{needs_refinement, refine};

use std::collections::BTreeMap;

use crate::config::{ChecksumSpec, SourceKind};
use crate::glob::NameGlob;
use crate::snapshot::{Node, Tree};

/// Key-hash bits of the first level (256 buckets).
pub const FIRST_BITS: u32 = 8;

/// Key-hash bits added by each further level.
pub const STEP_BITS: u32 = 8;

/// Below this many rows in the differing buckets, keys and row hashes are downloaded.
pub const DOWNLOAD_BELOW: u64 = 20_000;

/// Name of the subtree holding checksummed tables.
pub const DATA: &str = "data";

/// What is checksummed of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// `schema.table` (or `table`) as configured.
    pub table: String,
    /// Schema, when qualified.
    pub schema: Option<String>,
    /// Table name.
    pub name: String,
    /// Primary-key columns, in key order.
    pub key: Vec<String>,
    /// Columns hashed, in table order (excluded ones left out; key columns included).
    pub columns: Vec<String>,
}

/// One bucket's row count and sum of 48-bit row hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    /// Rows in the bucket.
    pub count: u64,
    /// Sum of their row hashes (48-bit each, so 2^80 rows would be needed to overflow).
    pub sum: i128,
}

/// Buckets by number (only non-empty ones).
pub type Digest = BTreeMap<u32, Bucket>;

/// Why a table cannot be checksummed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParityError {
    /// The table does not exist (or the role cannot see it).
    #[error("no such table (or no privilege to read it)")]
    NoTable,
    /// Without a primary key, rows cannot be named.
    #[error("cannot checksum: the table has no primary key, so rows cannot be named")]
    NoKey,
    /// More rows than the configured budget.
    #[error("too large to verify: {rows} rows is more than max_rows = {max}")]
    TooManyRows {
        /// Rows found.
        rows: u64,
        /// The budget.
        max: u64,
    },
    /// The time budget ran out.
    #[error("too large to verify: the checksum took longer than {0:?}")]
    Timeout(std::time::Duration),
    /// A statement was cut at the time limit: the table is too large for it. (Cut sooner
    /// than the limit, another session cancelled it instead: see [`collect`].)
    #[error("too large to verify: {0}")]
    Cut(String),
    /// The database refused or failed.
    #[error("{0}")]
    Query(String),
    /// The server went away, or another session holds the table locked: nothing is known
    /// about the table, so the collection fails instead of recording an error value.
    #[error("{message}")]
    Unavailable {
        /// The connection was lost (else a lock wait was cut).
        connection_lost: bool,
        /// What the driver said (passwords masked).
        message: String,
    },
}

/// Splits `schema.table` (or `table`).
pub fn split_name(table: &str) -> (Option<String>, String) {
    match table.split_once('.') {
        Some((schema, name)) => (Some(schema.to_string()), name.to_string()),
        None => (None, table.to_string()),
    }
}

/// Whether `column` of `table` is excluded by the spec's globs (`column` or `schema.table.column`).
pub fn excluded(spec: &ChecksumSpec, table: &str, column: &str) -> bool {
    let qualified = format!("{table}.{column}");
    spec.exclude_columns.iter().any(|glob| {
        let pattern = NameGlob::new(glob);
        pattern.matches(column) || pattern.matches(&qualified)
    })
}

/// Whether the source is a database the parity checks can query.
pub fn is_sql(kind: &SourceKind) -> bool {
    matches!(
        kind,
        SourceKind::Sqlite { .. } | SourceKind::Postgres { .. } | SourceKind::Mysql { .. }
    )
}

/// The checksum spec of a SQL source, if it has one.
pub fn spec_of(kind: &SourceKind) -> Option<&ChecksumSpec> {
    match kind {
        SourceKind::Sqlite { options, .. }
        | SourceKind::Postgres { options, .. }
        | SourceKind::Mysql { options, .. } => options.checksums.as_ref(),
        _ => None,
    }
}

/// The `data` subtree of a source: per configured table, its first-level digest or the reason
/// it has none. Connection failures fail the collection; per-table problems are leaves.
pub async fn collect(kind: &SourceKind) -> Result<Option<Tree>, crate::collectors::CollectError> {
    let Some(spec) = spec_of(kind) else {
        return Ok(None);
    };
    let mut engine = Engine::open(kind, spec.timeout).await?;
    let mut data = Node::map();
    for table in &spec.tables {
        let started = std::time::Instant::now();
        let node = match engine.first_level(table, spec).await {
            // Cancelling a statement (`pg_cancel_backend`) gives the same SQLSTATE as the time
            // limit; one that came before the limit could be reached says nothing about the
            // table, so it fails the collection rather than become a "too large" finding.
            Err(ParityError::Cut(message)) if started.elapsed() < spec.timeout => {
                return Err(crate::collectors::CollectError::query(
                    target_of(kind),
                    crate::collectors::error::cancelled_by_another_session(
                        &format!("checksumming {table}"),
                        started.elapsed(),
                        "the checksum timeout",
                        &message,
                    ),
                ));
            }
            Ok((shape, digest)) => digest_node(&engine, &shape, &digest),
            Err(ParityError::Unavailable {
                connection_lost,
                message,
            }) => {
                let target = target_of(kind);
                let message = format!("checksumming {table}: {message}");
                return Err(if connection_lost {
                    crate::collectors::CollectError::connect(
                        target,
                        message,
                        Some(crate::collectors::error::LOST_HINT),
                    )
                } else {
                    crate::collectors::CollectError::query(target, message)
                });
            }
            Err(error) => {
                let mut node = Node::map();
                node.insert("error", Node::str(error.to_string()));
                node
            }
        };
        data.insert(table.clone(), node);
    }
    engine.close().await;
    Ok(Some(data))
}

/// The redacted location of a SQL source, for messages.
fn target_of(kind: &SourceKind) -> String {
    match kind {
        SourceKind::Sqlite { path, .. } => path.display().to_string(),
        SourceKind::Postgres { url, .. } | SourceKind::Mysql { url, .. } => url.redacted(),
        _ => String::new(),
    }
}

/// The tree node of one table's digest.
fn digest_node(engine: &Engine, shape: &Shape, digest: &Digest) -> Node {
    let mut node = Node::map();
    node.insert("algorithm", Node::str(engine.algorithm()));
    node.insert(
        "key",
        Node::List(shape.key.iter().map(|k| Node::str(k.clone())).collect()),
    );
    node.insert(
        "columns",
        Node::List(shape.columns.iter().map(|c| Node::str(c.clone())).collect()),
    );
    let rows: u64 = digest.values().map(|b| b.count).sum();
    node.insert("rows", Node::Int(i64::try_from(rows).unwrap_or(i64::MAX)));
    node.insert("buckets", Node::str(format_buckets(digest)));
    node
}

/// One line per non-empty bucket: `bucket count sum` (a multi-line leaf, so a change since
/// the last snapshot shows as a diff of the buckets that changed).
pub fn format_buckets(digest: &Digest) -> String {
    let mut out = String::new();
    for (bucket, b) in digest {
        out.push_str(&format!("{bucket:02x} {} {}\n", b.count, b.sum));
    }
    out
}

/// Reads [`format_buckets`] back; `None` if the text is not a digest.
pub fn parse_buckets(text: &str) -> Option<Digest> {
    let mut digest = Digest::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let bucket = u32::from_str_radix(parts.next()?, 16).ok()?;
        let count = parts.next()?.parse().ok()?;
        let sum = parts.next()?.parse().ok()?;
        digest.insert(bucket, Bucket { count, sum });
    }
    Some(digest)
}

/// Buckets whose count or sum differ, or that exist on one side only.
pub fn differing(a: &Digest, b: &Digest) -> Vec<u32> {
    let mut keys: Vec<u32> = a.keys().chain(b.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter().filter(|k| a.get(k) != b.get(k)).collect()
}

/// Rows in `buckets` on the side that has more of them.
pub fn rows_in(a: &Digest, b: &Digest, buckets: &[u32]) -> u64 {
    let count = |d: &Digest| -> u64 {
        buckets
            .iter()
            .filter_map(|k| d.get(k))
            .map(|b| b.count)
            .sum()
    };
    count(a).max(count(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_compare() {
        let mut a = Digest::new();
        a.insert(3, Bucket { count: 2, sum: 99 });
        a.insert(200, Bucket { count: 1, sum: -5 });
        let text = format_buckets(&a);
        assert_eq!(text, "03 2 99\nc8 1 -5\n");
        assert_eq!(parse_buckets(&text), Some(a.clone()));
        let mut b = a.clone();
        b.insert(200, Bucket { count: 1, sum: -6 });
        b.insert(7, Bucket { count: 4, sum: 1 });
        assert_eq!(differing(&a, &b), vec![7, 200]);
        assert_eq!(rows_in(&a, &b, &[7, 200]), 5);
        assert_eq!(parse_buckets("zz"), None);
    }

    #[test]
    fn exclusions_match_bare_and_qualified_columns() {
        let spec = ChecksumSpec {
            exclude_columns: vec!["updated_at".into(), "public.orders.*_at".into()],
            ..Default::default()
        };
        assert!(excluded(&spec, "public.plans", "updated_at"));
        assert!(excluded(&spec, "public.orders", "synced_at"));
        assert!(!excluded(&spec, "public.plans", "synced_at"));
    }
}
