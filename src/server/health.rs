//! `/healthz` (the process answers) and `/readyz` (store reachable, every source tried once).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::app::state::AppState;

/// Always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the store answers and every configured source has been run once, comparisons
/// included.
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let store = state.store.ping().await.map_err(|e| e.to_string());
    let live = state.live();
    let pending: Vec<String> = state.with_status(|s| {
        live.config
            .environments
            .iter()
            .flat_map(|(env, e)| {
                e.sources
                    .keys()
                    .map(move |name| (env.clone(), name.clone()))
            })
            .filter(|key| s.sources.get(key).is_none_or(|st| st.runs_completed == 0))
            .map(|(env, name)| format!("{env}/{name}"))
            .collect()
    });
    let ready = store.is_ok() && pending.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "store": store.err().unwrap_or_else(|| "ok".into()),
        "sources_not_yet_attempted": pending,
    });
    (status, Json(body))
}
