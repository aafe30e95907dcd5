//! Sign-off endpoints: record one (`POST /api/v1/pairs/{pair}/signoff`, behind the token) and
//! list them (`GET /api/v1/pairs/{pair}/signoffs`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::api::authorize;
use super::error::ApiError;
use crate::app::state::AppState;
use crate::app::view;
use crate::signoff::{self, Refusal, SignoffRequest};

type ApiResult = Result<Json<Value>, ApiError>;

fn known_pair(state: &AppState, name: &str) -> Result<crate::config::Pair, ApiError> {
    state
        .live()
        .config
        .pair(name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no pair {name:?}")))
}

/// `POST /api/v1/pairs/{pair}/signoff` with `{"by", "note", "fail_on", "accept": [{"fingerprint",
/// "reason"}]}`: signs off the latest snapshots; 409 with the blockers when refused.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(request): Json<SignoffRequest>,
) -> ApiResult {
    authorize(&state, &headers)?;
    let pair = known_pair(&state, &name)?;
    let current = view::pair_view(&state, &pair);
    match signoff::decide(&current.report, &current.snapshot_ids, &request, Utc::now()) {
        Ok(record) => {
            let saved = state.store.save_signoff(&record).await?;
            tracing::info!(pair = %saved.pair, by = %saved.by, id = saved.id, accepted = saved.accepted.len(), "Sign-off recorded.");
            view::refresh_signoffs(&state).await;
            Ok(Json(json!({ "signoff": saved })))
        }
        Err(Refusal::Invalid(message)) => Err(ApiError::BadRequest(message)),
        Err(refusal) => {
            let detail = match &refusal {
                Refusal::Blocked { blockers, .. } => json!({ "blockers": blockers }),
                Refusal::Unknown { errors, .. } => json!({ "errors": errors }),
                _ => Value::Null,
            };
            Err(ApiError::Conflict(refusal.to_string(), detail))
        }
    }
}

/// `GET /api/v1/pairs/{pair}/signoffs`: newest first, with what changed since the one in force.
pub async fn list(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult {
    let pair = known_pair(&state, &name)?;
    let list = state.store.signoffs(Some(&pair.name), 100).await?;
    // By content hash only: no diff needed to say what changed since.
    let live = state.live();
    let since = state
        .read_status(|status| view::signoff_changes(status, &live.config, &pair).map(|(_, c)| c))
        .unwrap_or_default();
    Ok(Json(
        json!({ "signoffs": list, "changed_since_signoff": since }),
    ))
}
