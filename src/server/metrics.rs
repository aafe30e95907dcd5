//! `GET /metrics`: the Prometheus text format over the state's own registry.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus::{Encoder, TextEncoder};

use super::error::ApiError;
use crate::app::state::AppState;

/// Encodes every registered metric (counters, state gauges, process metrics).
pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    encoder
        .encode(&state.registry.gather(), &mut body)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, encoder.format_type().to_string())], body))
}
