//! Webhook sink: one POST per group of findings opened or resolved together, read from the
//! store's durable outbox with a per-sink cursor.
//!
//! A delivery counts only when the receiver answers 2xx; then the cursor moves past it. Until
//! then it is retried with exponential backoff, across restarts (the cursor lives in the
//! store), so a receiver outage loses nothing. Each delivery carries a stable
//! `X-Driftwarden-Delivery` id, so a receiver can drop the rare repeat (a crash between its 2xx
//! and our cursor write), and, when a secret is set, `X-Driftwarden-Signature: sha256=<hex>`,
//! the HMAC-SHA256 of the body.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::state::AppState;
use crate::config::alerts::{AlertKind, AlertSink, WebhookFormat};
use crate::config::Config;
use crate::sinks::alertmanager::{finding_alert, matches};
use crate::store::{FindingEvent, FindingKind, StoreError};

/// Version of the JSON body (docs/alerting.md); bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;
/// How often the outbox is polled for new events.
const POLL: Duration = Duration::from_secs(1);
/// Retry delays double from here...
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// ...up to here.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// Events read per round.
const BATCH: i64 = 500;
/// Findings listed in a Slack message before "and N more".
const SLACK_LINES: usize = 20;

fn webhooks(config: &Config) -> Vec<AlertSink> {
    config
        .alerts
        .iter()
        .filter(|s| s.kind == AlertKind::Webhook)
        .cloned()
        .collect()
}

/// Creates the cursors of configured webhooks before the first collection, so "from now on"
/// means from the daemon's start, not from whenever the sender first ran.
pub async fn init_cursors(state: &AppState) -> Result<(), StoreError> {
    for sink in webhooks(&state.live().config) {
        state.store.sink_cursor(&sink.name).await?;
    }
    Ok(())
}

/// Delivers outbox events to every webhook until shutdown.
pub async fn run(state: Arc<AppState>, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("driftwarden/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            warn!(error = %error, "Cannot build the HTTP client; webhooks are disabled.");
            return;
        }
    };
    // Per sink: consecutive failures and when to try again.
    let mut retry: HashMap<String, (u32, Instant)> = HashMap::new();
    loop {
        let live = state.live();
        for sink in webhooks(&live.config) {
            if retry
                .get(&sink.name)
                .is_some_and(|(_, at)| Instant::now() < *at)
            {
                continue;
            }
            match deliver(&state, &client, &live.config, &sink).await {
                Ok(()) => {
                    if retry.remove(&sink.name).is_some() {
                        info!(sink = %sink.name, "Webhook deliveries recovered.");
                    }
                }
                Err(error) => {
                    let failures = retry.get(&sink.name).map_or(0, |(n, _)| *n) + 1;
                    let delay = FIRST_RETRY
                        .saturating_mul(1 << failures.min(16))
                        .min(MAX_RETRY);
                    warn!(sink = %sink.name, error = %error, retry_in = ?delay, "Webhook delivery failed; it will be retried.");
                    retry.insert(sink.name.clone(), (failures, Instant::now() + delay));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Sends every pending group for `sink`, oldest first, stopping at the first failure.
async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    config: &Config,
    sink: &AlertSink,
) -> Result<(), String> {
    // One replica delivers for each sink; the cursor in the store lets the next one resume.
    let lease = crate::replicas::sink_lease(&sink.name);
    if crate::replicas::claim(state, &lease).await != crate::store::Claim::Held {
        return Ok(());
    }
    let store = &state.store;
    let cursor = store
        .sink_cursor(&sink.name)
        .await
        .map_err(|e| e.to_string())?;
    let events = store
        .events_after(cursor, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let Some(url) = sink.urls.first() else {
        return Ok(());
    };
    for group in groups(&events) {
        let last = group.last().map_or(cursor, |e| e.id);
        let base = sink
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.listen));
        let wanted: Vec<&FindingEvent> = group
            .iter()
            .copied()
            .filter(|e| {
                let alert = finding_alert(config, &e.finding, &base, Utc::now());
                e.finding.finding.notify
                    && e.finding.finding.severity >= sink.min_severity
                    && matches(sink, &alert.labels)
            })
            .collect();
        if !wanted.is_empty() {
            let delivery = format!("{}:{}-{}", sink.name, group[0].id, last);
            let body = match sink.format {
                WebhookFormat::Json => json_body(config, &delivery, &wanted),
                WebhookFormat::Slack => slack_body(config, &wanted),
            };
            let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            let mut request = client
                .post(url.expose())
                .header("Content-Type", "application/json")
                .header("X-Driftwarden-Delivery", &delivery);
            if let Some(secret) = &sink.secret {
                request = request.header(
                    "X-Driftwarden-Signature",
                    signature(secret.expose(), &bytes),
                );
            }
            let outcome = request
                .body(bytes)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            if let Err(error) = outcome {
                state
                    .counters
                    .notification_errors
                    .with_label_values(&[&sink.name])
                    .inc();
                // The path of a webhook URL is often its credential (chat webhooks): the
                // message names the host only, and the error without its URL.
                return Err(format!(
                    "{}: {}",
                    url.origin(),
                    crate::snapshot::redact::mask_for_log(&error.without_url().to_string())
                ));
            }
            state
                .counters
                .notifications_sent
                .with_label_values(&[&sink.name])
                .inc();
            debug!(sink = %sink.name, delivery = %delivery, findings = wanted.len(), "Webhook delivered.");
        }
        store
            .advance_sink_cursor(&sink.name, last)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Splits events into runs that share (event, kind, scope, source, time): what one comparison
/// opened or resolved together, e.g. the 40 columns a migration dropped, is one delivery. The
/// time (one per reconciliation) keeps two comparisons apart, so a group, and its delivery id,
/// is the same whenever it is read: after a crash it is resent under the same id.
fn groups(events: &[FindingEvent]) -> Vec<Vec<&FindingEvent>> {
    let key = |e: &FindingEvent| {
        (
            e.at,
            e.event.clone(),
            e.finding.kind,
            e.finding.scope.clone(),
            e.finding.finding.source.clone(),
        )
    };
    let mut out: Vec<Vec<&FindingEvent>> = Vec::new();
    for event in events {
        match out.last_mut() {
            Some(run) if run.first().is_some_and(|first| key(first) == key(event)) => {
                run.push(event);
            }
            _ => out.push(vec![event]),
        }
    }
    out
}

/// `sha256=<hex HMAC-SHA256 of body>`, as GitHub-style receivers verify.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length; the error arm cannot happen.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn json_body(config: &Config, delivery: &str, events: &[&FindingEvent]) -> Value {
    let first = events[0];
    let mut group = BTreeMap::new();
    group.insert("kind", json!(first.finding.kind.as_str()));
    group.insert("source", json!(first.finding.finding.source));
    match first.finding.kind {
        FindingKind::Pair => {
            group.insert("pair", json!(first.finding.scope));
            if let Some(p) = config.pairs.iter().find(|p| p.name == first.finding.scope) {
                group.insert("baseline", json!(p.baseline));
                group.insert("candidate", json!(p.candidate));
            }
        }
        FindingKind::ChangedSinceLast => {
            group.insert("environment", json!(first.finding.scope));
        }
    }
    json!({
        "version": SCHEMA_VERSION,
        "delivery": delivery,
        "event": first.event,
        "at": first.at,
        "group": group,
        "findings": events.iter().map(|e| &e.finding).collect::<Vec<_>>(),
    })
}

fn slack_body(config: &Config, events: &[&FindingEvent]) -> Value {
    let first = events[0];
    let what = match first.finding.kind {
        FindingKind::Pair => {
            let sides = config
                .pairs
                .iter()
                .find(|p| p.name == first.finding.scope)
                .map_or(String::new(), |p| {
                    format!(" ({} vs {})", p.candidate, p.baseline)
                });
            format!("{}{sides}", first.finding.scope)
        }
        FindingKind::ChangedSinceLast => {
            format!("{} changed since last snapshot", first.finding.scope)
        }
    };
    let verb = if first.event == "resolved" {
        "resolved"
    } else {
        "new"
    };
    let mut text = format!(
        "*driftwarden: {} {verb} finding{}* in {what}, source `{}`",
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        first.finding.finding.source
    );
    for e in events.iter().take(SLACK_LINES) {
        let f = &e.finding.finding;
        text.push_str(&format!(
            "\n• `{}` {} ({})",
            f.path,
            f.change,
            f.severity.as_str()
        ));
    }
    if events.len() > SLACK_LINES {
        text.push_str(&format!("\n… and {} more", events.len() - SLACK_LINES));
    }
    json!({ "text": text })
}
