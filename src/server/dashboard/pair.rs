//! `/pairs/{pair}?severity=&source=`: the pair's verdict, sign-off, sources and findings.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{not_found, respond, store_error};
use crate::app::state::AppState;
use crate::app::view::pair_view;
use crate::report::html::{pair_section, segment, when, Links};
use crate::report::Context;
use crate::rules::Severity;

/// Filters of the pair page.
#[derive(Debug, Deserialize, Default)]
pub struct Filters {
    severity: Option<String>,
    source: Option<String>,
}

/// Renders a pair.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(filters): Query<Filters>,
) -> Response {
    let Some(pair) = state.live().config.pair(&name).cloned() else {
        return not_found(&state, &format!("There is no pair named {name:?}."));
    };
    let history = match state.store.signoffs(Some(&pair.name), 10).await {
        Ok(list) => list,
        Err(error) => return store_error(&state, &error),
    };
    let view = pair_view(&state, &pair);
    let min = filters
        .severity
        .as_deref()
        .and_then(|s| s.parse::<Severity>().ok());
    let source = filters.source.clone().filter(|s| !s.is_empty());
    let mut shown = view.report.clone();
    shown.findings.retain(|f| {
        min.is_none_or(|m| f.severity >= m) && source.as_ref().is_none_or(|s| &f.source == s)
    });
    if let Some(s) = &source {
        shown.expected.retain(|e| &e.source == s);
    }
    let mut context = Context::new(Severity::Warning);
    if let Some(signoff) = view.signoff.clone() {
        context.signoffs.insert(pair.name.clone(), signoff);
    }
    let selected = |value: &str, current: Option<&str>| current == Some(value);
    let body = html! {
        h1 { (pair.name) }
        form.filters method="get" action=(format!("/pairs/{}", segment(&pair.name))) {
            label { "minimum severity"
                select name="severity" {
                    option value="" { "all" }
                    @for s in ["info", "warning", "critical"] {
                        option value=(s) selected[selected(s, filters.severity.as_deref())] { (s) }
                    }
                }
            }
            label { "source"
                select name="source" {
                    option value="" { "all" }
                    @for s in &view.report.sources {
                        option value=(s.name) selected[selected(&s.name, source.as_deref())] { (s.name) }
                    }
                }
            }
            button type="submit" { "Filter" }
            @if min.is_some() || source.is_some() {
                a href=(format!("/pairs/{}", segment(&pair.name))) { "clear" }
            }
        }
        @if shown.findings.len() != view.report.findings.len() {
            p.dim { "Showing " (shown.findings.len()) " of " (view.report.findings.len()) " findings." }
        }
        (pair_section(&shown, &context, Links::Dashboard))
        h3 { "Sign-offs" }
        @if history.is_empty() {
            p.dim { "None yet. Record one with " code { "driftwarden signoff --pair " (pair.name) " --by NAME" }
                " or " code { "POST /api/v1/pairs/" (segment(&pair.name)) "/signoff" } "." }
        } @else {
            table {
                thead { tr { th { "#" } th { "when" } th { "by" } th { "note" } th { "findings open" } th { "accepted" } } }
                tbody {
                    @for s in &history {
                        tr {
                            td { (s.id) } td { (when(s.at)) } td { (s.by) } td { (s.note) }
                            td { (s.findings.len()) }
                            td { @for a in &s.accepted { div { code { (a.fingerprint) } ": " (a.reason) } } }
                        }
                    }
                }
            }
        }
    };
    respond(&state, StatusCode::OK, &pair.name, body)
}
