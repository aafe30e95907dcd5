//! `GET /metrics`: the Prometheus text format over the state's own registry.
//!
//! Rendering thousands of series costs milliseconds of CPU, and several Prometheus servers may
//! scrape at once, so the registry's rendering is cached while nothing changed: the cache is
//! keyed on the state's generation (bumped by every status or reload change) and is never older
//! than [`MAX_AGE`] (counters move without a status change). Process metrics are always fresh.

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
    let body = cached_body(&state, &encoder)?;
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

fn cached_body(state: &AppState, encoder: &TextEncoder) -> Result<Arc<Vec<u8>>, ApiError> {
    let generation = state.generation.load(std::sync::atomic::Ordering::Relaxed);
    if let Some((cached_generation, at, body)) = lock(state).as_ref() {
        if *cached_generation == generation && at.elapsed() < MAX_AGE {
            return Ok(body.clone());
        }
    }
    let mut body = Vec::new();
    encoder
        .encode(&state.registry.gather(), &mut body)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = Arc::new(body);
    *lock(state) = Some((generation, Instant::now(), body.clone()));
    Ok(body)
}
