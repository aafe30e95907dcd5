//! One check pass: collect the sources of the selected pairs, diff, apply rules, report.
//!
//! Shared by `driftwarden check`, `rules baseline` and the demo.

pub mod collect;
pub mod stored;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;

pub use collect::{Progress, Silent, SourceKey};

use crate::collectors::CollectError;
use crate::config::{Config, Pair};
use crate::diff::diff;
use crate::findings;
use crate::report::{
    CheckReport, PairReport, PairStatus, SnapshotInfo, SourceError, SourceSummary, UnmatchedSource,
};
use crate::rules::{PairContext, RuleSet};
use crate::snapshot::redact::Redactor;
use crate::snapshot::Snapshot;

/// A pair name that is not in the config.
#[derive(Debug, thiserror::Error)]
#[error("no pair named {name:?} in the config (pairs: {known})")]
pub struct UnknownPair {
    /// The name asked for.
    pub name: String,
    /// The names that exist.
    pub known: String,
}

/// The pairs selected by `--pair` (all when `None`).
pub fn select_pairs<'a>(
    config: &'a Config,
    only: Option<&str>,
) -> Result<Vec<&'a Pair>, UnknownPair> {
    match only {
        None => Ok(config.pairs.iter().collect()),
        Some(name) => config
            .pair(name)
            .map(|p| vec![p])
            .ok_or_else(|| UnknownPair {
                name: name.to_string(),
                known: config
                    .pairs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
    }
}

/// Every (environment, source) the pairs compare.
pub fn sources_of(config: &Config, pairs: &[&Pair]) -> BTreeSet<SourceKey> {
    let mut wanted = BTreeSet::new();
    for pair in pairs {
        for source in config.compared_sources(pair) {
            wanted.insert((pair.baseline.clone(), source.clone()));
            wanted.insert((pair.candidate.clone(), source));
        }
    }
    wanted
}

/// Collects and compares the selected pairs.
pub async fn run(
    config: &Config,
    rules: &RuleSet,
    redactor: Arc<Redactor>,
    pairs: &[&Pair],
    progress: Arc<dyn Progress>,
    today: NaiveDate,
) -> CheckReport {
    let results = collect(config, redactor, pairs, progress).await;
    compare(config, rules, pairs, &results, today).await
}

/// Collects every source the pairs compare.
pub async fn collect(
    config: &Config,
    redactor: Arc<Redactor>,
    pairs: &[&Pair],
    progress: Arc<dyn Progress>,
) -> BTreeMap<SourceKey, Result<Snapshot, CollectError>> {
    let wanted = sources_of(config, pairs);
    collect::collect_all(config, &wanted, redactor, progress).await
}

/// Compares the pairs from already-collected (or stored) snapshots. Checksummed tables whose
/// buckets differ are first narrowed down to keys against both live databases.
pub async fn compare(
    config: &Config,
    rules: &RuleSet,
    pairs: &[&Pair],
    results: &BTreeMap<SourceKey, Result<Snapshot, CollectError>>,
    today: NaiveDate,
) -> CheckReport {
    let mut reports = Vec::new();
    for pair in pairs {
        let refined = refine_pair(config, rules, pair, results).await;
        reports.push(compare_pair(config, rules, pair, results, &refined, today));
    }
    CheckReport { pairs: reports }
}

/// Refined copies of the two snapshots of every source of `pair` whose checksummed tables
/// differ (see [`crate::parity::refine`]) or that have `[[pii]]` columns (see
/// [`crate::parity::pii`]); other sources are compared as collected.
pub async fn refine_pair(
    config: &Config,
    rules: &RuleSet,
    pair: &Pair,
    results: &BTreeMap<SourceKey, Result<Snapshot, CollectError>>,
) -> BTreeMap<SourceKey, Result<Snapshot, CollectError>> {
    let mut refined = BTreeMap::new();
    for source in config.compared_sources(pair) {
        let kb = (pair.baseline.clone(), source.clone());
        let kc = (pair.candidate.clone(), source.clone());
        let (Some(Ok(b)), Some(Ok(c))) = (results.get(&kb), results.get(&kc)) else {
            continue;
        };
        let (Some(sb), Some(sc)) = (config.source(&kb.0, &kb.1), config.source(&kc.0, &kc.1))
        else {
            continue;
        };
        let pii = rules.pii_for(&source);
        let checks_pii = !pii.is_empty() && crate::parity::is_sql(&sb.kind);
        if !checks_pii && !crate::parity::needs_refinement(&b.tree, &c.tree) {
            continue;
        }
        let (mut b, mut c) = (b.clone(), c.clone());
        // A one-shot check reports the summary left for an unreachable side as it is.
        let _reached = crate::parity::refine(&sb.kind, &mut b.tree, &sc.kind, &mut c.tree).await;
        if checks_pii {
            crate::parity::pii::check(&sb.kind, &mut b.tree, &sc.kind, &mut c.tree, &pii).await;
        }
        refined.insert(kb, Ok(b));
        refined.insert(kc, Ok(c));
    }
    refined
}

/// Compares one pair from already-collected snapshots; `refined` holds per-pair copies that
/// take precedence (see [`refine_pair`]).
pub fn compare_pair(
    config: &Config,
    rules: &RuleSet,
    pair: &Pair,
    results: &BTreeMap<SourceKey, Result<Snapshot, CollectError>>,
    refined: &BTreeMap<SourceKey, Result<Snapshot, CollectError>>,
    today: NaiveDate,
) -> PairReport {
    let mut report = PairReport {
        name: pair.name.clone(),
        baseline: pair.baseline.clone(),
        candidate: pair.candidate.clone(),
        status: PairStatus::Clean,
        findings: Vec::new(),
        errors: Vec::new(),
        expected: Vec::new(),
        expired_rules: Vec::new(),
        sources: Vec::new(),
        unmatched_sources: config
            .unmatched_sources(pair)
            .into_iter()
            .map(|(source, only_in)| UnmatchedSource { source, only_in })
            .collect(),
    };
    for source in config.compared_sources(pair) {
        let get = |env: &str| {
            let key = (env.to_string(), source.clone());
            refined.get(&key).or_else(|| results.get(&key))
        };
        let (b, c) = (get(&pair.baseline), get(&pair.candidate));
        let mut summary = SourceSummary {
            name: source.clone(),
            status: "unknown".into(),
            baseline: info(b),
            candidate: info(c),
        };
        let mut failed = false;
        for (env, result) in [(&pair.baseline, b), (&pair.candidate, c)] {
            match result {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    failed = true;
                    report.errors.push(SourceError {
                        environment: env.clone(),
                        source: source.clone(),
                        reason: e.reason().into(),
                        message: e.to_string(),
                    });
                }
                None => {
                    failed = true;
                    report.errors.push(SourceError {
                        environment: env.clone(),
                        source: source.clone(),
                        reason: "query".into(),
                        message: "not collected".into(),
                    });
                }
            }
        }
        if let (false, Some(Ok(b)), Some(Ok(c))) = (failed, b, c) {
            let changes = diff(&b.tree, &c.tree);
            let ctx = PairContext {
                pair: &pair.name,
                baseline: &pair.baseline,
                candidate: &pair.candidate,
                source: &source,
            };
            let evaluation = rules.evaluate(&ctx, &b.tree, &c.tree, &changes, today);
            let (found, expected) = findings::classify(&pair.name, &source, evaluation.verdicts);
            summary.status = if found.is_empty() {
                "in_sync"
            } else {
                "drifted"
            }
            .into();
            report.findings.extend(found);
            report.expected.extend(expected);
            for expired in evaluation.expired {
                if !report.expired_rules.iter().any(|r| r.id == expired.id) {
                    report.expired_rules.push(expired);
                }
            }
        }
        report.sources.push(summary);
    }
    report.status = if !report.errors.is_empty() {
        PairStatus::Unknown
    } else if report.findings.is_empty() {
        PairStatus::Clean
    } else {
        PairStatus::Drift
    };
    report
}

fn info(result: Option<&Result<Snapshot, CollectError>>) -> Option<SnapshotInfo> {
    let snapshot = result?.as_ref().ok()?;
    Some(SnapshotInfo {
        taken_at: snapshot.taken_at,
        duration_seconds: snapshot.duration_seconds,
        hash: snapshot.hash.clone(),
        leaves: snapshot.tree.leaf_count(),
    })
}
