//! HTTP JSON collector: GETs an endpoint (a Spring `/actuator/env`, a feature-flag service,
//! a `/version` route) and turns its JSON body into a tree.
//!
//! The URL and header values are secrets: they are only exposed to build the request; logs
//! and errors use the redacted URL and never show headers. The body is read chunk by chunk
//! and the read stops at `max_bytes`, so an endless or huge response costs at most the cap.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use tracing::debug;

use crate::collectors::document::json_tree;
use crate::collectors::CollectError;
use crate::config::Secret;
use crate::snapshot::Tree;

/// Most redirects followed, all on the original host.
pub const MAX_REDIRECTS: usize = 5;

/// Longest wait for a TCP/TLS connection, whatever the overall timeout.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = concat!("driftwarden/", env!("CARGO_PKG_VERSION"));

/// Builds the HTTP client (the only place one is built): connect and overall timeouts, at most
/// [`MAX_REDIRECTS`] redirects and only on the same host, a `driftwarden/<version>` user agent.
pub fn client(timeout: Duration) -> Result<reqwest::Client, CollectError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .timeout(timeout)
        .redirect(redirect_policy())
        .build()
        .map_err(|err| {
            CollectError::query(
                "HTTP client",
                format!("cannot build the HTTP client: {}", describe(err)),
            )
        })
}

/// Follows a few redirects on the same host; never to another host (headers carry
/// credentials) and never from `https` down to `http`.
fn redirect_policy() -> Policy {
    Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let next = attempt.url();
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        if first.host_str() != next.host_str() {
            let host = next.host_str().unwrap_or("").to_string();
            return attempt.error(format!("refused a redirect to another host ({host})"));
        }
        if first.scheme() == "https" && next.scheme() != "https" {
            return attempt.error("refused a redirect from https to http");
        }
        attempt.follow()
    })
}

/// GETs a JSON endpoint into a tree.
pub async fn collect(
    url: &Secret,
    headers: &BTreeMap<String, Secret>,
    pointer: Option<&str>,
    max_bytes: u64,
    timeout: Duration,
) -> Result<Tree, CollectError> {
    let target = url.redacted();
    let parsed = reqwest::Url::parse(url.expose()).map_err(|err| {
        CollectError::connect(
            &target,
            format!("invalid URL: {err}"),
            Some("check the source's url"),
        )
    })?;
    let header_map = header_map(headers, &target)?;
    debug!(url = %target, headers = headers.len(), "GET");

    let client = client(timeout)?;
    let request_error = |err: reqwest::Error| request_error(err, &target, timeout);
    let mut response = client
        .get(parsed)
        .headers(header_map)
        .send()
        .await
        .map_err(request_error)?;

    let status = response.status();
    if !status.is_success() {
        let message = status_text(status);
        return Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                CollectError::auth(&target, message)
            }
            _ => CollectError::query(&target, message),
        });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let too_big =
        || CollectError::query(&target, format!("response body exceeds {max_bytes} bytes"));
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    debug!(url = %target, status = status.as_u16(), bytes = body.len(), "Response read.");

    let hint = match &content_type {
        Some(kind) if !kind.contains("json") => {
            format!("the endpoint did not return JSON (Content-Type: {kind})")
        }
        _ => "the endpoint did not return JSON".to_string(),
    };
    json_tree(&body, &target, pointer, &hint)
}

/// The request headers; values are marked sensitive and never appear in errors.
fn header_map(headers: &BTreeMap<String, Secret>, target: &str) -> Result<HeaderMap, CollectError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            CollectError::query(target, format!("invalid HTTP header name {name:?}"))
        })?;
        let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
            CollectError::query(
                target,
                format!("invalid value for HTTP header {name:?} (value not shown)"),
            )
        })?;
        value.set_sensitive(true);
        map.insert(header, value);
    }
    Ok(map)
}

/// `HTTP 503 Service Unavailable`.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// Maps a reqwest failure to the error kinds: timeout, connect (refused, DNS, TLS
/// handshake), or query (anything after connecting, redirects).
fn request_error(err: reqwest::Error, target: &str, timeout: Duration) -> CollectError {
    if err.is_timeout() {
        return CollectError::Timeout { after: timeout };
    }
    if err.is_connect() {
        return CollectError::connect(
            target,
            describe(err),
            Some("is the service running and the URL right?"),
        );
    }
    CollectError::query(target, describe(err))
}

/// The error and its causes on one line, without the URL (which may carry credentials).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_http() {
        assert_eq!(
            status_text(StatusCode::SERVICE_UNAVAILABLE),
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(status_text(StatusCode::from_u16(599).unwrap()), "HTTP 599");
    }

    #[test]
    fn bad_header_values_are_not_echoed() {
        let mut headers = BTreeMap::new();
        headers.insert("X-Token".to_string(), Secret::new("s3cret\nvalue"));
        let err = header_map(&headers, "http://svc").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn the_client_builds() {
        assert!(client(Duration::from_secs(5)).is_ok());
    }
}
