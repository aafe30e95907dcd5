//! At comparison time: turn "these buckets differ" into "these keys differ".
//!
//! Works on copies of a pair's two trees: each differing table's `buckets` leaf is replaced by
//! `keys/<key>` leaves (a short row-hash prefix as the value: keys only, never column values),
//! so the ordinary diff reports each missing, extra or different row by its key. When the rows
//! cannot be located (a side unreachable, over budget, shapes that differ), both sides get a
//! one-line `checksum` summary instead: still a difference, never "equal".

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info, warn};

use super::{
    differing, parse_buckets, rows_in, spec_of, Digest, Engine, ParityError, Shape, DATA,
    DOWNLOAD_BELOW, FIRST_BITS, STEP_BITS,
};
use crate::config::{ChecksumSpec, SourceKind};
use crate::snapshot::{Node, Tree};

/// Most rows downloaded per side for one table, whatever the budget says.
const DOWNLOAD_MAX: u64 = 2_000_000;

fn data(tree: &Tree) -> Option<&BTreeMap<String, Node>> {
    match tree {
        Node::Map(root) => match root.get(DATA) {
            Some(Node::Map(tables)) => Some(tables),
            _ => None,
        },
        _ => None,
    }
}

fn table_node<'a>(tree: &'a mut Tree, table: &str) -> Option<&'a mut BTreeMap<String, Node>> {
    match tree {
        Node::Map(root) => match root.get_mut(DATA) {
            Some(Node::Map(tables)) => match tables.get_mut(table) {
                Some(Node::Map(node)) => Some(node),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Tables checksummed on both sides whose buckets differ.
fn differing_tables(a: &Tree, b: &Tree) -> Vec<String> {
    let (Some(a), Some(b)) = (data(a), data(b)) else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|(table, node)| {
            let other = b.get(table)?;
            let buckets = |n: &Node| match n {
                Node::Map(m) => m.get("buckets").cloned(),
                _ => None,
            };
            let (x, y) = (buckets(node)?, buckets(other)?);
            (x != y).then(|| table.clone())
        })
        .collect()
}

/// Whether [`refine`] has work to do for these two trees.
pub fn needs_refinement(a: &Tree, b: &Tree) -> bool {
    !differing_tables(a, b).is_empty()
}

/// What the bisection found for one table.
#[derive(Debug, Default)]
struct Located {
    /// Keys in the baseline only, with its row hash.
    missing: BTreeMap<String, String>,
    /// Keys in the candidate only.
    extra: BTreeMap<String, String>,
    /// Keys in both whose rows differ: (baseline hash, candidate hash).
    different: BTreeMap<String, (String, String)>,
}

/// Locates the differing rows of every differing table of the two trees and rewrites both
/// trees accordingly (see the module docs). Returns `false` when a side could not be reached
/// (or lost its connection, or had the table locked): the trees then carry a summary for those
/// tables, which a daemon must not take for the state of the data (its comparison is unknown).
pub async fn refine(
    baseline: &SourceKind,
    baseline_tree: &mut Tree,
    candidate: &SourceKind,
    candidate_tree: &mut Tree,
) -> bool {
    let tables = differing_tables(baseline_tree, candidate_tree);
    if tables.is_empty() {
        return true;
    }
    let mut reached = true;
    let spec = spec_of(candidate)
        .or_else(|| spec_of(baseline))
        .cloned()
        .unwrap_or_default();
    let mut engines: Option<(Engine, Engine)> = None;
    for table in tables {
        let outcome = match comparable(baseline_tree, candidate_tree, &table) {
            Err(reason) => Err(reason),
            Ok((shape, a, b)) => {
                if engines.is_none() {
                    engines = open_both(baseline, candidate, &spec).await.ok();
                }
                match engines.as_mut() {
                    None => {
                        reached = false;
                        Err("a side could not be reached to locate the rows".to_string())
                    }
                    Some((x, y)) => {
                        match tokio::time::timeout(spec.timeout, locate(x, y, &shape, &a, &b)).await
                        {
                            Ok(Ok(located)) => Ok(located),
                            Ok(Err(error)) => {
                                reached &= !matches!(error, ParityError::Unavailable { .. });
                                Err(error.to_string())
                            }
                            Err(_) => Err(ParityError::Timeout(spec.timeout).to_string()),
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(located) => {
                info!(table = %table, missing = located.missing.len(), extra = located.extra.len(), different = located.different.len(), "Located differing rows.");
                apply_keys(
                    baseline_tree,
                    candidate_tree,
                    &table,
                    &located,
                    spec.max_keys,
                );
            }
            Err(reason) => {
                warn!(table = %table, reason = %reason, "Rows differ but could not be located.");
                apply_summary(baseline_tree, candidate_tree, &table, &reason);
            }
        }
    }
    if let Some((x, y)) = engines {
        x.close().await;
        y.close().await;
    }
    reached
}

async fn open_both(
    baseline: &SourceKind,
    candidate: &SourceKind,
    spec: &ChecksumSpec,
) -> Result<(Engine, Engine), ()> {
    let (x, y) = tokio::join!(
        Engine::open(baseline, spec.timeout),
        Engine::open(candidate, spec.timeout)
    );
    match (x, y) {
        (Ok(x), Ok(y)) => Ok((x, y)),
        (x, y) => {
            for error in [x.err(), y.err()].into_iter().flatten() {
                warn!(error = %error, "Opening a checksum connection failed.");
            }
            Err(())
        }
    }
}

/// The shared shape and both first-level digests, or why the two sides cannot be compared
/// row by row.
fn comparable(a: &Tree, b: &Tree, table: &str) -> Result<(Shape, Digest, Digest), String> {
    let (Some(x), Some(y)) = (
        data(a).and_then(|d| d.get(table)),
        data(b).and_then(|d| d.get(table)),
    ) else {
        return Err("missing on one side".into());
    };
    let get = |n: &Node, key: &str| match n {
        Node::Map(m) => m.get(key).cloned(),
        _ => None,
    };
    for field in ["algorithm", "key", "columns"] {
        if get(x, field) != get(y, field) {
            return Err(format!("not comparable row by row: the {field} differ"));
        }
    }
    let list = |n: Option<Node>| -> Vec<String> {
        match n {
            Some(Node::List(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let digest = |n: &Node| {
        get(n, "buckets")
            .and_then(|b| b.as_str().and_then(parse_buckets))
            .ok_or_else(|| "unreadable bucket digest".to_string())
    };
    let (schema, name) = super::split_name(table);
    let shape = Shape {
        table: table.to_string(),
        schema,
        name,
        key: list(get(x, "key")),
        columns: list(get(x, "columns")),
    };
    Ok((shape, digest(x)?, digest(y)?))
}

/// Narrows down level by level (one statement per side per level), then downloads keys and
/// row hashes of the few rows left and compares them.
async fn locate(
    a: &mut Engine,
    b: &mut Engine,
    shape: &Shape,
    first_a: &Digest,
    first_b: &Digest,
) -> Result<Located, ParityError> {
    let mut bits = FIRST_BITS;
    let mut buckets = differing(first_a, first_b);
    let mut rows = rows_in(first_a, first_b, &buckets);
    while rows > DOWNLOAD_BELOW && bits + STEP_BITS <= 32 {
        let next = bits + STEP_BITS;
        let (da, db) = tokio::join!(
            a.digest(shape, next, Some((bits, &buckets))),
            b.digest(shape, next, Some((bits, &buckets)))
        );
        let (da, db) = (da?, db?);
        buckets = differing(&da, &db);
        rows = rows_in(&da, &db, &buckets);
        bits = next;
        debug!(table = %shape.table, bits, buckets = buckets.len(), rows, "Narrowed the differing buckets.");
    }
    if buckets.is_empty() {
        return Ok(Located::default());
    }
    if rows > DOWNLOAD_MAX {
        return Err(ParityError::Query(format!(
            "too large to verify: {rows} rows differ or share buckets with differing rows"
        )));
    }
    let (ra, rb) = tokio::join!(a.rows(shape, bits, &buckets), b.rows(shape, bits, &buckets));
    let (ra, rb) = (ra?, rb?);
    let mut located = Located::default();
    for (key, hash) in &ra {
        match rb.get(key) {
            None => {
                located.missing.insert(key.clone(), hash.clone());
            }
            Some(other) if other != hash => {
                located
                    .different
                    .insert(key.clone(), (hash.clone(), other.clone()));
            }
            Some(_) => {}
        }
    }
    for (key, hash) in &rb {
        if !ra.contains_key(key) {
            located.extra.insert(key.clone(), hash.clone());
        }
    }
    Ok(located)
}

/// Short enough to say nothing about the row, long enough to tell two versions apart.
fn short(hash: &str) -> Node {
    Node::str(format!("row {}", hash.get(..8).unwrap_or(hash)))
}

fn apply_keys(a: &mut Tree, b: &mut Tree, table: &str, located: &Located, max_keys: usize) {
    let mut keys_a = BTreeMap::new();
    let mut keys_b = BTreeMap::new();
    // Keys sorted across kinds, so the cap keeps a stable, representative subset.
    let mut all: BTreeSet<&String> = BTreeSet::new();
    all.extend(located.missing.keys());
    all.extend(located.extra.keys());
    all.extend(located.different.keys());
    let total = all.len();
    for key in all.into_iter().take(max_keys) {
        if let Some(h) = located.missing.get(key) {
            keys_a.insert(key.clone(), short(h));
        }
        if let Some(h) = located.extra.get(key) {
            keys_b.insert(key.clone(), short(h));
        }
        if let Some((x, y)) = located.different.get(key) {
            keys_a.insert(key.clone(), short(x));
            keys_b.insert(key.clone(), short(y));
        }
    }
    let summary = format!(
        "{} missing, {} extra, {} different",
        located.missing.len(),
        located.extra.len(),
        located.different.len()
    );
    for (tree, keys, is_candidate) in [(a, keys_a, false), (b, keys_b, true)] {
        if let Some(node) = table_node(tree, table) {
            node.remove("buckets");
            node.insert("keys".into(), Node::Map(keys));
            if is_candidate && total > max_keys {
                node.insert(
                    "keys_not_listed".into(),
                    Node::str(format!(
                        "{} more differing keys not listed (max_keys = {max_keys}); {summary}",
                        total - max_keys
                    )),
                );
            }
        }
    }
}

fn apply_summary(a: &mut Tree, b: &mut Tree, table: &str, reason: &str) {
    for (tree, is_candidate) in [(a, false), (b, true)] {
        if let Some(node) = table_node(tree, table) {
            let rows = node.get("rows").cloned().unwrap_or(Node::Null);
            node.remove("buckets");
            let text = if is_candidate {
                format!("differs ({rows} rows); rows not located: {reason}")
            } else {
                format!("{rows} rows")
            };
            node.insert("checksum".into(), Node::str(text));
        }
    }
}
