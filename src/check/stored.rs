//! The latest stored snapshots, for reports and sign-offs made from what the daemon recorded.

use std::collections::BTreeMap;

use super::{sources_of, SourceKey};
use crate::collectors::CollectError;
use crate::config::{Config, Pair};
use crate::snapshot::Snapshot;
use crate::store::{Store, StoreError};

/// Snapshots by source, as `compare` takes them, and the store id of each.
pub type Loaded = (
    BTreeMap<SourceKey, Result<Snapshot, CollectError>>,
    BTreeMap<SourceKey, i64>,
);

/// Loads the latest stored snapshot of every source the pairs compare; a source never stored
/// is an error for that source (the pair is then unknown, never clean).
pub async fn load_latest(
    store: &Store,
    config: &Config,
    pairs: &[&Pair],
) -> Result<Loaded, StoreError> {
    let mut results = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for key in sources_of(config, pairs) {
        let result = match store.latest_snapshot(&key.0, &key.1).await? {
            Some((meta, tree)) => {
                ids.insert(key.clone(), meta.id);
                Ok(Snapshot {
                    environment: meta.environment,
                    source: meta.source,
                    taken_at: meta.taken_at,
                    duration_seconds: meta.duration_seconds,
                    hash: meta.hash,
                    tree,
                })
            }
            None => Err(CollectError::query(
                format!("{}/{}", key.0, key.1),
                "no snapshot in the store yet (start the daemon, or drop --from-store to collect now)",
            )),
        };
        results.insert(key, result);
    }
    Ok((results, ids))
}

/// Stores every collected snapshot; returns the store id of each.
pub async fn save_all(
    store: &Store,
    results: &BTreeMap<SourceKey, Result<Snapshot, CollectError>>,
) -> Result<BTreeMap<SourceKey, i64>, StoreError> {
    let mut ids = BTreeMap::new();
    for (key, result) in results {
        if let Ok(snapshot) = result {
            let saved = store.save_snapshot(snapshot).await?;
            ids.insert(key.clone(), saved.meta.id);
        }
    }
    Ok(ids)
}
