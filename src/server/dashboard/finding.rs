//! `/pairs/{pair}/findings/{fingerprint}`: one finding as last seen and its history
//! (every period it was open: first seen, last seen, resolved and why).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{not_found, respond, store_error};
use crate::app::state::AppState;
use crate::report::html::{finding_card, segment, when, Links};
use crate::store::{FindingFilter, FindingKind};

/// Renders a finding's history.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Path((name, fingerprint)): Path<(String, String)>,
) -> Response {
    let Some(pair) = state.live().config.pair(&name).cloned() else {
        return not_found(&state, &format!("There is no pair named {name:?}."));
    };
    let filter = FindingFilter {
        kind: Some(FindingKind::Pair),
        scope: Some(pair.name.clone()),
        fingerprint: Some(fingerprint.clone()),
        ..Default::default()
    };
    let mut periods = match state.store.findings(&filter).await {
        Ok(list) => list,
        Err(error) => return store_error(&state, &error),
    };
    periods.sort_by_key(|p| std::cmp::Reverse(p.first_seen));
    let Some(latest) = periods.first() else {
        return not_found(
            &state,
            &format!("Pair {} has no finding {fingerprint:?}.", pair.name),
        );
    };
    let signoffs = state.read_status(|s| s.signoffs.get(&pair.name).cloned());
    let body = html! {
        h1 { "Finding " code { (fingerprint) } }
        p { "Pair " a href=(format!("/pairs/{}", segment(&pair.name))) { (pair.name) } " · "
            @if latest.resolved_at.is_none() { span.badge.drifted { "open" } } @else { span.badge.in_sync { "resolved" } } }
        (finding_card(&pair.name, &pair.baseline, &pair.candidate, &latest.finding, Links::None))
        @if let Some(s) = &signoffs {
            p {
                @if let Some(a) = s.accepted.iter().find(|a| a.fingerprint == fingerprint) {
                    "Accepted at sign-off #" (s.id) " by " (s.by) ": " em { (a.reason) }
                } @else if s.findings.contains(&fingerprint) {
                    "Open at sign-off #" (s.id) " (below its threshold)."
                } @else {
                    "Not present at sign-off #" (s.id) " (" (when(s.at)) ")."
                }
            }
        }
        h2 { "History" }
        table {
            thead { tr { th { "first seen" } th { "last seen" } th { "resolved" } th { "resolution" } th { "severity" } } }
            tbody {
                @for p in &periods {
                    tr {
                        td { (when(p.first_seen)) }
                        td { (when(p.last_seen)) }
                        td { @match p.resolved_at { Some(t) => (when(t)), None => span.drifted { "still open" } } }
                        td { (p.resolution.as_deref().unwrap_or("")) }
                        td { span class=(format!("badge {}", p.finding.severity.as_str())) { (p.finding.severity.as_str()) } }
                    }
                }
            }
        }
    };
    respond(
        &state,
        StatusCode::OK,
        &format!("Finding {fingerprint}"),
        body,
    )
}
