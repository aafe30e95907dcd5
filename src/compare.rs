//! One comparison pass for the daemon: latest snapshots → diff → rules → findings delta →
//! store, for a pair × source, or for an environment against its own previous snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use tracing::{info, warn};

use crate::app::state::{AppState, PairSourceStatus};
use crate::config::Pair;
use crate::diff::{diff, ChangeKind};
use crate::findings::{self, Finding};
use crate::rules::{PairContext, Severity};
use crate::snapshot::Snapshot;
use crate::store::{FindingKind, FindingScope};

/// The pseudo pair name rules see for temporal comparisons (`pair = "changed-since-last"`).
pub const CHANGED_SINCE_LAST: &str = "changed-since-last";

/// Compares `pair` for `source` if both sides' last collection succeeded; otherwise marks the
/// comparison unknown and leaves open findings exactly as they are.
pub async fn compare_pair(state: &Arc<AppState>, pair: &Pair, source: &str) {
    let key = (pair.name.clone(), source.to_string());
    let sides = state.with_status(|status| {
        let side = |env: &str| {
            let k = (env.to_string(), source.to_string());
            let up = status.sources.get(&k).and_then(|s| s.up) == Some(true);
            status.latest.get(&k).filter(|_| up).cloned()
        };
        (side(&pair.baseline), side(&pair.candidate))
    });
    let (Some(mut baseline), Some(mut candidate)) = sides else {
        state.with_status(|status| status.pairs.entry(key).or_default().state = "unknown".into());
        return;
    };
    let live = state.live();
    let pii = live.rules.pii_for(source);
    if let (Some(b), Some(c)) = (
        live.config.source(&pair.baseline, source),
        live.config.source(&pair.candidate, source),
    ) {
        let checks_pii = !pii.is_empty() && crate::parity::is_sql(&b.kind);
        if checks_pii || crate::parity::needs_refinement(&baseline.tree, &candidate.tree) {
            let (mut rb, mut rc) = (Snapshot::clone(&baseline), Snapshot::clone(&candidate));
            if !crate::parity::refine(&b.kind, &mut rb.tree, &c.kind, &mut rc.tree).await {
                // Differing rows could not be located because a side went away: reconciling
                // the summary left in their place would resolve the per-key findings and open
                // one that says nothing about the data.
                warn!(pair = %pair.name, source, "A side could not be reached to locate differing rows; the comparison is unknown.");
                state.with_status(|status| {
                    status.pairs.entry(key).or_default().state = "unknown".into()
                });
                return;
            }
            if checks_pii {
                crate::parity::pii::check(&b.kind, &mut rb.tree, &c.kind, &mut rc.tree, &pii).await;
            }
            (baseline, candidate) = (Arc::new(rb), Arc::new(rc));
            let refined = (baseline.clone(), candidate.clone());
            state.with_status(|s| s.refined.insert(key.clone(), refined));
        }
    }
    let now = Utc::now();
    let changes = diff(&baseline.tree, &candidate.tree);
    let ctx = PairContext {
        pair: &pair.name,
        baseline: &pair.baseline,
        candidate: &pair.candidate,
        source,
    };
    let evaluation = live.rules.evaluate(
        &ctx,
        &baseline.tree,
        &candidate.tree,
        &changes,
        now.date_naive(),
    );
    let (found, expected) = findings::classify(&pair.name, source, evaluation.verdicts);
    let scope = FindingScope {
        kind: FindingKind::Pair,
        name: pair.name.clone(),
        source: source.to_string(),
    };
    let delta = match state
        .store
        .reconcile_findings(&scope, &found, true, now)
        .await
    {
        Ok(delta) => delta,
        Err(error) => {
            // Without the store the lifecycle cannot advance: the comparison is unknown (the
            // stored findings stay exactly as they were) until a later run stores it.
            warn!(pair = %pair.name, source, error = %error, "Storing findings failed; the comparison is unknown until the store answers.");
            state.with_status(|status| {
                status.pairs.entry(key).or_default().state = "unknown".into()
            });
            return;
        }
    };
    for opened in &delta.opened {
        let f = &opened.finding;
        info!(pair = %pair.name, source, path = %f.path, change = %f.change, severity = %f.severity, rule = %f.rule, "Drift found.");
        state
            .counters
            .opened
            .with_label_values(&[&pair.name, source, f.severity.as_str()])
            .inc();
    }
    for resolved in &delta.resolved {
        let f = &resolved.finding;
        info!(pair = %pair.name, source, path = %f.path, "Drift resolved.");
        state
            .counters
            .resolved
            .with_label_values(&[&pair.name, source, f.severity.as_str()])
            .inc();
    }
    if !delta.opened.is_empty() || !delta.resolved.is_empty() {
        state.alerts_wake.notify_one();
    }
    let mut suppressed: BTreeMap<String, usize> = BTreeMap::new();
    for e in &expected {
        *suppressed.entry(e.rule.clone()).or_default() += 1;
    }
    let status = PairSourceStatus {
        state: if found.is_empty() {
            "in_sync"
        } else {
            "drifted"
        }
        .into(),
        last_comparison: Some(now),
        open: count_open(&found),
        suppressed,
    };
    state.with_status(|s| s.pairs.insert(key, status));
}

/// Open findings by (severity, change).
pub fn count_open(found: &[Finding]) -> BTreeMap<(Severity, String), usize> {
    let mut open = BTreeMap::new();
    for f in found {
        *open
            .entry((f.severity, f.change.as_str().to_string()))
            .or_default() += 1;
    }
    open
}

/// Compares a new snapshot with the previous one of the same source: unexpected changes are
/// `changed-since-last` findings, open until acknowledged. Changes during a deploy window of
/// the environment are expected and recorded as such (no finding). Fails when the findings
/// cannot be stored, so the caller can keep the new snapshot from replacing the previous one.
pub async fn compare_with_previous(
    state: &Arc<AppState>,
    previous: &Snapshot,
    current: &Snapshot,
) -> Result<(), crate::store::StoreError> {
    let (env, source) = (current.environment.as_str(), current.source.as_str());
    let now = Utc::now();
    match state.store.active_deploy_windows(now).await {
        Ok(windows) if windows.iter().any(|w| w.environment == env) => {
            info!(
                environment = env,
                source, "Changes during a deploy window are expected."
            );
            return Ok(());
        }
        Ok(_) => {}
        Err(error) => {
            warn!(environment = env, source, error = %error, "Reading deploy windows failed.")
        }
    }
    let live = state.live();
    let changes = diff(&previous.tree, &current.tree);
    let ctx = PairContext {
        pair: CHANGED_SINCE_LAST,
        baseline: env,
        candidate: env,
        source,
    };
    let evaluation = live.rules.evaluate(
        &ctx,
        &previous.tree,
        &current.tree,
        &changes,
        now.date_naive(),
    );
    // `differ` rules speak about two environments; an environment always equals itself.
    let verdicts = evaluation
        .verdicts
        .into_iter()
        .filter(|v| v.change.kind != ChangeKind::Unchanged)
        .collect();
    let scope_name = format!("{env}@{CHANGED_SINCE_LAST}");
    let (found, _) = findings::classify(&scope_name, source, verdicts);
    if found.is_empty() {
        return Ok(());
    }
    let scope = FindingScope {
        kind: FindingKind::ChangedSinceLast,
        name: env.to_string(),
        source: source.to_string(),
    };
    let delta = state
        .store
        .reconcile_findings(&scope, &found, false, now)
        .await
        .inspect_err(
            |error| warn!(environment = env, source, error = %error, "Storing findings failed."),
        )?;
    if !delta.opened.is_empty() {
        state.alerts_wake.notify_one();
    }
    for opened in &delta.opened {
        let f = &opened.finding;
        warn!(environment = env, source, path = %f.path, change = %f.change, severity = %f.severity, "Unexpected change since the last snapshot.");
    }
    refresh_temporal_counts(state, env, source).await;
    Ok(())
}

/// Re-reads the open changed-since-last findings of a source into the status (for metrics).
pub async fn refresh_temporal_counts(state: &Arc<AppState>, env: &str, source: &str) {
    let filter = crate::store::FindingFilter {
        kind: Some(FindingKind::ChangedSinceLast),
        scope: Some(env.to_string()),
        source: Some(source.to_string()),
        state: Some(crate::store::FindingState::Open),
        ..Default::default()
    };
    if let Ok(open) = state.store.findings(&filter).await {
        let mut counts = BTreeMap::new();
        for f in &open {
            *counts.entry(f.finding.severity).or_default() += 1;
        }
        state.with_status(|s| {
            s.temporal
                .insert((env.to_string(), source.to_string()), counts)
        });
    }
}
