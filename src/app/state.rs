//! Shared daemon state: the live config and rules (swapped atomically on reload), what each
//! source and pair looks like now, and the registry the metrics are built from.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use prometheus::{IntCounterVec, Opts, Registry};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::check::SourceKey;
use crate::config::Config;
use crate::rules::{RuleSet, Severity};
use crate::snapshot::redact::Redactor;
use crate::snapshot::Snapshot;
use crate::store::Store;

/// Config, rules and redactor that belong together; replaced as one on reload.
pub struct Live {
    /// The validated config.
    pub config: Arc<Config>,
    /// Its rules.
    pub rules: Arc<RuleSet>,
    /// Secret hashing with this installation's key.
    pub redactor: Arc<Redactor>,
}

/// What the daemon knows about one source right now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    /// `None` until the first attempt; then whether the last attempt succeeded.
    pub up: Option<bool>,
    /// When the last attempt started.
    pub last_attempt: Option<DateTime<Utc>>,
    /// When the last successful collection started.
    pub last_success: Option<DateTime<Utc>>,
    /// Reason and message of the last failure (cleared by a success).
    pub last_error: Option<SourceFailure>,
    /// Duration of the last attempt, seconds.
    pub last_duration_seconds: Option<f64>,
    /// When the next scheduled run is due.
    pub next_run: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Store id of the latest snapshot.
    pub snapshot_id: Option<i64>,
    /// When the content last changed (the latest snapshot's first collection).
    pub last_change: Option<DateTime<Utc>>,
    /// Leaves in the latest snapshot.
    pub leaves: usize,
    /// Schema objects by kind (tables, views, …) in the latest snapshot.
    pub schema_objects: BTreeMap<String, usize>,
    /// Applied migrations in the latest snapshot.
    pub migrations: usize,
    /// Since when the source has been failing (None while up).
    pub down_since: Option<DateTime<Utc>>,
    /// Runs finished end to end (collection, storage and the comparisons that follow).
    pub runs_completed: u64,
    /// The replica collecting this source when it is not this one (HA on a shared store).
    pub collected_by: Option<String>,
}

/// A failed collection, as shown by the API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SourceFailure {
    /// timeout, connect, auth, query or parse.
    pub reason: String,
    /// What went wrong (no secrets).
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One pair × source comparison as it stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairSourceStatus {
    /// in_sync, drifted or unknown.
    pub state: String,
    /// When it was last compared.
    pub last_comparison: Option<DateTime<Utc>>,
    /// Open findings by (severity, change).
    pub open: BTreeMap<(Severity, String), usize>,
    /// Differences allowed by each rule.
    pub suppressed: BTreeMap<String, usize>,
}

/// Open temporal (changed-since-last) findings of one source by severity.
pub type TemporalCounts = BTreeMap<Severity, usize>;

/// Mutable status, behind one std mutex held only for short, non-async sections.
#[derive(Default)]
pub struct Status {
    /// Per (environment, source).
    pub sources: BTreeMap<SourceKey, SourceStatus>,
    /// Per (pair, source).
    pub pairs: BTreeMap<(String, String), PairSourceStatus>,
    /// Open changed-since-last findings per (environment, source).
    pub temporal: BTreeMap<SourceKey, TemporalCounts>,
    /// Latest good snapshot per source (kept when later collections fail).
    pub latest: HashMap<SourceKey, Arc<Snapshot>>,
    /// The sign-off in force per pair.
    pub signoffs: BTreeMap<String, crate::signoff::Signoff>,
    /// Per (pair, source): the two latest snapshots with checksummed tables narrowed down to
    /// keys (their `hash` is the collected one, so a newer collection makes them stale).
    pub refined: HashMap<(String, String), (Arc<Snapshot>, Arc<Snapshot>)>,
    /// Source groups another replica collects, with its name: this one only follows their
    /// snapshots from the store and leaves them out of its metrics.
    pub foreign: BTreeMap<String, String>,
    /// Leases held and replicas alive, as of the last heartbeat.
    pub replicas: crate::replicas::ReplicaView,
}

/// Outcome of the last reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// Whether the last reload (or the start) succeeded.
    pub successful: bool,
    /// When config was last loaded successfully.
    pub last_success: DateTime<Utc>,
    /// The error of the last failed reload.
    pub last_error: Option<String>,
}

/// Counters registered once at build; gauges come from `sinks::metrics` at scrape time.
pub struct Counters {
    /// `driftwarden_collections_total`.
    pub collections: IntCounterVec,
    /// `driftwarden_collection_failures_total`.
    pub failures: IntCounterVec,
    /// `driftwarden_findings_opened_total`.
    pub opened: IntCounterVec,
    /// `driftwarden_findings_resolved_total`.
    pub resolved: IntCounterVec,
    /// `driftwarden_notifications_sent_total`.
    pub notifications_sent: IntCounterVec,
    /// `driftwarden_notifications_errors_total`.
    pub notification_errors: IntCounterVec,
}

impl Counters {
    fn new(registry: &Registry) -> prometheus::Result<Self> {
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
                let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(vec.clone()))?;
                Ok(vec)
            };
        Ok(Counters {
            collections: counter(
                "driftwarden_collections_total",
                "Collections attempted, on driftwarden's own schedule (not per scrape).",
                &["environment_name", "source"],
            )?,
            failures: counter(
                "driftwarden_collection_failures_total",
                "Collections that produced no snapshot, by reason.",
                &["environment_name", "source", "reason"],
            )?,
            opened: counter(
                "driftwarden_findings_opened_total",
                "Findings opened.",
                &["pair", "source", "severity"],
            )?,
            resolved: counter(
                "driftwarden_findings_resolved_total",
                "Findings resolved.",
                &["pair", "source", "severity"],
            )?,
            notifications_sent: counter(
                "driftwarden_notifications_sent_total",
                "Notification batches delivered, per sink (and per Alertmanager URL).",
                &["sink"],
            )?,
            notification_errors: counter(
                "driftwarden_notifications_errors_total",
                "Notification batches that failed, per sink; they are retried.",
                &["sink"],
            )?,
        })
    }
}

/// A cached /metrics rendering: (state generation, when it started, body).
pub type MetricsRendering = (u64, std::time::Instant, Arc<Vec<u8>>);

/// Everything the daemon's tasks and handlers share.
pub struct AppState {
    /// Where the config came from (re-read on reload).
    pub config_path: PathBuf,
    /// The store.
    pub store: Store,
    live: RwLock<Arc<Live>>,
    /// Current status.
    pub status: Mutex<Status>,
    /// Last reload outcome.
    pub reload: Mutex<ReloadStatus>,
    /// The metrics registry (never the global default one).
    pub registry: Registry,
    /// Registered counters.
    pub counters: Counters,
    /// Bounds concurrent collections across all sources.
    pub permits: Arc<Semaphore>,
    run_locks: Mutex<HashMap<SourceKey, Arc<tokio::sync::Mutex<()>>>>,
    /// When the daemon started.
    pub started_at: DateTime<Utc>,
    /// Reload requests (API, SIGHUP) to the daemon's main loop, each with a reply channel.
    pub reloads: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// Wakes the alert sender when findings opened or resolved.
    pub alerts_wake: tokio::sync::Notify,
    /// Bumped on every status or reload change: the /metrics render cache's key.
    pub generation: std::sync::atomic::AtomicU64,
    /// The last /metrics rendering of the registry: (generation, when it started, body).
    pub metrics_cache: Mutex<Option<MetricsRendering>>,
    /// Taken while rendering /metrics, so concurrent scrapes share one rendering.
    pub metrics_render: tokio::sync::Mutex<()>,
    /// Process metrics, rendered fresh on every scrape (they change all the time).
    pub process_registry: Registry,
    /// This replica's name in the store's leases.
    pub replica: String,
}

/// A reload request: the main loop answers with the outcome.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

impl AppState {
    /// State around a loaded config; registers the counters and process metrics.
    pub fn new(
        config_path: PathBuf,
        store: Store,
        live: Live,
        reloads: tokio::sync::mpsc::Sender<ReloadRequest>,
        replica: String,
    ) -> prometheus::Result<Arc<AppState>> {
        let registry = Registry::new();
        let counters = Counters::new(&registry)?;
        let process_registry = Registry::new();
        #[cfg(target_os = "linux")]
        process_registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let permits = Arc::new(Semaphore::new(live.config.collection.concurrency));
        let state = Arc::new(AppState {
            config_path,
            store,
            live: RwLock::new(Arc::new(live)),
            status: Mutex::new(Status::default()),
            reload: Mutex::new(ReloadStatus {
                successful: true,
                last_success: Utc::now(),
                last_error: None,
            }),
            registry,
            counters,
            permits,
            run_locks: Mutex::new(HashMap::new()),
            started_at: Utc::now(),
            reloads,
            alerts_wake: tokio::sync::Notify::new(),
            generation: std::sync::atomic::AtomicU64::new(0),
            metrics_cache: Mutex::new(None),
            metrics_render: tokio::sync::Mutex::new(()),
            process_registry,
            replica,
        });
        state
            .registry
            .register(Box::new(crate::sinks::metrics::StateCollector::new(
                Arc::downgrade(&state),
            )))?;
        Ok(state)
    }

    /// The live config and rules.
    pub fn live(&self) -> Arc<Live> {
        // A poisoned lock means a panic while swapping; the Arc inside is still whole.
        match self.live.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces config and rules atomically.
    pub fn set_live(&self, live: Live) {
        match self.live.write() {
            Ok(mut guard) => *guard = Arc::new(live),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(live),
        }
    }

    /// Runs `f` on the status under its lock.
    pub fn with_status<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        // Any access may change what /metrics shows; the render cache keys on this.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.read_status(f)
    }

    /// Reads the status without invalidating the /metrics render cache.
    pub fn read_status<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        match self.status.lock() {
            Ok(mut guard) => f(&mut guard),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The per-source lock that keeps two runs of one source from overlapping.
    pub fn run_lock(&self, key: &SourceKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.run_locks.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks.entry(key.clone()).or_default().clone()
    }

    /// Records the outcome of a reload (or of the start).
    pub fn set_reload(&self, error: Option<String>) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut reload = match self.reload.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        reload.successful = error.is_none();
        if error.is_none() {
            reload.last_success = Utc::now();
        }
        reload.last_error = error;
    }

    /// A copy of the reload status.
    pub fn reload_status(&self) -> ReloadStatus {
        match self.reload.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
