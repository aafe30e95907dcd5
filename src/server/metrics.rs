//! `GET /metrics`: the Prometheus text format over the state's own registry.
//!
//! Rendering thousands of series costs milliseconds of CPU, and several Prometheus servers may
//! scrape at once, so the registry's rendering is cached while nothing changed: the cache is
//! keyed on the state's generation (bumped by every status or reload change) and is never older
//! than [`MAX_AGE`] (counters move without a status change). Process metrics are always fresh.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus::{Encoder, TextEncoder};

use super::error::ApiError;
use crate::app::state::{AppState, MetricsRendering};

/// Longest time a cached rendering is served.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Encodes every registered metric (counters, state gauges, process metrics).
pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let encoder = TextEncoder::new();
    let body = cached_body(&state).await?;
    let mut out = Vec::with_capacity(body.len() + 2048);
    out.extend_from_slice(&body);
    encoder
        .encode(&state.process_registry.gather(), &mut out)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, encoder.format_type().to_string())], out))
}

fn lock(state: &AppState) -> std::sync::MutexGuard<'_, Option<MetricsRendering>> {
    match state.metrics_cache.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The cached rendering, if it shows the state as of `arrived` or later: nothing changed
/// since it was made (and it is recent), or it was started after the scrape arrived.
fn fresh(state: &AppState, generation: u64, arrived: Instant) -> Option<Arc<Vec<u8>>> {
    let cache = lock(state);
    let (cached_generation, started, body) = cache.as_ref()?;
    let unchanged = *cached_generation == generation && started.elapsed() < MAX_AGE;
    (unchanged || *started >= arrived).then(|| body.clone())
}

/// One rendering at a time, off the async workers: while collections change the state many
/// times a second, fifty concurrent scrapers cost at most two renderings per wave (the one in
/// progress when they arrived and one after), and collections keep their threads.
async fn cached_body(state: &Arc<AppState>) -> Result<Arc<Vec<u8>>, ApiError> {
    let arrived = Instant::now();
    let generation = state.generation.load(Ordering::Relaxed);
    if let Some(body) = fresh(state, generation, arrived) {
        return Ok(body);
    }
    let _turn = state.metrics_render.lock().await;
    if let Some(body) = fresh(state, generation, arrived) {
        return Ok(body);
    }
    let started = Instant::now();
    let generation = state.generation.load(Ordering::Relaxed);
    let worker = state.clone();
    let body = tokio::task::spawn_blocking(move || {
        let mut body = Vec::new();
        TextEncoder::new()
            .encode(&worker.registry.gather(), &mut body)
            .map(|()| body)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = Arc::new(body);
    *lock(state) = Some((generation, started, body.clone()));
    Ok(body)
}
