//! ① Collectors read one kind of source into a canonical tree.
//!
//! They know nothing of rules, findings or sinks. Every tree passes through the redactor here,
//! in one place, so no collector can forget to hide a secret.

pub mod command;
pub mod document;
pub mod error;
pub mod file;
pub mod http;
pub mod sql;
pub mod yaml;

use std::time::Instant;

use chrono::Utc;
use tracing::{debug, instrument};

pub use error::CollectError;

use crate::config::{SourceConfig, SourceKind};
use crate::snapshot::redact::Redactor;
use crate::snapshot::{Snapshot, Tree};

/// Collects one source: runs its collector under the source's timeout, redacts secrets and
/// wraps the tree as a snapshot. A timeout or any error yields no snapshot.
#[instrument(skip_all, fields(environment = %source.environment, source = %source.name, kind = source.kind.name()))]
pub async fn collect(source: &SourceConfig, redactor: &Redactor) -> Result<Snapshot, CollectError> {
    let taken_at = Utc::now();
    let started = Instant::now();
    // The timeout drops the collector's future: connections close and child processes are
    // killed (kill_on_drop), so a cut-off collection leaves nothing running and no partial tree.
    let mut tree = tokio::time::timeout(source.timeout, collect_tree(source))
        .await
        .map_err(|_| CollectError::Timeout {
            after: source.timeout,
        })??;
    // Table checksums scan whole tables: they have their own per-statement budget
    // (`checksums.timeout`), outside the catalog collection's timeout.
    if let Some(data) = crate::parity::collect(&source.kind).await? {
        tree.insert(crate::parity::DATA, data);
    }
    redactor.redact(&mut tree);
    let snapshot = Snapshot::new(
        &source.environment,
        &source.name,
        taken_at,
        started.elapsed().as_secs_f64(),
        tree,
    );
    debug!(leaves = snapshot.tree.leaf_count(), hash = %snapshot.hash, "Collected snapshot.");
    Ok(snapshot)
}

async fn collect_tree(source: &SourceConfig) -> Result<Tree, CollectError> {
    match &source.kind {
        SourceKind::Sqlite { path, options } => sql::sqlite::collect(path, options).await,
        SourceKind::Postgres { url, options } => sql::postgres::collect(url, options).await,
        SourceKind::Mysql { url, options } => sql::mysql::collect(url, options).await,
        SourceKind::File {
            path,
            format,
            max_bytes,
        } => file::collect_capped(path, *format, *max_bytes).await,
        SourceKind::Http {
            url,
            headers,
            pointer,
            max_bytes,
        } => http::collect(url, headers, pointer.as_deref(), *max_bytes, source.timeout).await,
        SourceKind::Command {
            argv,
            dir,
            pointer,
            max_bytes,
        } => command::collect(argv, dir, pointer.as_deref(), *max_bytes).await,
    }
}
