//! Persistence: snapshots (deduplicated by content hash), findings and their lifecycle,
//! deploy windows. SQLite file by default, PostgreSQL for teams. API STUB: replaced by the
//! store branch.
#![allow(missing_docs, unused_variables, dead_code, clippy::unused_async)]

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::findings::Finding;
use crate::rules::Severity;
use crate::snapshot::{Snapshot, Tree};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{target}: cannot open the store: {message}{}", hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    Open {
        target: String,
        message: String,
        hint: Option<String>,
    },
    #[error("{target}: the store is damaged or not a driftwarden store: {message} (hint: move the file away and start again, or restore a backup; driftwarden never replaces a store by itself)")]
    Corrupt { target: String, message: String },
    #[error("store migration failed: {0}")]
    Migrate(String),
    #[error("store query failed: {0}")]
    Query(String),
}

#[derive(Debug, Clone)]
pub enum Store {
    Stub,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotMeta {
    pub id: i64,
    pub environment: String,
    pub source: String,
    pub hash: String,
    pub taken_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub leaves: i64,
}

#[derive(Debug, Clone)]
pub struct SavedSnapshot {
    pub meta: SnapshotMeta,
    pub is_new: bool,
    pub previous: Option<SnapshotMeta>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    Pair,
    ChangedSinceLast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingScope {
    pub kind: FindingKind,
    pub name: String,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    Open,
    Resolved,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredFinding {
    pub id: i64,
    pub kind: FindingKind,
    pub scope: String,
    #[serde(flatten)]
    pub finding: Finding,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FindingsDelta {
    pub opened: Vec<StoredFinding>,
    pub still_open: Vec<StoredFinding>,
    pub resolved: Vec<StoredFinding>,
}

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub kind: Option<FindingKind>,
    pub scope: Option<String>,
    pub source: Option<String>,
    pub min_severity: Option<Severity>,
    pub state: Option<FindingState>,
    pub fingerprint: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeployWindow {
    pub id: i64,
    pub environment: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: String,
}

impl Store {
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        unimplemented!()
    }
    pub fn describe(&self) -> String {
        unimplemented!()
    }
    pub async fn ping(&self) -> Result<(), StoreError> {
        unimplemented!()
    }
    pub async fn close(&self) {}
    pub async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SavedSnapshot, StoreError> {
        unimplemented!()
    }
    pub async fn latest_snapshot(
        &self,
        environment: &str,
        source: &str,
    ) -> Result<Option<(SnapshotMeta, Tree)>, StoreError> {
        unimplemented!()
    }
    pub async fn snapshot(&self, id: i64) -> Result<Option<(SnapshotMeta, Tree)>, StoreError> {
        unimplemented!()
    }
    pub async fn snapshots(
        &self,
        environment: Option<&str>,
        source: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SnapshotMeta>, StoreError> {
        unimplemented!()
    }
    pub async fn reconcile_findings(
        &self,
        scope: &FindingScope,
        current: &[Finding],
        auto_resolve: bool,
        now: DateTime<Utc>,
    ) -> Result<FindingsDelta, StoreError> {
        unimplemented!()
    }
    pub async fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        unimplemented!()
    }
    pub async fn resolve_findings(
        &self,
        filter: &FindingFilter,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredFinding>, StoreError> {
        unimplemented!()
    }
    pub async fn add_deploy_window(
        &self,
        environment: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        note: &str,
    ) -> Result<DeployWindow, StoreError> {
        unimplemented!()
    }
    pub async fn active_deploy_windows(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<DeployWindow>, StoreError> {
        unimplemented!()
    }
    pub async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        unimplemented!()
    }
}
