//! Collects a set of (environment, source) concurrently, bounded by `collection.concurrency`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::collectors::{self, CollectError};
use crate::config::Config;
use crate::snapshot::redact::Redactor;
use crate::snapshot::Snapshot;

/// (environment, source) identifying one collection.
pub type SourceKey = (String, String);

/// Told about collections as they start and finish (the CLI draws progress from it).
pub trait Progress: Send + Sync {
    /// A collection started.
    fn started(&self, environment: &str, source: &str);
    /// A collection finished, with its outcome.
    fn finished(&self, environment: &str, source: &str, outcome: Result<&Snapshot, &CollectError>);
}

/// Progress that shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: &str, _: &str) {}
    fn finished(&self, _: &str, _: &str, _: Result<&Snapshot, &CollectError>) {}
}

/// Collects every key in `wanted` (keys absent from the config are skipped).
pub async fn collect_all(
    config: &Config,
    wanted: &BTreeSet<SourceKey>,
    redactor: Arc<Redactor>,
    progress: Arc<dyn Progress>,
) -> BTreeMap<SourceKey, Result<Snapshot, CollectError>> {
    // The semaphore bounds how many targets we touch at once: production databases are shared.
    let permits = Arc::new(Semaphore::new(config.collection.concurrency));
    let mut tasks = JoinSet::new();
    for (env, name) in wanted {
        let Some(source) = config.source(env, name).cloned() else {
            continue;
        };
        let (permits, redactor, progress) = (permits.clone(), redactor.clone(), progress.clone());
        tasks.spawn(async move {
            // A closed semaphore cannot happen (we never close it); treat it as "no limit".
            let _permit = permits.acquire_owned().await.ok();
            progress.started(&source.environment, &source.name);
            let result = collectors::collect(&source, &redactor).await;
            if let Err(error) = &result {
                // Info, not warn: the caller reports the error to the user (report, API, metrics).
                info!(environment = %source.environment, source = %source.name, reason = error.reason(), error = %error, "Collection failed.");
            }
            progress.finished(&source.environment, &source.name, result.as_ref());
            ((source.environment, source.name), result)
        });
    }
    let mut results = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((key, result)) => {
                results.insert(key, result);
            }
            // A panicking collector is a bug; its key stays missing and is reported as an error.
            Err(error) => warn!(error = %error, "Collection task failed."),
        }
    }
    for key in wanted {
        results.entry(key.clone()).or_insert_with(|| {
            Err(CollectError::query(
                format!("{}/{}", key.0, key.1),
                "the collector stopped unexpectedly",
            ))
        });
    }
    results
}
