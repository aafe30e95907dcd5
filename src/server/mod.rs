//! EDGE: HTTP transport (axum). Binds 127.0.0.1 unless configured otherwise; tests use port 0.

pub mod api;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod metrics;
pub mod signoff;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::state::AppState;

/// The daemon's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/environments", get(api::environments))
        .route("/api/v1/sources", get(api::sources))
        .route("/api/v1/pairs", get(api::pairs))
        .route("/api/v1/replicas", get(api::replicas))
        .route("/api/v1/pairs/{pair}/signoff", post(signoff::create))
        .route("/api/v1/pairs/{pair}/signoffs", get(signoff::list))
        .route("/api/v1/snapshots", get(api::snapshots))
        .route("/api/v1/snapshots/{id}", get(api::snapshot))
        .route("/api/v1/findings", get(api::findings))
        .route("/api/v1/diff", get(api::diff_snapshots))
        .route("/api/v1/run", post(api::run))
        .route("/api/v1/reload", post(api::reload))
        .route("/api/v1/acknowledge", post(api::acknowledge))
        .route("/api/v1/deploys", post(api::deploys))
        .merge(dashboard::routes())
        .with_state(state)
}

/// Serves until `shutdown` fires, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
