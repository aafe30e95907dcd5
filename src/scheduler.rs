//! Runs each source on its own interval with jitter, bounded overall concurrency, and
//! exponential backoff after failures; after each success, re-evaluates what uses the source.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use crate::app::state::{AppState, PairSourceStatus, SourceFailure, SourceStatus};
use crate::check::SourceKey;
use crate::collectors;
use crate::compare;
use crate::replicas;
use crate::snapshot::{Node, Snapshot};
use crate::store::{Claim, FindingFilter, FindingKind, FindingState};

/// First retry delay after a failure; doubles per failure up to the source's interval.
const BACKOFF_START: Duration = Duration::from_secs(5);

/// Spawns one loop per configured source on `tracker`; they stop when `cancel` fires.
pub fn spawn_all(state: &Arc<AppState>, tracker: &TaskTracker, cancel: &CancellationToken) {
    let live = state.live();
    for (env, environment) in &live.config.environments {
        for name in environment.sources.keys() {
            let key = (env.clone(), name.clone());
            tracker.spawn(source_loop(state.clone(), key, cancel.clone()));
        }
    }
}

/// A uniformly random duration in `[0, max]`.
fn random_up_to(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() || max.is_zero() {
        return Duration::ZERO;
    }
    let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
    max.mul_f64(fraction)
}

/// Delay before the next run: the interval plus jitter, or a backoff after failures.
fn next_delay(interval: Duration, jitter: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval + random_up_to(jitter);
    }
    let backoff = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    backoff.min(interval) + random_up_to(jitter.min(backoff))
}

async fn source_loop(state: Arc<AppState>, key: SourceKey, cancel: CancellationToken) {
    let mut failures = 0u32;
    // The first run comes quickly (a little jitter so many sources do not start at once).
    let mut delay = {
        let jitter = state
            .live()
            .config
            .source(&key.0, &key.1)
            .map_or(Duration::ZERO, |s| s.jitter);
        random_up_to(jitter.min(Duration::from_secs(2)))
    };
    loop {
        let due = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        state.with_status(|s| s.sources.entry(key.clone()).or_default().next_run = Some(due));
        tokio::select! {
            // Cancellation wins over a due run: on shutdown, nothing new starts.
            biased;
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let Some(source) = state.live().config.source(&key.0, &key.1).cloned() else {
            return;
        };
        match run_once(&state, &key).await {
            Ok(_) => {
                failures = 0;
                delay = next_delay(source.interval, source.jitter, 0);
            }
            // Another replica collects it: ask again soon, so a dead holder's lease is taken
            // over well within one interval of it lapsing.
            Err(outcome) if outcome.is_elsewhere() => {
                failures = 0;
                let retry = (state.live().config.store.lease / 2).min(source.interval);
                delay = retry + random_up_to(source.jitter.min(retry / 4));
            }
            Err(_) => {
                failures = failures.saturating_add(1);
                delay = next_delay(source.interval, source.jitter, failures);
            }
        }
    }
}

/// The outcome of one run, as the run API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Environment.
    pub environment: String,
    /// Source.
    pub source: String,
    /// Whether a snapshot was taken.
    pub ok: bool,
    /// Store id of the snapshot.
    pub snapshot_id: Option<i64>,
    /// Whether its content differs from the previous snapshot.
    pub changed: Option<bool>,
    /// The failure, if any.
    pub error: Option<SourceFailure>,
}

/// The failure reason of a run left to the replica that holds the source's lease.
pub const ELSEWHERE: &str = "elsewhere";

impl RunOutcome {
    /// Whether another replica collects this source (nothing was attempted here).
    pub fn is_elsewhere(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.reason == ELSEWHERE)
    }
}

/// Collects one source now (waiting for a permit and for any run of it in progress), stores
/// the snapshot and re-evaluates the pairs that use it.
pub async fn run_once(state: &Arc<AppState>, key: &SourceKey) -> Result<RunOutcome, RunOutcome> {
    let span = tracing::info_span!("collection", environment = %key.0, source = %key.1);
    let result = run_once_inner(state, key).instrument(span).await;
    // Counted after the comparisons, so readiness means "every pair has been evaluated".
    state.with_status(|s| s.sources.entry(key.clone()).or_default().runs_completed += 1);
    result
}

async fn run_once_inner(state: &Arc<AppState>, key: &SourceKey) -> Result<RunOutcome, RunOutcome> {
    let live = state.live();
    let mut outcome = RunOutcome {
        environment: key.0.clone(),
        source: key.1.clone(),
        ok: false,
        snapshot_id: None,
        changed: None,
        error: None,
    };
    let Some(source) = live.config.source(&key.0, &key.1).cloned() else {
        outcome.error = Some(SourceFailure {
            reason: "query".into(),
            message: "source is not configured".into(),
            at: Utc::now(),
        });
        return Err(outcome);
    };
    let lease = replicas::source_lease(&key.1);
    if let Claim::Elsewhere(holder) = replicas::claim(state, &lease).await {
        follow(state, key, &holder).await;
        outcome.error = Some(SourceFailure {
            reason: ELSEWHERE.into(),
            message: format!("collected by replica {holder:?}"),
            at: Utc::now(),
        });
        return Err(outcome);
    }
    let lock = state.run_lock(key);
    let _running = lock.lock().await;
    // Taken over (or back) from another replica: start from what it stored, so the first
    // comparison with the previous snapshot is against the latest one, not a stale copy.
    let was_foreign = state.with_status(|s| {
        s.sources.entry(key.clone()).or_default().collected_by = None;
        s.foreign.remove(&key.1).is_some()
    });
    if was_foreign {
        load_stored(state, key).await;
    }
    // The semaphore is never closed, so acquiring cannot fail; run unbounded if it ever did.
    let _permit = state.permits.clone().acquire_owned().await.ok();
    let started = Utc::now();
    state.with_status(|s| s.sources.entry(key.clone()).or_default().last_attempt = Some(started));
    state
        .counters
        .collections
        .with_label_values(&[&key.0, &key.1])
        .inc();
    let result = collectors::collect(&source, &live.redactor).await;
    let elapsed = (Utc::now() - started).num_milliseconds() as f64 / 1000.0;
    let snapshot = match result {
        Ok(snapshot) => snapshot,
        Err(error) => {
            state
                .counters
                .failures
                .with_label_values(&[&key.0, &key.1, error.reason()])
                .inc();
            let failure = SourceFailure {
                reason: error.reason().into(),
                message: error.to_string(),
                at: started,
            };
            let first = state.with_status(|s| {
                let status = s.sources.entry(key.clone()).or_default();
                let first = status.up != Some(false);
                if first {
                    status.down_since = Some(started);
                }
                status.up = Some(false);
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                status.last_duration_seconds = Some(elapsed);
                status.last_error = Some(failure.clone());
                first
            });
            // Log the change of state loudly and repeats quietly, so an hour-long outage
            // is one warning, not sixty.
            if first {
                warn!(reason = error.reason(), error = %error, "Collection failed; comparisons using this source are unknown until it recovers.");
            } else {
                debug!(reason = error.reason(), error = %error, "Collection failed again.");
            }
            mark_pairs_unknown(state, key);
            outcome.error = Some(failure);
            return Err(outcome);
        }
    };
    // Fencing: a replica that stalled past its lease must not store over the new holder's.
    if let Claim::Elsewhere(holder) = replicas::claim(state, &lease).await {
        warn!(holder = %holder, "The lease passed to another replica during collection; this result is discarded.");
        outcome.error = Some(SourceFailure {
            reason: ELSEWHERE.into(),
            message: format!("collected by replica {holder:?}"),
            at: Utc::now(),
        });
        return Err(outcome);
    }
    // Changes since the previous snapshot are stored before the snapshot that shows them: a
    // crash or a store failure in between then repeats the comparison (an open finding is
    // found again, not opened twice) instead of losing it.
    let previous = state.read_status(|s| s.latest.get(key).cloned());
    let temporal = match previous.filter(|p| p.hash != snapshot.hash) {
        Some(previous) => compare::compare_with_previous(state, &previous, &snapshot).await,
        None => Ok(()),
    };
    let stored = match temporal {
        Ok(()) => state.store.save_snapshot(&snapshot).await,
        Err(error) => Err(error),
    };
    let saved = match stored {
        Ok(saved) => saved,
        Err(error) => {
            warn!(error = %error, "Storing the snapshot failed; comparisons using this source are unknown until the store answers.");
            mark_pairs_unknown(state, key);
            outcome.error = Some(SourceFailure {
                reason: "store".into(),
                message: error.to_string(),
                at: started,
            });
            return Err(outcome);
        }
    };
    let snapshot = Arc::new(snapshot);
    let recovered = state.with_status(|s| {
        let status = s.sources.entry(key.clone()).or_default();
        let recovered = status.up == Some(false);
        status.up = Some(true);
        status.down_since = None;
        status.consecutive_failures = 0;
        status.last_error = None;
        status.last_success = Some(started);
        status.last_duration_seconds = Some(elapsed);
        status.snapshot_id = Some(saved.meta.id);
        status.last_change = Some(saved.meta.taken_at);
        status.leaves = snapshot.tree.leaf_count();
        status.schema_objects = schema_objects(&snapshot.tree);
        status.migrations = migrations_applied(&snapshot.tree);
        s.latest.insert(key.clone(), snapshot.clone());
        recovered
    });
    if recovered {
        info!("Collection recovered.");
    }
    debug!(
        snapshot = saved.meta.id,
        new = saved.is_new,
        leaves = snapshot.tree.leaf_count(),
        "Snapshot stored."
    );
    for pair in live
        .config
        .pairs
        .iter()
        .filter(|p| p.baseline == key.0 || p.candidate == key.0)
    {
        if live.config.compared_sources(pair).contains(&key.1) {
            compare::compare_pair(state, pair, &key.1).await;
        }
    }
    // Sign-offs recorded by the CLI land in the store directly; pick them up with each run.
    crate::app::view::refresh_signoffs(state).await;
    outcome.ok = true;
    outcome.snapshot_id = Some(saved.meta.id);
    outcome.changed = Some(saved.is_new);
    Ok(outcome)
}

fn mark_pairs_unknown(state: &Arc<AppState>, key: &SourceKey) {
    let live = state.live();
    state.with_status(|s| {
        for pair in live
            .config
            .pairs
            .iter()
            .filter(|p| p.baseline == key.0 || p.candidate == key.0)
        {
            if let Some(status) = s.pairs.get_mut(&(pair.name.clone(), key.1.clone())) {
                status.state = "unknown".into();
            }
        }
    });
}

/// Number of objects per kind under `schema/` (tables, views, …).
pub fn schema_objects(tree: &Node) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    if let Some(Node::Map(kinds)) = tree.get(&crate::snapshot::Path::from_segments(["schema"])) {
        for (kind, objects) in kinds {
            if let Node::Map(objects) = objects {
                out.insert(kind.clone(), objects.len());
            }
        }
    }
    out
}

/// Number of applied migrations under `migrations/<tool>/`.
pub fn migrations_applied(tree: &Node) -> usize {
    match tree.get(&crate::snapshot::Path::from_segments(["migrations"])) {
        Some(Node::Map(tools)) => tools
            .values()
            .map(|t| if let Node::Map(m) = t { m.len() } else { 0 })
            .sum(),
        _ => 0,
    }
}

/// Loads the latest stored snapshot of every configured source, so a restart compares new
/// snapshots with what was seen before it (temporal drift survives restarts).
pub async fn load_latest(state: &Arc<AppState>) {
    let live = state.live();
    for (env, environment) in &live.config.environments {
        for name in environment.sources.keys() {
            load_stored(state, &(env.clone(), name.clone())).await;
        }
    }
}

/// Makes the store's latest snapshot of `key` the one in memory, when it is not already.
async fn load_stored(state: &Arc<AppState>, key: &SourceKey) {
    let known = state.read_status(|s| s.sources.get(key).and_then(|s| s.snapshot_id));
    let meta = match state.store.latest_meta(&key.0, &key.1).await {
        Ok(Some(meta)) if Some(meta.id) != known => meta,
        Ok(_) => return,
        Err(error) => {
            warn!(environment = %key.0, source = %key.1, error = %error, "Reading the last snapshot failed.");
            return;
        }
    };
    let tree = match state.store.snapshot(meta.id).await {
        Ok(Some((_, tree))) => tree,
        // Pruned or replaced meanwhile: the next round reads the newer one.
        Ok(None) => return,
        Err(error) => {
            warn!(environment = %key.0, source = %key.1, error = %error, "Reading the last snapshot failed.");
            return;
        }
    };
    let snapshot = Snapshot {
        environment: key.0.clone(),
        source: key.1.clone(),
        taken_at: meta.taken_at,
        duration_seconds: meta.duration_seconds,
        hash: meta.hash.clone(),
        tree,
    };
    state.with_status(|s| {
        let status = s.sources.entry(key.clone()).or_default();
        status.snapshot_id = Some(meta.id);
        status.last_change = Some(meta.taken_at);
        status.leaves = snapshot.tree.leaf_count();
        status.schema_objects = schema_objects(&snapshot.tree);
        status.migrations = migrations_applied(&snapshot.tree);
        s.latest.insert(key.clone(), Arc::new(snapshot));
    });
}

/// Another replica collects `key`: forget this one's view of its health (that replica
/// reports it) and follow its snapshots from the store, so the API and dashboard here
/// still show the current content.
async fn follow(state: &Arc<AppState>, key: &SourceKey, holder: &str) {
    let live = state.live();
    state.with_status(|s| {
        s.foreign.insert(key.1.clone(), holder.to_string());
        let kept = s.sources.remove(key).unwrap_or_default();
        s.sources.insert(
            key.clone(),
            SourceStatus {
                snapshot_id: kept.snapshot_id,
                last_change: kept.last_change,
                leaves: kept.leaves,
                schema_objects: kept.schema_objects,
                migrations: kept.migrations,
                next_run: kept.next_run,
                runs_completed: kept.runs_completed,
                collected_by: Some(holder.to_string()),
                ..Default::default()
            },
        );
        s.temporal.remove(key);
    });
    load_stored(state, key).await;
    // Pairs as the holder left them in the store (one environment's loop does it per pair).
    for pair in live.config.pairs.iter().filter(|p| p.candidate == key.0) {
        if !live.config.compared_sources(pair).contains(&key.1) {
            continue;
        }
        let filter = FindingFilter {
            kind: Some(FindingKind::Pair),
            scope: Some(pair.name.clone()),
            source: Some(key.1.clone()),
            state: Some(FindingState::Open),
            ..Default::default()
        };
        let Ok(open) = state.store.findings(&filter).await else {
            continue;
        };
        let found: Vec<crate::findings::Finding> = open.iter().map(|f| f.finding.clone()).collect();
        let status = PairSourceStatus {
            state: if found.is_empty() {
                "in_sync"
            } else {
                "drifted"
            }
            .into(),
            last_comparison: open.iter().map(|f| f.last_seen).max(),
            open: compare::count_open(&found),
            suppressed: BTreeMap::new(),
        };
        state.with_status(|s| {
            s.refined.remove(&(pair.name.clone(), key.1.clone()));
            s.pairs.insert((pair.name.clone(), key.1.clone()), status);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_and_is_capped_by_the_interval() {
        let interval = Duration::from_secs(300);
        assert_eq!(
            next_delay(interval, Duration::ZERO, 1),
            Duration::from_secs(5)
        );
        assert_eq!(
            next_delay(interval, Duration::ZERO, 2),
            Duration::from_secs(10)
        );
        assert_eq!(
            next_delay(interval, Duration::ZERO, 4),
            Duration::from_secs(40)
        );
        assert_eq!(next_delay(interval, Duration::ZERO, 30), interval);
        assert_eq!(next_delay(interval, Duration::ZERO, 0), interval);
        let jittered = next_delay(interval, Duration::from_secs(10), 0);
        assert!(jittered >= interval && jittered <= interval + Duration::from_secs(10));
    }
}
