//! The dashboard: server-rendered HTML pages (maud), no JavaScript, no external requests.
//! Every page's URL can be pasted into a ticket: filters live in the query string.
//!
//! `/` matrix of environments × sources and the pairs; `/pairs/{pair}` findings with colored
//! diffs; `/pairs/{pair}/findings/{fingerprint}` one finding's history; `/environments/{env}`
//! the timeline of an environment's changes.

mod finding;
mod home;
mod pair;
mod timeline;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use std::sync::Arc;

use crate::app::state::AppState;
use crate::report::html::{page, segment, CSP_HEADER};

/// The dashboard's routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home::page))
        .route("/pairs/{pair}", get(pair::page))
        .route("/pairs/{pair}/findings/{fingerprint}", get(finding::page))
        .route("/environments/{env}", get(timeline::page))
}

/// The navigation bar: home and every pair and environment.
fn nav(state: &AppState) -> Markup {
    let live = state.live();
    html! {
        a href="/" { "Overview" }
        @for pair in &live.config.pairs {
            a href=(format!("/pairs/{}", segment(&pair.name))) { (pair.name) }
        }
        @for env in live.config.environments.keys() {
            a href=(format!("/environments/{}", segment(env))) { (env) " timeline" }
        }
    }
}

/// A full page with the security headers every dashboard page carries.
fn respond(state: &AppState, status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = page(title, Some(nav(state)), body);
    let mut response = (status, markup).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP_HEADER),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 404 page naming what was not found.
fn not_found(state: &AppState, what: &str) -> Response {
    respond(
        state,
        StatusCode::NOT_FOUND,
        "Not found",
        html! { h1 { "Not found" } p { (what) } p { a href="/" { "Back to the overview" } } },
    )
}

/// A page for a store failure; the cause is logged, not shown.
fn store_error(state: &AppState, error: &crate::store::StoreError) -> Response {
    tracing::error!(error = %error, "Dashboard page failed to read the store.");
    respond(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Store unavailable",
        html! { h1 { "The store could not be read" } p { "See the daemon's log. This page shows nothing rather than something stale." } },
    )
}
