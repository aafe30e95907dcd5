//! The JSON API under `/api/v1`: environments, sources, pairs, snapshots, findings, diffs, and
//! the mutating endpoints (run, reload, acknowledge, deploys) behind an optional bearer token.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::state::AppState;
use crate::diff::diff;
use crate::rules::Severity;
use crate::scheduler;
use crate::store::{FindingFilter, FindingKind, FindingState};

type ApiResult = Result<Json<Value>, ApiError>;

fn to_json(value: impl serde::Serialize) -> ApiResult {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Checks the bearer token when one is configured (constant-time comparison).
pub fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let live = state.live();
    let Some(token) = &live.config.server.token else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = token.expose().as_bytes();
    let matches = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if matches {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// `GET /api/v1/environments`.
pub async fn environments(State(state): State<Arc<AppState>>) -> ApiResult {
    let live = state.live();
    let list: Vec<Value> = live
        .config
        .environments
        .values()
        .map(|e| json!({ "name": e.name, "sources": e.sources.keys().collect::<Vec<_>>() }))
        .collect();
    to_json(list)
}

/// `GET /api/v1/sources`: status, last success, last error, next run per source.
pub async fn sources(State(state): State<Arc<AppState>>) -> ApiResult {
    let live = state.live();
    let list: Vec<Value> = state.with_status(|s| {
        live.config
            .environments
            .values()
            .flat_map(|e| e.sources.values())
            .map(|source| {
                let status = s.sources.get(&(source.environment.clone(), source.name.clone())).cloned().unwrap_or_default();
                json!({
                    "environment": source.environment,
                    "source": source.name,
                    "kind": source.kind.name(),
                    "interval_seconds": source.interval.as_secs(),
                    "status": match (status.up, &status.collected_by) { (_, Some(_)) => "elsewhere", (None, _) => "pending", (Some(true), _) => "up", (Some(false), _) => "down" },
                    "collected_by": status.collected_by.clone().unwrap_or_else(|| state.replica.clone()),
                    "last_attempt": status.last_attempt,
                    "last_success": status.last_success,
                    "last_error": status.last_error,
                    "next_run": status.next_run,
                    "consecutive_failures": status.consecutive_failures,
                    "snapshot_id": status.snapshot_id,
                    "last_change": status.last_change,
                    "leaves": status.leaves,
                })
            })
            .collect()
    });
    to_json(list)
}

/// `GET /api/v1/replicas`: this replica, the replicas alive on the store and who holds what.
pub async fn replicas(State(state): State<Arc<AppState>>) -> ApiResult {
    let leases = state.store.leases(Utc::now()).await?;
    let live = state.read_status(|s| s.replicas.live_replicas);
    to_json(json!({ "replica": state.replica, "live_replicas": live, "leases": leases }))
}

/// `GET /api/v1/pairs`: per pair and source, the state and open findings.
pub async fn pairs(State(state): State<Arc<AppState>>) -> ApiResult {
    let live = state.live();
    let list: Vec<Value> = state.with_status(|s| {
        live.config
            .pairs
            .iter()
            .map(|pair| {
                let sources: Vec<Value> = live
                    .config
                    .compared_sources(pair)
                    .into_iter()
                    .map(|source| {
                        let status = s.pairs.get(&(pair.name.clone(), source.clone())).cloned().unwrap_or_default();
                        let open: usize = status.open.values().sum();
                        json!({
                            "source": source,
                            "state": if status.state.is_empty() { "unknown".to_string() } else { status.state },
                            "last_comparison": status.last_comparison,
                            "open_findings": open,
                            "suppressed": status.suppressed,
                        })
                    })
                    .collect();
                json!({ "name": pair.name, "baseline": pair.baseline, "candidate": pair.candidate, "sources": sources })
            })
            .collect()
    });
    to_json(list)
}

/// Query of `GET /api/v1/snapshots`.
#[derive(Debug, Deserialize)]
pub struct SnapshotQuery {
    env: Option<String>,
    source: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/snapshots?env=&source=&limit=`: metadata, newest first.
pub async fn snapshots(
    State(state): State<Arc<AppState>>,
    Query(q): Query<SnapshotQuery>,
) -> ApiResult {
    let list = state
        .store
        .snapshots(
            q.env.as_deref(),
            q.source.as_deref(),
            q.limit.unwrap_or(50).clamp(1, 1000),
        )
        .await?;
    to_json(list)
}

/// `GET /api/v1/snapshots/{id}`: metadata and tree.
pub async fn snapshot(State(state): State<Arc<AppState>>, Path(id): Path<i64>) -> ApiResult {
    match state.store.snapshot(id).await? {
        Some((meta, tree)) => to_json(json!({ "snapshot": meta, "tree": tree })),
        None => Err(ApiError::NotFound(format!("no snapshot {id}"))),
    }
}

/// Query of `GET /api/v1/findings`.
#[derive(Debug, Deserialize)]
pub struct FindingQuery {
    pair: Option<String>,
    environment: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    state: Option<String>,
    kind: Option<String>,
    fingerprint: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/findings?pair=&severity=&state=open|resolved&kind=pair|changed-since-last`.
pub async fn findings(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FindingQuery>,
) -> ApiResult {
    let min_severity = match q.severity.as_deref() {
        Some(s) => Some(
            s.parse::<Severity>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
        None => None,
    };
    let finding_state = match q.state.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(FindingState::Open),
        Some("resolved") => Some(FindingState::Resolved),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state must be open, resolved or all, not {other:?}"
            )))
        }
    };
    let (kind, scope) = match (q.kind.as_deref(), q.pair, q.environment) {
        (Some("changed-since-last"), _, env) => (Some(FindingKind::ChangedSinceLast), env),
        (Some("pair") | None, Some(pair), _) => (Some(FindingKind::Pair), Some(pair)),
        (None, None, Some(env)) => (Some(FindingKind::ChangedSinceLast), Some(env)),
        (Some("pair"), None, _) => (Some(FindingKind::Pair), None),
        (None, None, None) => (None, None),
        (Some(other), _, _) => {
            return Err(ApiError::BadRequest(format!(
                "kind must be pair or changed-since-last, not {other:?}"
            )))
        }
    };
    let filter = FindingFilter {
        kind,
        scope,
        source: q.source,
        min_severity,
        state: finding_state,
        fingerprint: q.fingerprint,
        resolved_after: None,
        limit: q.limit.unwrap_or(500).clamp(1, 10_000),
    };
    to_json(state.store.findings(&filter).await?)
}

/// Query of `GET /api/v1/diff`.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: Option<i64>,
    to: Option<i64>,
    pair: Option<String>,
    source: Option<String>,
}

/// `GET /api/v1/diff?from=ID&to=ID` or `?pair=P&source=S`: raw changes with unified diffs.
pub async fn diff_snapshots(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DiffQuery>,
) -> ApiResult {
    let (a, b) = match (q.from, q.to, q.pair, q.source) {
        (Some(from), Some(to), None, None) => {
            let load = |id: i64| {
                let state = state.clone();
                async move {
                    state
                        .store
                        .snapshot(id)
                        .await?
                        .ok_or_else(|| ApiError::NotFound(format!("no snapshot {id}")))
                }
            };
            (load(from).await?.1, load(to).await?.1)
        }
        (None, None, Some(pair), Some(source)) => {
            let live = state.live();
            let pair = live
                .config
                .pair(&pair)
                .ok_or_else(|| ApiError::NotFound(format!("no pair {pair:?}")))?
                .clone();
            let get = |env: &str| {
                state.with_status(|s| s.latest.get(&(env.to_string(), source.clone())).cloned())
            };
            match (get(&pair.baseline), get(&pair.candidate)) {
                (Some(a), Some(b)) => (a.tree.clone(), b.tree.clone()),
                _ => {
                    return Err(ApiError::NotFound(format!(
                        "no snapshots yet for both sides of {} / {source}",
                        pair.name
                    )))
                }
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give either from and to (snapshot ids) or pair and source".into(),
            ))
        }
    };
    let changes: Vec<Value> = diff(&a, &b)
        .into_iter()
        .map(|c| {
            let text = c.text_diff();
            json!({ "path": c.path, "change": c.kind, "baseline": c.baseline, "candidate": c.candidate, "diff": text })
        })
        .collect();
    to_json(json!({ "changes": changes }))
}

/// Body of `POST /api/v1/run`.
#[derive(Debug, Deserialize, Default)]
pub struct RunRequest {
    environment: Option<String>,
    source: Option<String>,
}

/// `POST /api/v1/run`: collect now (all sources, one environment, or one source) and answer
/// when done, with each outcome — what a deploy pipeline wants to wait for.
pub async fn run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Option<Json<RunRequest>>,
) -> ApiResult {
    authorize(&state, &headers)?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let live = state.live();
    let keys: Vec<(String, String)> = live
        .config
        .environments
        .values()
        .flat_map(|e| e.sources.values())
        .filter(|s| {
            request
                .environment
                .as_ref()
                .is_none_or(|e| &s.environment == e)
        })
        .filter(|s| request.source.as_ref().is_none_or(|n| &s.name == n))
        .map(|s| (s.environment.clone(), s.name.clone()))
        .collect();
    if keys.is_empty() {
        return Err(ApiError::NotFound("no configured source matches".into()));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for key in keys {
        let state = state.clone();
        tasks.spawn(async move { scheduler::run_once(&state, &key).await });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(o) | Err(o)) => outcomes.push(o),
            Err(e) => return Err(ApiError::Internal(e.to_string())),
        }
    }
    outcomes.sort_by(|a, b| (&a.environment, &a.source).cmp(&(&b.environment, &b.source)));
    to_json(json!({ "runs": outcomes }))
}

/// `POST /api/v1/reload`: re-read config and rules; on error the old ones stay in force.
pub async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    authorize(&state, &headers)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    state
        .reloads
        .send(reply)
        .await
        .map_err(|_| ApiError::Internal("the daemon is shutting down".into()))?;
    match answer.await {
        Ok(Ok(())) => to_json(json!({ "reloaded": true })),
        Ok(Err(error)) => Err(ApiError::BadRequest(format!(
            "reload failed; still running on the previous config: {error}"
        ))),
        Err(_) => Err(ApiError::Internal("the reload was interrupted".into())),
    }
}

/// Body of `POST /api/v1/acknowledge`.
#[derive(Debug, Deserialize)]
pub struct AcknowledgeRequest {
    environment: String,
    source: Option<String>,
    fingerprint: Option<String>,
    note: Option<String>,
}

/// `POST /api/v1/acknowledge`: marks changed-since-last findings as expected (resolved).
pub async fn acknowledge(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<AcknowledgeRequest>,
) -> ApiResult {
    authorize(&state, &headers)?;
    let filter = FindingFilter {
        kind: Some(FindingKind::ChangedSinceLast),
        scope: Some(request.environment.clone()),
        source: request.source.clone(),
        state: Some(FindingState::Open),
        fingerprint: request.fingerprint,
        ..Default::default()
    };
    let note = request.note.unwrap_or_default();
    let resolution = if note.is_empty() {
        "acknowledged".to_string()
    } else {
        format!("acknowledged: {note}")
    };
    let resolved = state
        .store
        .resolve_findings(&filter, &resolution, Utc::now())
        .await?;
    let mut sources: BTreeMap<String, ()> = BTreeMap::new();
    for f in &resolved {
        sources.insert(f.finding.source.clone(), ());
    }
    for source in sources.keys() {
        crate::compare::refresh_temporal_counts(&state, &request.environment, source).await;
    }
    to_json(json!({ "acknowledged": resolved.len(), "findings": resolved }))
}

/// Body of `POST /api/v1/deploys`.
#[derive(Debug, Deserialize)]
pub struct DeployRequest {
    environment: String,
    minutes: Option<i64>,
    note: Option<String>,
}

/// `POST /api/v1/deploys`: "a deploy of ENV is under way for N minutes": changes of that
/// environment's sources during the window are expected, not findings.
pub async fn deploys(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(request): Json<DeployRequest>,
) -> ApiResult {
    authorize(&state, &headers)?;
    if !state
        .live()
        .config
        .environments
        .contains_key(&request.environment)
    {
        return Err(ApiError::NotFound(format!(
            "no environment {:?}",
            request.environment
        )));
    }
    let minutes = request.minutes.unwrap_or(30);
    if !(1..=24 * 60).contains(&minutes) {
        return Err(ApiError::BadRequest(
            "minutes must be between 1 and 1440".into(),
        ));
    }
    let now = Utc::now();
    let window = state
        .store
        .add_deploy_window(
            &request.environment,
            now,
            now + chrono::Duration::minutes(minutes),
            request.note.as_deref().unwrap_or(""),
        )
        .await?;
    to_json(window)
}
