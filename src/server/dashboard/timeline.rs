//! `/environments/{env}`: the environment's timeline, newest first: every new content of each
//! source, and the changed-since-last findings opened and resolved (temporal drift).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::{not_found, respond, store_error};
use crate::app::state::AppState;
use crate::report::html::{short_hash_markup, when};
use crate::store::{FindingFilter, FindingKind};

/// Entries shown at most.
const LIMIT: i64 = 200;

/// Renders an environment's timeline.
pub async fn page(State(state): State<Arc<AppState>>, Path(env): Path<String>) -> Response {
    if !state.live().config.environments.contains_key(&env) {
        return not_found(&state, &format!("There is no environment named {env:?}."));
    }
    let snapshots = match state.store.snapshots(Some(&env), None, LIMIT).await {
        Ok(list) => list,
        Err(error) => return store_error(&state, &error),
    };
    let filter = FindingFilter {
        kind: Some(FindingKind::ChangedSinceLast),
        scope: Some(env.clone()),
        limit: LIMIT,
        ..Default::default()
    };
    let findings = match state.store.findings(&filter).await {
        Ok(list) => list,
        Err(error) => return store_error(&state, &error),
    };
    let mut entries: Vec<(DateTime<Utc>, Markup)> = Vec::new();
    for (i, s) in snapshots.iter().enumerate() {
        // The previous content of the same source is further down the (newest-first) list.
        let previous = snapshots[i + 1..].iter().find(|p| p.source == s.source);
        entries.push((
            s.taken_at,
            html! {
                code { (s.source) } " new content " (short_hash_markup(&s.hash)) " · " (s.leaves) " leaves"
                @if let Some(p) = previous {
                    " · " a href=(format!("/api/v1/diff?from={}&to={}", p.id, s.id)) { "diff with previous (JSON)" }
                } @else { " " span.dim { "(first snapshot kept)" } }
            },
        ));
    }
    for f in &findings {
        let card = html! {
            span class=(format!("badge {}", f.finding.severity.as_str())) { (f.finding.severity.as_str()) } " "
            code { (f.finding.source) } " " code { (f.finding.path.to_string()) } " " (f.finding.change.to_string())
        };
        entries.push((f.first_seen, html! { "changed since last: " (card) }));
        if let Some(t) = f.resolved_at {
            entries.push((
                t,
                html! { "resolved (" (f.resolution.as_deref().unwrap_or("")) "): " (card) },
            ));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let body = html! {
        h1 { (env) " timeline" }
        p.dim { "New content of each source, and changes since the previous snapshot that no rule expected (open until acknowledged with "
            code { "POST /api/v1/acknowledge" } ")." }
        @if entries.is_empty() { p.dim { "Nothing recorded yet." } }
        table {
            thead { tr { th { "when" } th { "what" } } }
            tbody { @for (at, what) in &entries { tr { td { (when(*at)) } td { (what) } } } }
        }
    };
    respond(&state, StatusCode::OK, &format!("{env} timeline"), body)
}
