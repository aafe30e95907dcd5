//! Alertmanager sink: pushes open findings (and failing sources) with the v2 API.
//!
//! State-based, not event-based: every `resend` interval (or sooner when findings change) the
//! full set of open findings is sent with `endsAt` a few intervals ahead, and findings resolved
//! recently are sent with `endsAt` = when they were resolved. Alertmanager deduplicates by label
//! set, so re-sending is harmless, a restart loses nothing, and an Alertmanager that was down
//! receives everything on its first successful push. Every configured URL gets every batch
//! (Alertmanagers in a cluster deduplicate among themselves).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::state::AppState;
use crate::config::alerts::{AlertKind, AlertSink};
use crate::config::Config;
use crate::report::text::short;
use crate::store::{FindingFilter, FindingKind, FindingState, StoredFinding};

/// How many resend intervals an alert stays active without being re-sent.
const LIFETIME_INTERVALS: i32 = 4;
/// Resolved findings are re-announced for at least this long (an Alertmanager down briefly
/// still learns of the resolution).
const RESOLVED_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Longest description sent (Alertmanager and chat receivers dislike huge annotations).
const MAX_DESCRIPTION: usize = 2_000;

/// One alert in Alertmanager's v2 format.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    /// Identity and routing.
    pub labels: BTreeMap<String, String>,
    /// Human text.
    pub annotations: BTreeMap<String, String>,
    /// When the condition began.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// When it ends (future: still active; past: resolved).
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Link back to this daemon.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs the sender until shutdown. Sinks are read from the live config on every round, so a
/// reload that adds or changes `[[alerts]]` takes effect without a restart.
pub async fn run(state: Arc<AppState>, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("driftwarden/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            warn!(error = %error, "Cannot build the HTTP client; alerts are disabled.");
            return;
        }
    };
    // Source-down alerts sent, per sink, to resolve them once the source is back.
    let mut down_sent: HashMap<String, Vec<Alert>> = HashMap::new();
    loop {
        let live = state.live();
        let sinks: Vec<AlertSink> = live
            .config
            .alerts
            .iter()
            .filter(|s| s.kind == AlertKind::Alertmanager)
            .cloned()
            .collect();
        for sink in &sinks {
            let previous = down_sent.remove(&sink.name).unwrap_or_default();
            let current = send_round(&state, &client, &live.config, sink, previous).await;
            down_sent.insert(sink.name.clone(), current);
        }
        let wait = sinks
            .iter()
            .map(|s| s.resend)
            .min()
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.alerts_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Builds and pushes one round for `sink`; returns the source-down alerts now active.
async fn send_round(
    state: &Arc<AppState>,
    client: &reqwest::Client,
    config: &Config,
    sink: &AlertSink,
    down_before: Vec<Alert>,
) -> Vec<Alert> {
    let now = Utc::now();
    let lifetime = chrono::Duration::from_std(sink.resend * LIFETIME_INTERVALS as u32)
        .unwrap_or(chrono::Duration::minutes(5));
    let open = state
        .store
        .findings(&FindingFilter {
            state: Some(FindingState::Open),
            min_severity: Some(sink.min_severity),
            ..Default::default()
        })
        .await;
    let window = chrono::Duration::from_std(RESOLVED_WINDOW.max(sink.resend * 10))
        .unwrap_or(chrono::Duration::minutes(15));
    let resolved = state
        .store
        .findings(&FindingFilter {
            state: Some(FindingState::Resolved),
            min_severity: Some(sink.min_severity),
            resolved_after: Some(now - window),
            ..Default::default()
        })
        .await;
    let (open, resolved) = match (open, resolved) {
        (Ok(open), Ok(resolved)) => (open, resolved),
        (Err(error), _) | (_, Err(error)) => {
            warn!(sink = %sink.name, error = %error, "Reading findings for alerts failed; retrying next round.");
            return down_before;
        }
    };
    let base = sink
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.listen));
    // With replicas on one store, one of them sends the findings (they are the same for all);
    // each sends the source-down alerts of the sources it collects (only it knows them).
    let sends_findings = crate::replicas::claim(state, &crate::replicas::sink_lease(&sink.name))
        .await
        == crate::store::Claim::Held;
    let mut alerts: Vec<Alert> = open
        .iter()
        .filter(|_| sends_findings)
        .chain(resolved.iter())
        .filter(|f| f.finding.notify)
        .map(|f| finding_alert(config, f, &base, now + lifetime))
        .filter(|a| matches(sink, &a.labels))
        .collect();
    let down = source_down_alerts(state, sink, &base, now, now + lifetime);
    // A source that was down and is not any more: resolve its alert now.
    for mut gone in down_before {
        if !down.iter().any(|d| d.labels == gone.labels) {
            gone.ends_at = stamp(now);
            alerts.push(gone);
        }
    }
    alerts.extend(down.iter().cloned());
    if alerts.is_empty() {
        return down;
    }
    for url in &sink.urls {
        let endpoint = format!("{}/api/v2/alerts", url.expose());
        let result = client
            .post(&endpoint)
            .json(&alerts)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match result {
            Ok(_) => {
                state
                    .counters
                    .notifications_sent
                    .with_label_values(&[&sink.name])
                    .inc();
                debug!(sink = %sink.name, url = %url.redacted(), alerts = alerts.len(), "Alerts pushed.");
            }
            Err(error) => {
                state
                    .counters
                    .notification_errors
                    .with_label_values(&[&sink.name])
                    .inc();
                let error = crate::snapshot::redact::mask_for_log(&error.to_string());
                warn!(sink = %sink.name, url = %url.redacted(), error = %error, "Pushing alerts failed; they are re-sent next round.");
            }
        }
    }
    if !down.is_empty() {
        info!(sink = %sink.name, sources = down.len(), "Sources down reported to Alertmanager.");
    }
    down
}

/// The alert for one finding: active until `active_until` while open, ended when resolved.
pub fn finding_alert(
    config: &Config,
    stored: &StoredFinding,
    base_url: &str,
    active_until: DateTime<Utc>,
) -> Alert {
    let f = &stored.finding;
    let mut labels = BTreeMap::new();
    // The rule's labels first, so the identity labels below always win.
    for (k, v) in &f.labels {
        if k != "runbook_url" {
            labels.insert(k.clone(), v.clone());
        }
    }
    let (alertname, sides) = match stored.kind {
        FindingKind::Pair => {
            labels.insert("pair".into(), stored.scope.clone());
            let pair = config.pairs.iter().find(|p| p.name == stored.scope);
            if let Some(pair) = pair {
                labels.insert("baseline".into(), pair.baseline.clone());
                labels.insert("candidate".into(), pair.candidate.clone());
            }
            let sides = pair.map_or(("baseline".into(), "candidate".into()), |p| {
                (p.baseline.clone(), p.candidate.clone())
            });
            ("EnvironmentDrift", sides)
        }
        FindingKind::ChangedSinceLast => {
            labels.insert("environment_name".into(), stored.scope.clone());
            (
                "EnvironmentChanged",
                ("before".to_string(), "now".to_string()),
            )
        }
    };
    labels
        .entry("alertname".into())
        .or_insert_with(|| alertname.into());
    labels.insert("source".into(), f.source.clone());
    labels.insert("rule".into(), f.rule.clone());
    labels.insert("severity".into(), f.severity.as_str().into());
    labels.insert("path".into(), f.path.to_string());
    let value = |n: &Option<crate::snapshot::Node>| n.as_ref().map_or("(absent)".into(), short);
    let summary = match stored.kind {
        FindingKind::Pair => format!(
            "{} {}: {} differs from {} ({})",
            f.source, f.path, sides.1, sides.0, f.change
        ),
        FindingKind::ChangedSinceLast => format!(
            "{} {} changed in {} ({})",
            f.source, f.path, stored.scope, f.change
        ),
    };
    let mut description = format!(
        "{}: {}\n{}: {}",
        sides.0,
        value(&f.baseline),
        sides.1,
        value(&f.candidate)
    );
    if let Some(note) = &f.note {
        description.push_str(&format!("\n{note}"));
    }
    if let Some(diff) = &f.diff {
        description.push('\n');
        description.push_str(diff);
    }
    if description.chars().count() > MAX_DESCRIPTION {
        description = description.chars().take(MAX_DESCRIPTION).collect();
        description.push('…');
    }
    let mut annotations = BTreeMap::from([
        ("summary".to_string(), summary),
        ("description".to_string(), description),
    ]);
    if let Some(runbook) = f.runbook_url.as_ref().or(f.labels.get("runbook_url")) {
        annotations.insert("runbook_url".into(), runbook.clone());
    }
    Alert {
        labels,
        annotations,
        starts_at: stamp(stored.first_seen),
        ends_at: stamp(stored.resolved_at.unwrap_or(active_until)),
        generator_url: format!("{base_url}/api/v1/findings?fingerprint={}", f.fingerprint),
    }
}

fn source_down_alerts(
    state: &Arc<AppState>,
    sink: &AlertSink,
    base_url: &str,
    now: DateTime<Utc>,
    active_until: DateTime<Utc>,
) -> Vec<Alert> {
    let after =
        chrono::Duration::from_std(sink.source_down_after).unwrap_or(chrono::Duration::minutes(10));
    state.with_status(|status| {
        status
            .sources
            .iter()
            .filter_map(|((env, source), s)| {
                let since = s.down_since.filter(|since| now - *since >= after)?;
                let labels = BTreeMap::from([
                    ("alertname".to_string(), "DriftSourceDown".to_string()),
                    ("environment_name".to_string(), env.clone()),
                    ("source".to_string(), source.clone()),
                    ("severity".to_string(), "warning".to_string()),
                ]);
                let error = s.last_error.as_ref().map_or(String::new(), |e| {
                    format!("{} error: {}", e.reason, e.message)
                });
                let alert = Alert {
                    annotations: BTreeMap::from([
                        (
                            "summary".to_string(),
                            format!("{env}/{source} cannot be collected; its drift is unknown"),
                        ),
                        ("description".to_string(), error),
                    ]),
                    starts_at: stamp(since),
                    ends_at: stamp(active_until),
                    generator_url: format!("{base_url}/api/v1/sources"),
                    labels,
                };
                matches(sink, &alert.labels).then_some(alert)
            })
            .collect()
    })
}

/// Whether `labels` satisfy every matcher of `sink`.
pub fn matches(sink: &AlertSink, labels: &BTreeMap<String, String>) -> bool {
    sink.matchers
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
}
