//! `/`: environments × sources (status, last snapshot, error) and the pairs at a glance.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::respond;
use crate::app::state::AppState;
use crate::app::view::signoff_changes;
use crate::report::html::{segment, when};

/// Renders the overview.
pub async fn page(State(state): State<Arc<AppState>>) -> Response {
    let live = state.live();
    let config = &live.config;
    let names: BTreeSet<&String> = config
        .environments
        .values()
        .flat_map(|e| e.sources.keys())
        .collect();
    let body = state.read_status(|status| {
        html! {
            h1 { "Overview" }
            h2 { "Pairs" }
            table {
                thead { tr { th { "pair" } th { "sources" } th { "open findings" } th { "last sign-off" } } }
                tbody {
                    @for pair in &config.pairs {
                        @let sources = config.compared_sources(pair);
                        tr {
                            td {
                                a href=(format!("/pairs/{}", segment(&pair.name))) { (pair.name) } br;
                                span.dim { (pair.candidate) " vs " (pair.baseline) }
                            }
                            td {
                                @for source in &sources {
                                    @let current = status.pairs.get(&(pair.name.clone(), source.clone()));
                                    @let st = current.map(|c| c.state.as_str()).filter(|s| !s.is_empty()).unwrap_or("unknown");
                                    div { code { (source) } " " span class=(format!("badge {st}")) { (st) } }
                                }
                            }
                            td {
                                @let open: usize = sources.iter()
                                    .filter_map(|s| status.pairs.get(&(pair.name.clone(), s.clone())))
                                    .map(|c| c.open.values().sum::<usize>()).sum();
                                (open)
                            }
                            td {
                                @match signoff_changes(status, config, pair) {
                                    Some((s, changed)) => {
                                        (s.by) " on " (when(s.at))
                                        @if !changed.is_empty() { br; span.badge.stale { (changed.len()) " snapshot(s) changed since" } }
                                    }
                                    None => span.dim { "never" },
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Sources" }
            table.matrix {
                thead { tr { th { "source" }
                    @for env in config.environments.keys() {
                        th { a href=(format!("/environments/{}", segment(env))) { (env) } }
                    }
                } }
                tbody {
                    @for name in &names {
                        tr {
                            td { code { (name) } }
                            @for env in config.environments.values() {
                                td.cell {
                                    @if !env.sources.contains_key(*name) {
                                        span.dim { "—" }
                                    } @else {
                                        @let s = status.sources.get(&(env.name.clone(), (*name).clone())).cloned().unwrap_or_default();
                                        @let label = match s.up { None => "pending", Some(true) => "up", Some(false) => "down" };
                                        span class=(format!("badge {label}")) { (label) }
                                        @if let Some(t) = s.last_success { br; span.dim { "last snapshot " (when(t)) } }
                                        @if let Some(t) = s.last_change { br; span.dim { "changed " (when(t)) } }
                                        @if let Some(e) = &s.last_error { br; span.down { (e.reason) ": " (e.message) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.dim { "Machine-readable: " a href="/api/v1/sources" { "/api/v1/sources" } ", "
                a href="/api/v1/pairs" { "/api/v1/pairs" } ", " a href="/metrics" { "/metrics" } "." }
        }
    });
    respond(&state, StatusCode::OK, "Overview", body)
}
