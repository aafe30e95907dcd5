//! Sharing the work among daemon replicas on one store (HA): each source *group* (a source name
//! with all its environments) is collected and compared by exactly one replica at a time, and
//! each alert sink is fed by one replica, through leases in the store.
//!
//! Why groups and not single sources: a pair compares the same source name in two
//! environments, so the replica that collects every environment of `appdb` is the only one
//! that reconciles `appdb` findings; two replicas never race on the same findings.
//!
//! A replica renews its leases every third of the lease time and also keeps a `replica/<id>`
//! lease as its heartbeat, so the others know how many share the work and none takes more
//! than its fair share while others are alive. A dead replica's leases lapse after the lease
//! time; the next claim of another replica takes them over. A clean shutdown releases them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::state::AppState;
use crate::store::Claim;

/// What this replica knows about the others, refreshed with every heartbeat.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicaView {
    /// Replicas with a live heartbeat (this one included once it has beaten).
    pub live_replicas: usize,
    /// Leases this replica holds.
    pub held: BTreeSet<String>,
}

/// The lease name of a source group.
pub fn source_lease(source: &str) -> String {
    format!("source/{source}")
}

/// The lease name of an alert sink.
pub fn sink_lease(sink: &str) -> String {
    format!("sink/{sink}")
}

/// The lease of a singleton job (retention).
pub fn job_lease(job: &str) -> String {
    format!("job/{job}")
}

fn heartbeat_lease(replica: &str) -> String {
    format!("replica/{replica}")
}

/// This replica's name: the configured one, else the host name (a pod's name on Kubernetes),
/// so a restarted daemon on the same host finds its own leases and resumes at once.
pub fn replica_name(configured: Option<&str>) -> String {
    if let Some(name) = configured.map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_string();
    }
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "driftwarden".into())
}

/// Whether this replica may do the work behind lease `name` now; takes or renews it.
///
/// When the store cannot be asked, the answer is yes: with the store down nothing can be
/// saved anyway, and a lone replica must keep reporting its sources as it always did.
pub async fn claim(state: &AppState, name: &str) -> Claim {
    let lease = state.live().config.store.lease;
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    let (held_before, over_share) = state.read_status(|s| {
        let held = s.replicas.held.contains(name);
        let groups = s.replicas.held.iter().filter(|l| is_group(l)).count();
        (
            held,
            is_group(name) && groups >= fair_share(state, s.replicas.live_replicas),
        )
    });
    // Leave a free group to a replica with less work; renewing what we hold is always fine.
    if !held_before && over_share {
        let holder = match state.store.leases(now).await {
            Ok(leases) => leases
                .into_iter()
                .find(|l| l.name == name)
                .map(|l| l.holder),
            Err(_) => None,
        };
        return Claim::Elsewhere(holder.unwrap_or_default());
    }
    match state
        .store
        .claim_lease(name, &state.replica, now, until)
        .await
    {
        Ok(claim) => {
            let changed = state.with_status(|s| match &claim {
                Claim::Held => s.replicas.held.insert(name.to_string()),
                Claim::Elsewhere(_) => s.replicas.held.remove(name),
            });
            if changed {
                match &claim {
                    Claim::Held => info!(lease = name, "Claimed work in the shared store."),
                    Claim::Elsewhere(holder) => {
                        warn!(lease = name, holder = %holder, "Lost a lease to another replica; it does this work now.")
                    }
                }
            }
            claim
        }
        Err(error) => {
            debug!(lease = name, error = %error, "Cannot claim a lease; working without one.");
            Claim::Held
        }
    }
}

fn is_group(lease: &str) -> bool {
    lease.starts_with("source/")
}

/// The most source groups one replica should take while `live` replicas share them.
fn fair_share(state: &AppState, live: usize) -> usize {
    groups(state).len().div_ceil(live.max(1))
}

/// The configured source groups (source names).
fn groups(state: &AppState) -> BTreeSet<String> {
    state
        .live()
        .config
        .environments
        .values()
        .flat_map(|e| e.sources.keys().cloned())
        .collect()
}

/// Renews this replica's heartbeat and leases every third of the lease time until shutdown,
/// then releases them so the others take over without waiting.
pub async fn heartbeat(state: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        beat(&state).await;
        let period = state.live().config.store.lease / 3;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(period.max(Duration::from_millis(200))) => {}
        }
    }
}

/// Releases every lease of this replica (on a clean stop).
pub async fn release(state: &AppState) {
    match state.store.release_leases(&state.replica).await {
        Ok(n) => info!(leases = n, "Released this replica's leases."),
        Err(error) => warn!(error = %error, "Releasing leases failed; they lapse by themselves."),
    }
}

/// The lease whose holder is the fingerprint of the HMAC key the running replicas use.
const KEY_LEASE: &str = "hmac-key";

/// Checks that every running replica hashes secrets with the same key: with different keys a
/// secret would look changed whenever its source moved to another replica (false drift).
/// `Err` names the problem and what to do.
pub async fn check_key(state: &AppState) -> Result<(), String> {
    let lease = state.live().config.store.lease;
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    // A MAC of a fixed text: equal for equal keys, and it reveals nothing about the key.
    let fingerprint = state.live().redactor.hash("driftwarden replica key check");
    match state.store.claim_lease(KEY_LEASE, &fingerprint, now, until).await {
        Ok(Claim::Held) => Ok(()),
        Ok(Claim::Elsewhere(_)) => Err(format!(
            "{}: other replicas on this store hash secrets with a different HMAC key (hint: give every replica the same key, DRIFTWARDEN_HMAC_KEY or a shared [secrets] key_file; after a deliberate key change, stop all replicas and wait {} before starting them again)",
            state.store.describe(),
            humantime::format_duration(lease)
        )),
        // The store is down: the collections will say so; nothing to compare keys against.
        Err(_) => Ok(()),
    }
}

/// One heartbeat: renew, then read who is alive and what we hold.
pub async fn beat(state: &AppState) {
    let lease = state.live().config.store.lease;
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    if let Err(problem) = check_key(state).await {
        // Keep working: stopping would leave sources unwatched; the error is loud instead.
        tracing::error!("{problem}");
    }
    let me = heartbeat_lease(&state.replica);
    if let Err(error) = state
        .store
        .claim_lease(&me, &state.replica, now, until)
        .await
    {
        debug!(error = %error, "Heartbeat failed; retrying.");
        return;
    }
    if let Err(error) = state.store.renew_leases(&state.replica, now, until).await {
        debug!(error = %error, "Renewing leases failed; retrying.");
        return;
    }
    match state.store.leases(now).await {
        Ok(leases) => {
            let live = leases
                .iter()
                .filter(|l| l.name.starts_with("replica/"))
                .count();
            let held: BTreeSet<String> = leases
                .into_iter()
                .filter(|l| l.holder == state.replica && !l.name.starts_with("replica/"))
                .map(|l| l.name)
                .collect();
            state.with_status(|s| {
                s.replicas.live_replicas = live;
                s.replicas.held = held.clone();
            });
            rebalance(state, &held, live).await;
        }
        Err(error) => debug!(error = %error, "Reading leases failed; retrying."),
    }
}

/// Hands one source group to the others when this replica has more than its fair share
/// (a replica joined, or this one took over a dead one's work): only a group with no run in
/// progress here, so no collection is cut off and none is stored by two replicas.
async fn rebalance(state: &AppState, held: &BTreeSet<String>, live: usize) {
    // Groups a reload removed: let go of them, they are nobody's work any more.
    let configured = groups(state);
    for lease in held.iter().filter(|l| is_group(l)) {
        if !configured.contains(lease.trim_start_matches("source/")) {
            state.with_status(|s| s.replicas.held.remove(lease.as_str()));
            if let Err(error) = state.store.release_lease(lease, &state.replica).await {
                debug!(lease = %lease, error = %error, "Releasing a removed group failed.");
            }
        }
    }
    let share = fair_share(state, live);
    let mine: Vec<&String> = held
        .iter()
        .filter(|l| is_group(l) && configured.contains(l.trim_start_matches("source/")))
        .collect();
    if live < 2 || mine.len() <= share {
        return;
    }
    let live_config = state.live();
    for lease in mine.into_iter().rev() {
        let source = lease.trim_start_matches("source/");
        let locks: Vec<_> = live_config
            .config
            .environments
            .keys()
            .map(|env| state.run_lock(&(env.clone(), source.to_string())))
            .collect();
        let Some(_idle) = locks
            .iter()
            .map(|l| l.try_lock().ok())
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        // While the run locks are held no run of the group starts; after the release our
        // own claims skip it, since we are at our share.
        state.with_status(|s| s.replicas.held.remove(lease.as_str()));
        match state.store.release_lease(lease, &state.replica).await {
            Ok(()) => {
                info!(lease = %lease, share, "Handed a source group to a replica with less work.")
            }
            Err(error) => {
                debug!(lease = %lease, error = %error, "Handing over a source group failed.")
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_name_wins_and_blank_means_the_host() {
        assert_eq!(replica_name(Some("replica-2")), "replica-2");
        let host = replica_name(Some("  "));
        assert!(!host.is_empty());
        assert_eq!(host, replica_name(None));
    }

    #[test]
    fn lease_names_do_not_collide_across_kinds() {
        let names = [
            source_lease("x"),
            sink_lease("x"),
            job_lease("x"),
            heartbeat_lease("x"),
        ];
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(is_group(&names[0]) && !is_group(&names[1]));
    }
}
