//! `[[alerts]]`: where notifications go (Alertmanager today) and which findings they carry.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::Validator;
use crate::rules::Severity;

/// One `[[alerts]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    kind: Spanned<String>,
    name: Option<String>,
    url: Option<Spanned<String>>,
    urls: Option<Vec<Spanned<String>>>,
    min_severity: Option<Spanned<String>>,
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    resend: Option<Spanned<String>>,
    source_down_after: Option<Spanned<String>>,
    external_url: Option<Spanned<String>>,
}

/// A configured alert sink.
#[derive(Debug, Clone)]
pub struct AlertSink {
    /// Name used in logs and metrics (`sink` label).
    pub name: String,
    /// Alertmanager base URLs; every one is sent to (an HA pair).
    pub urls: Vec<String>,
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
            if alert.kind.get_ref() != "alertmanager" {
                return self.err(
                    alert.kind.span(),
                    format!("unknown alert kind {:?}", alert.kind.get_ref()),
                    "use kind = \"alertmanager\"",
                );
            }
            let mut urls = Vec::new();
            for url in alert.url.iter().chain(alert.urls.iter().flatten()) {
                let text = url.get_ref().trim_end_matches('/');
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    return self.err(
                        url.span(),
                        "an Alertmanager URL must start with http:// or https://",
                        "e.g. url = \"http://alertmanager:9093\"",
                    );
                }
                urls.push(text.to_string());
            }
            if urls.is_empty() {
                return self.err(
                    alert.kind.span(),
                    "an alertmanager sink needs `url` or `urls`",
                    "e.g. urls = [\"http://am-0:9093\", \"http://am-1:9093\"]",
                );
            }
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
                .unwrap_or_else(|| format!("alertmanager-{}", i + 1));
            if sinks.iter().any(|s| s.name == name) {
                return self.err(
                    alert.kind.span(),
                    format!("two alert sinks are named {name:?}"),
                    "give each [[alerts]] a distinct `name`",
                );
            }
            sinks.push(AlertSink {
                name,
                urls,
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
