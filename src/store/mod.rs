//! Persistence: snapshots (deduplicated by content hash), findings and their lifecycle,
//! deploy windows. A SQLite file by default, PostgreSQL for teams that share one.
//!
//! Both backends go through `sqlx::Any` with the same SQL (`$n` placeholders work on both);
//! timestamps are fixed-width RFC 3339 text so they sort and compare the same everywhere.
//! Schema changes are sqlx migrations under `migrations/<backend>/`.

mod findings;
mod leases;
mod open;
mod outbox;
mod signoffs;
mod snapshots;
mod windows;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use leases::{Claim, Lease};
pub use outbox::FindingEvent;

use crate::findings::Finding;
use crate::rules::Severity;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{target}: cannot open the store: {message}{}", hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    /// The store cannot be reached or created.
    Open {
        /// The store's location, without credentials.
        target: String,
        /// What failed.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    #[error("{target}: the store is damaged or not a driftwarden store: {message} (hint: move the file away and start again, or restore a backup; driftwarden never replaces a store by itself)")]
    /// The file or database is not a (healthy) driftwarden store.
    Corrupt {
        /// The store's location, without credentials.
        target: String,
        /// What is wrong.
        message: String,
    },
    #[error("store migration failed: {0}")]
    /// Bringing the schema up to date failed.
    Migrate(String),
    #[error("store query failed: {0}")]
    /// A statement failed.
    Query(String),
    #[error("store unavailable: {0} (it is retried; nothing is lost or changed meanwhile)")]
    /// The store's server cannot be reached right now (down, restarting, network): transient.
    Unavailable(String),
}

/// A handle on the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    /// Where the store lives, without credentials (for messages).
    target: String,
    /// Serialises writers: SQLite allows one, and reconciliation must not interleave.
    write: Arc<tokio::sync::Mutex<()>>,
    /// PostgreSQL: transactions that write outbox events take a store-wide lock first.
    shared_outbox: bool,
}

/// A stored snapshot without its tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotMeta {
    /// Row id.
    pub id: i64,
    /// Environment name.
    pub environment: String,
    /// Source name.
    pub source: String,
    /// Content hash of the tree.
    pub hash: String,
    /// When this content was first collected.
    pub taken_at: DateTime<Utc>,
    /// When it was last collected unchanged.
    pub last_seen_at: DateTime<Utc>,
    /// How long the collection took.
    pub duration_seconds: f64,
    /// Number of leaves in the tree.
    pub leaves: i64,
}

/// What `save_snapshot` did.
#[derive(Debug, Clone)]
pub struct SavedSnapshot {
    /// The stored row.
    pub meta: SnapshotMeta,
    /// The content differs from the previous snapshot of the source.
    pub is_new: bool,
    /// The previous snapshot of the source, if any.
    pub previous: Option<SnapshotMeta>,
}

/// Which comparison a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Baseline vs candidate of a pair.
    Pair,
    /// An environment vs its own previous snapshot.
    ChangedSinceLast,
}

/// The comparison whose findings are reconciled together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingScope {
    /// Pair or changed-since-last.
    pub kind: FindingKind,
    /// Pair name, or environment for changed-since-last.
    pub name: String,
    /// Source name.
    pub source: String,
}

/// Open or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    /// Still there (or not yet acknowledged).
    Open,
    /// Gone, or acknowledged.
    Resolved,
}

/// A finding with its lifecycle.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredFinding {
    /// Row id.
    pub id: i64,
    /// Pair or changed-since-last.
    pub kind: FindingKind,
    /// Pair name, or environment for changed-since-last.
    pub scope: String,
    #[serde(flatten)]
    /// The finding as last seen.
    pub finding: Finding,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was last seen.
    pub last_seen: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Why it was resolved (fixed, acknowledged: …).
    pub resolution: Option<String>,
}

/// What one reconciliation changed.
#[derive(Debug, Clone, Default)]
pub struct FindingsDelta {
    /// New findings.
    pub opened: Vec<StoredFinding>,
    /// Findings seen again.
    pub still_open: Vec<StoredFinding>,
    /// Findings gone (auto-resolved).
    pub resolved: Vec<StoredFinding>,
}

/// Which findings to read or resolve; `limit` 0 means no limit.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Pair or changed-since-last.
    pub kind: Option<FindingKind>,
    /// Pair name, or environment for changed-since-last.
    pub scope: Option<String>,
    /// Source name.
    pub source: Option<String>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Open or resolved.
    pub state: Option<FindingState>,
    /// One identity.
    pub fingerprint: Option<String>,
    /// Only findings resolved at or after this time.
    pub resolved_after: Option<DateTime<Utc>>,
    /// At most this many rows (0: all).
    pub limit: i64,
}

/// A period during which changes of an environment are expected.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeployWindow {
    /// Row id.
    pub id: i64,
    /// Environment name.
    pub environment: String,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window.
    pub ends_at: DateTime<Utc>,
    /// Why (release name, ticket).
    pub note: String,
}

impl Store {
    /// Where the store lives, without credentials.
    pub fn describe(&self) -> String {
        self.target.clone()
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(query_error)
    }

    /// Closes every connection (on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Fixed-width UTC text: sorts like the instant it names.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a timestamp written by [`stamp`].
fn parse_stamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Query(format!("bad timestamp {text:?} in the store: {e}")))
}

fn query_error(error: sqlx::Error) -> StoreError {
    let message = crate::snapshot::redact::mask_for_log(&error.to_string());
    if crate::collectors::error::is_connection_lost(&error) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Query(message)
    }
}

/// Parses JSON written by the store; trees may nest as deep as collection allows.
fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    T::deserialize(&mut de)
        .map_err(|e| StoreError::Query(format!("unreadable {what} in the store: {e}")))
}

fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Query(format!("cannot encode {what}: {e}")))
}
