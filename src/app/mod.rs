//! WIRING: config → running daemon (the zero-to-production `Application` shape with
//! mini-redis's injectable shutdown): scheduler, comparisons, store, HTTP server.

pub mod state;
pub mod view;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::{self, ConfigError};
use crate::rules::RuleSet;
use crate::scheduler;
use crate::snapshot::redact::Redactor;
use crate::store::{Store, StoreError};
use state::{AppState, Live, ReloadRequest};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Config or rules are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source} (hint: another process uses the port? set [server] listen or --listen)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The metrics registry refused a metric (a bug).
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Replicas sharing the store disagree on something they must share.
    #[error("{0}")]
    Replicas(String),
}

/// Loads config, rules and the HMAC key: everything a reload swaps.
pub fn load_live(path: &Path) -> Result<Live, ConfigError> {
    let config = config::load(path)?;
    let rules = RuleSet::load(&config.rules, config.default_rules)?;
    let key = config::hmac_key::load_or_create(&config.secrets.key_file)?;
    let redactor = Redactor::new(key, &config.secrets.keys);
    Ok(Live {
        config: Arc::new(config),
        rules: Arc::new(rules),
        redactor: Arc::new(redactor),
    })
}

/// Runtime knobs given on the command line.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Overrides `[server] listen`.
    pub listen: Option<SocketAddr>,
    /// How long in-flight collections may finish after a stop signal.
    pub shutdown_grace: Duration,
    /// This replica's name among those sharing a store (default: the host name).
    pub replica: Option<String>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            listen: None,
            shutdown_grace: Duration::from_secs(30),
            replica: None,
        }
    }
}

/// A built daemon: config loaded, store open and migrated, port bound.
pub struct Daemon {
    state: Arc<AppState>,
    listener: TcpListener,
    reloads: mpsc::Receiver<ReloadRequest>,
    grace: Duration,
}

impl Daemon {
    /// Loads everything and binds the port; nothing runs until `run_until_stopped`.
    pub async fn build(config_path: &Path, options: DaemonOptions) -> Result<Daemon, BuildError> {
        let live = load_live(config_path)?;
        let store = Store::open(live.config.store.url.expose()).await?;
        let addr = options.listen.unwrap_or(live.config.server.listen);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BuildError::Listen { addr, source })?;
        let (tx, reloads) = mpsc::channel(4);
        let replica = crate::replicas::replica_name(options.replica.as_deref());
        let state = AppState::new(PathBuf::from(config_path), store, live, tx, replica)?;
        crate::replicas::check_key(&state)
            .await
            .map_err(BuildError::Replicas)?;
        scheduler::load_latest(&state).await;
        view::refresh_signoffs(&state).await;
        Ok(Daemon {
            state,
            listener,
            reloads,
            grace: options.shutdown_grace,
        })
    }

    /// The bound address (port 0 resolved).
    pub fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (for tests and the CLI).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Runs until `shutdown` fires: stop scheduling, let in-flight collections finish within
    /// the grace period, then stop the server and close the store.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) -> std::io::Result<()> {
        let state = self.state.clone();
        if let Err(error) = crate::sinks::webhook::init_cursors(&state).await {
            warn!(error = %error, "Preparing webhook cursors failed; they start on first delivery.");
        }
        // Know who else shares the store before claiming any work.
        crate::replicas::beat(&state).await;
        info!(replica = %state.replica, "Joined the store's replicas.");
        let tracker = TaskTracker::new();
        tracker.spawn(crate::replicas::heartbeat(state.clone(), shutdown.clone()));
        let mut schedule = shutdown.child_token();
        scheduler::spawn_all(&state, &tracker, &schedule);
        tracker.spawn(retention_loop(state.clone(), shutdown.clone()));
        tracker.spawn(crate::sinks::alertmanager::run(
            state.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(crate::sinks::webhook::run(state.clone(), shutdown.clone()));
        // The server outlives the scheduler: it keeps answering /metrics while collections drain.
        let server_stop = CancellationToken::new();
        let server = tokio::spawn(crate::server::serve(
            self.listener,
            state.clone(),
            server_stop.clone(),
        ));
        info!("Daemon started.");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(reply) = self.reloads.recv() => {
                    let result = reload(&state);
                    if result.is_ok() {
                        // Old loops stop at their next wait; a run in progress finishes and the
                        // per-source lock keeps it from overlapping the new loop's first run.
                        schedule.cancel();
                        schedule = shutdown.child_token();
                        scheduler::spawn_all(&state, &tracker, &schedule);
                    }
                    // The requester may have gone away; the outcome is logged either way.
                    reply.send(result).unwrap_or_default();
                }
            }
        }
        info!(
            grace_seconds = self.grace.as_secs(),
            "Stopping: no new collections; waiting for those in flight."
        );
        tracker.close();
        if tokio::time::timeout(self.grace, tracker.wait())
            .await
            .is_err()
        {
            warn!("Collections still running at the end of the grace period were cut off; none of them is stored.");
        }
        crate::replicas::release(&state).await;
        server_stop.cancel();
        match server.await {
            Ok(result) => result?,
            Err(e) => error!(error = %e, "The HTTP server task failed."),
        }
        state.store.close().await;
        info!("Daemon stopped.");
        Ok(())
    }
}

/// Re-reads config and rules; on error keeps the old ones and records the failure.
pub fn reload(state: &AppState) -> Result<(), String> {
    match load_live(&state.config_path) {
        Ok(live) => {
            let kept: std::collections::BTreeSet<(String, String)> = live
                .config
                .environments
                .values()
                .flat_map(|e| e.sources.keys().map(move |s| (e.name.clone(), s.clone())))
                .collect();
            state.with_status(|s| {
                s.sources.retain(|k, _| kept.contains(k));
                s.latest.retain(|k, _| kept.contains(k));
                s.temporal.retain(|k, _| kept.contains(k));
                s.pairs
                    .retain(|(pair, _), _| live.config.pair(pair).is_some());
            });
            state.set_live(live);
            state.set_reload(None);
            info!("Config and rules reloaded.");
            Ok(())
        }
        Err(e) => {
            error!(error = %e, "Reload failed; still running on the previous config and rules.");
            state.set_reload(Some(e.to_string()));
            Err(e.to_string())
        }
    }
}

async fn retention_loop(state: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        let lease = crate::replicas::job_lease("retention");
        if crate::replicas::claim(&state, &lease).await == crate::store::Claim::Held {
            prune(&state).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

async fn prune(state: &AppState) {
    let retention = state.live().config.store.retention;
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    match state.store.prune(cutoff).await {
        Ok(0) => {}
        Ok(n) => info!(rows = n, "Pruned history past the retention period."),
        Err(e) => warn!(error = %e, "Pruning the store failed."),
    }
}
