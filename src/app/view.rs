//! What a pair looks like now, from the daemon's latest snapshots: the report the dashboard
//! shows and the API signs off, with the sign-off in force and what changed since.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::warn;

use super::state::{AppState, Status};
use crate::check::{self, SourceKey};
use crate::collectors::CollectError;
use crate::config::{Config, Pair};
use crate::report::PairReport;
use crate::signoff::{self, Signoff, SinceSignoff};
use crate::snapshot::Snapshot;

/// A pair as it stands.
pub struct PairView {
    /// Findings, expected differences and sources, from the latest snapshots.
    pub report: PairReport,
    /// Store id of each side's latest snapshot.
    pub snapshot_ids: BTreeMap<SourceKey, i64>,
    /// The sign-off in force and what changed since.
    pub signoff: Option<(Signoff, Vec<SinceSignoff>)>,
}

/// Builds the view of `pair`. A source whose last collection failed is an error here even
/// though its previous snapshot is kept: nobody should sign off what is not seen now.
pub fn pair_view(state: &AppState, pair: &Pair) -> PairView {
    let live = state.live();
    let wanted = check::sources_of(&live.config, &[pair]);
    let (results, snapshot_ids, last_signoff, refined) = state.read_status(|status| {
        let mut results: BTreeMap<SourceKey, Result<Snapshot, CollectError>> = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for key in &wanted {
            let source = status.sources.get(key);
            let target = format!("{}/{}", key.0, key.1);
            let result = match (source.and_then(|s| s.up), status.latest.get(key)) {
                (Some(false), _) => Err(match source.and_then(|s| s.last_error.clone()) {
                    Some(e) if e.reason == "connect" => CollectError::Connect {
                        target,
                        message: e.message,
                        hint: None,
                    },
                    Some(e) if e.reason == "auth" => CollectError::Auth {
                        target,
                        message: e.message,
                    },
                    Some(e) => CollectError::query(target, format!("{}: {}", e.reason, e.message)),
                    None => CollectError::query(target, "the last collection failed"),
                }),
                (_, Some(snapshot)) => Ok(Snapshot::clone(snapshot)),
                (_, None) => Err(CollectError::query(target, "not collected yet")),
            };
            if let Some(id) = source.and_then(|s| s.snapshot_id) {
                ids.insert(key.clone(), id);
            }
            results.insert(key.clone(), result);
        }
        // Refined copies from the last comparison, while they match the latest snapshots.
        let mut refined = BTreeMap::new();
        for source in live.config.compared_sources(pair) {
            let Some((b, c)) = status.refined.get(&(pair.name.clone(), source.clone())) else {
                continue;
            };
            let current = |env: &str| {
                status
                    .latest
                    .get(&(env.to_string(), source.clone()))
                    .map(|s| s.hash.clone())
            };
            if current(&pair.baseline).as_ref() == Some(&b.hash)
                && current(&pair.candidate).as_ref() == Some(&c.hash)
            {
                refined.insert(
                    (pair.baseline.clone(), source.clone()),
                    Ok(Snapshot::clone(b)),
                );
                refined.insert(
                    (pair.candidate.clone(), source.clone()),
                    Ok(Snapshot::clone(c)),
                );
            }
        }
        (
            results,
            ids,
            status.signoffs.get(&pair.name).cloned(),
            refined,
        )
    });
    let today = chrono::Utc::now().date_naive();
    let report = check::compare_pair(&live.config, &live.rules, pair, &results, &refined, today);
    let signoff = last_signoff.map(|s| {
        let since = signoff::changes_since(&s, &signoff::current_hashes(&report));
        (s, since)
    });
    PairView {
        report,
        snapshot_ids,
        signoff,
    }
}

/// Re-reads the sign-off in force for every pair (the CLI records them straight in the store).
pub async fn refresh_signoffs(state: &Arc<AppState>) {
    match state.store.latest_signoffs().await {
        Ok(list) => state.with_status(|status| {
            status.signoffs = list.into_iter().map(|s| (s.pair.clone(), s)).collect();
        }),
        Err(error) => warn!(error = %error, "Reading sign-offs failed."),
    }
}

/// The sign-off in force for `pair` and what of its snapshots changed since, from the
/// latest hashes only (cheap: no diff). Called under the status lock.
pub fn signoff_changes<'a>(
    status: &'a Status,
    config: &Config,
    pair: &Pair,
) -> Option<(&'a Signoff, Vec<SinceSignoff>)> {
    let signoff = status.signoffs.get(&pair.name)?;
    let hashes: BTreeMap<SourceKey, String> = check::sources_of(config, &[pair])
        .into_iter()
        .filter_map(|k| status.latest.get(&k).map(|s| (k, s.hash.clone())))
        .collect();
    Some((signoff, signoff::changes_since(signoff, &hashes)))
}
