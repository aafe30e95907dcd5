//! `[[alerts]]`: where notifications go (Alertmanager, webhooks) and which findings they carry.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::secret::Secret;
use super::Validator;
use crate::rules::Severity;

/// One `[[alerts]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    kind: Spanned<String>,
    name: Option<String>,
    url: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
    urls: Option<Vec<Spanned<String>>>,
    secret: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    min_severity: Option<Spanned<String>>,
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    resend: Option<Spanned<String>>,
    source_down_after: Option<Spanned<String>>,
    external_url: Option<Spanned<String>>,
}

/// What a sink speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Alertmanager's v2 API, state-based.
    Alertmanager,
    /// A JSON POST per group of new/resolved findings, from the durable outbox.
    Webhook,
}

/// Body shape of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// driftwarden's versioned JSON (docs/alerting.md).
    Json,
    /// A Slack incoming-webhook message.
    Slack,
}

/// A configured alert sink.
#[derive(Debug, Clone)]
pub struct AlertSink {
    /// Name used in logs, metrics (`sink` label) and the outbox cursor.
    pub name: String,
    /// Alertmanager or webhook.
    pub kind: AlertKind,
    /// Alertmanager base URLs (every one is sent to: an HA pair), or the one webhook URL.
    /// Secret: chat webhook URLs are credentials.
    pub urls: Vec<Secret>,
    /// Webhook: key of the `X-Driftwarden-Signature` HMAC-SHA256 over the body.
    pub secret: Option<Secret>,
    /// Webhook: body shape.
    pub format: WebhookFormat,
    /// Findings below this severity are not sent.
    pub min_severity: Severity,
    /// Only findings whose labels (pair, source, severity, rule, and the rule's labels) equal these.
    pub matchers: BTreeMap<String, String>,
    /// How often open alerts are re-sent (Alertmanager forgets alerts not re-sent).
    pub resend: Duration,
    /// A source failing this long raises `DriftSourceDown`.
    pub source_down_after: Duration,
    /// Base URL of this daemon as users reach it, for `generatorURL` links.
    pub external_url: Option<String>,
}

impl Validator<'_> {
    pub(super) fn alerts(&self, raw: &[RawAlert]) -> Result<Vec<AlertSink>, ConfigError> {
        let mut sinks: Vec<AlertSink> = Vec::new();
        for (i, alert) in raw.iter().enumerate() {
            let kind = match alert.kind.get_ref().as_str() {
                "alertmanager" => AlertKind::Alertmanager,
                "webhook" => AlertKind::Webhook,
                other => {
                    return self.err(
                        alert.kind.span(),
                        format!("unknown alert kind {other:?}"),
                        "use kind = \"alertmanager\" or kind = \"webhook\"",
                    )
                }
            };
            let mut written: Vec<(String, std::ops::Range<usize>)> = alert
                .url
                .iter()
                .chain(alert.urls.iter().flatten())
                .map(|u| (u.get_ref().clone(), u.span()))
                .collect();
            if let Some(file) = &alert.url_file {
                written.push((self.read_secret_file(file)?, file.span()));
            }
            let mut urls = Vec::new();
            for (text, span) in written {
                let text = text.trim_end_matches('/');
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    return self.err(
                        span,
                        "an alert URL must start with http:// or https://",
                        "e.g. url = \"http://alertmanager:9093\"",
                    );
                }
                urls.push(Secret::new(text));
            }
            if urls.is_empty() {
                return self.err(
                    alert.kind.span(),
                    "an alert sink needs `url`, `urls` or `url_file`",
                    "e.g. urls = [\"http://am-0:9093\", \"http://am-1:9093\"]",
                );
            }
            if kind == AlertKind::Webhook && urls.len() > 1 {
                return self.err(
                    alert.kind.span(),
                    "a webhook sink takes one URL",
                    "add one [[alerts]] per receiver",
                );
            }
            let secret = match (&alert.secret, &alert.secret_file) {
                (Some(_), Some(f)) => {
                    return self.err(
                        f.span(),
                        "set `secret` or `secret_file`, not both",
                        "keep one",
                    )
                }
                (Some(s), None) => Some(Secret::new(s.get_ref().clone())),
                (None, Some(f)) => Some(Secret::new(self.read_secret_file(f)?)),
                (None, None) => None,
            };
            let format = match alert
                .format
                .as_ref()
                .map(|f| (f.get_ref().as_str(), f.span()))
            {
                None | Some(("json", _)) => WebhookFormat::Json,
                Some(("slack", _)) => WebhookFormat::Slack,
                Some((other, span)) => {
                    return self.err(
                        span,
                        format!("unknown webhook format {other:?}"),
                        "use format = \"json\" or format = \"slack\"",
                    )
                }
            };
            let min_severity = match &alert.min_severity {
                Some(s) => match s.get_ref().parse::<Severity>() {
                    Ok(severity) => severity,
                    Err(e) => return self.err(s.span(), e, "use info, warning or critical"),
                },
                None => Severity::Warning,
            };
            let name = alert
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", alert.kind.get_ref(), i + 1));
            if sinks.iter().any(|s| s.name == name) {
                return self.err(
                    alert.kind.span(),
                    format!("two alert sinks are named {name:?}"),
                    "give each [[alerts]] a distinct `name`",
                );
            }
            sinks.push(AlertSink {
                name,
                kind,
                urls,
                secret,
                format,
                min_severity,
                matchers: alert.matchers.clone(),
                resend: match &alert.resend {
                    Some(d) => self.duration(d)?,
                    None => Duration::from_secs(60),
                },
                source_down_after: match &alert.source_down_after {
                    Some(d) => self.duration(d)?,
                    None => Duration::from_secs(600),
                },
                external_url: alert
                    .external_url
                    .as_ref()
                    .map(|u| u.get_ref().trim_end_matches('/').to_string()),
            });
        }
        Ok(sinks)
    }
}
