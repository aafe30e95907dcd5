//! `/metrics` gauges built from current state at scrape time (a custom `Collector`), so the
//! series of a removed pair, source or rule disappear, and nothing is ever stale.
//!
//! Collections run on driftwarden's own schedule, never per scrape: a scrape only reads state.

use std::sync::Weak;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::app::state::AppState;
use crate::rules::Severity;

/// Builds the state gauges of METRICS.md on each scrape.
pub struct StateCollector {
    // Weak: the registry lives inside the state; a strong reference would be a cycle.
    state: Weak<AppState>,
}

impl StateCollector {
    /// A collector reading `state`.
    pub fn new(state: Weak<AppState>) -> Self {
        StateCollector { state }
    }
}

/// One gauge family under construction.
struct Family {
    family: MetricFamily,
    samples: Vec<Metric>,
}

impl Family {
    fn new(name: &str, help: &str) -> Self {
        let mut family = MetricFamily::default();
        family.set_name(name.to_string());
        family.set_help(help.to_string());
        family.set_field_type(MetricType::GAUGE);
        Family {
            family,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: &[(&str, &str)], value: f64) {
        // Sorted by name, as the prometheus crate's own collectors emit them.
        let mut labels = labels.to_vec();
        labels.sort_by_key(|(name, _)| *name);
        let pairs = labels
            .iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).to_string());
                pair.set_value((*value).to_string());
                pair
            })
            .collect();
        let mut gauge = Gauge::default();
        gauge.set_value(value);
        let mut metric = Metric::from_label(pairs);
        metric.set_gauge(gauge);
        self.samples.push(metric);
    }

    fn finish(mut self) -> Option<MetricFamily> {
        if self.samples.is_empty() {
            return None;
        }
        self.family.set_metric(self.samples);
        Some(self.family)
    }
}

fn seconds(time: chrono::DateTime<chrono::Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(state) = self.state.upgrade() else {
            return Vec::new();
        };
        let live = state.live();
        let reload = state.reload_status();
        let mut families = Vec::new();

        let mut build = Family::new(
            "driftwarden_build_info",
            "Build of the running driftwarden (always 1).",
        );
        build.add(
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                (
                    "revision",
                    option_env!("DRIFTWARDEN_REVISION").unwrap_or("unknown"),
                ),
            ],
            1.0,
        );
        families.push(build);
        let mut ok = Family::new(
            "driftwarden_config_last_reload_successful",
            "Whether the last config and rules (re)load succeeded.",
        );
        ok.add(&[], if reload.successful { 1.0 } else { 0.0 });
        families.push(ok);
        let mut when = Family::new(
            "driftwarden_config_last_reload_success_timestamp_seconds",
            "When config and rules were last loaded successfully.",
        );
        when.add(&[], seconds(reload.last_success));
        families.push(when);

        let mut loaded = Family::new("driftwarden_rules_loaded", "Rules loaded, by expectation.");
        let mut expiry = Family::new(
            "driftwarden_rule_expiry_timestamp_seconds",
            "When an ignore rule with `until` stops applying (end of that day, UTC).",
        );
        let mut by_expectation = std::collections::BTreeMap::<&str, usize>::new();
        for rule in live.rules.rules() {
            *by_expectation.entry(rule.expect.name()).or_default() += 1;
            if let Some(until) = rule.until {
                if let Some(end) = until.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)) {
                    expiry.add(&[("rule", &rule.id)], end.and_utc().timestamp() as f64);
                }
            }
        }
        for (expectation, n) in by_expectation {
            loaded.add(&[("expectation", expectation)], n as f64);
        }
        families.push(loaded);
        families.push(expiry);

        let mut up = Family::new("driftwarden_source_up", "Whether the last collection of a source succeeded (1) or failed (0); absent before the first attempt.");
        let mut duration = Family::new(
            "driftwarden_collection_duration_seconds",
            "Duration of the last collection attempt.",
        );
        let mut success = Family::new(
            "driftwarden_collection_last_success_timestamp_seconds",
            "When the last successful collection started.",
        );
        let mut changed = Family::new(
            "driftwarden_snapshot_last_change_timestamp_seconds",
            "When the source's content last changed.",
        );
        let mut leaves = Family::new(
            "driftwarden_snapshot_leaves",
            "Leaves in the latest snapshot.",
        );
        let mut objects = Family::new(
            "driftwarden_schema_objects",
            "Schema objects in the latest snapshot, by kind.",
        );
        let mut migrations = Family::new(
            "driftwarden_migrations_applied",
            "Applied migrations in the latest snapshot.",
        );
        let mut pair_state = Family::new(
            "driftwarden_pair_state",
            "State of a pair for a source: one series per state, 1 for the current one.",
        );
        let mut compared = Family::new(
            "driftwarden_pair_last_comparison_timestamp_seconds",
            "When a pair was last compared for a source.",
        );
        let mut open = Family::new("driftwarden_findings_open", "Open findings of a pair.");
        let mut suppressed = Family::new(
            "driftwarden_findings_suppressed",
            "Differences a rule allowed in the last comparison.",
        );
        let mut temporal = Family::new(
            "driftwarden_changes_since_last_open",
            "Open changed-since-last findings of an environment's source.",
        );
        let mut signed = Family::new(
            "driftwarden_signoff_timestamp_seconds",
            "When the sign-off in force for a pair was recorded.",
        );
        let mut since = Family::new(
            "driftwarden_signoff_changed_sources",
            "Snapshots of a pair (environment × source) whose content changed since its sign-off.",
        );
        state.read_status(|status| {
            for pair in &live.config.pairs {
                let Some((signoff, changed)) =
                    crate::app::view::signoff_changes(status, &live.config, pair)
                else {
                    continue;
                };
                signed.add(&[("pair", &pair.name)], seconds(signoff.at));
                since.add(&[("pair", &pair.name)], changed.len() as f64);
            }
            let mut groups = Family::new(
                "driftwarden_replica_source_groups",
                "Source groups (a source name across its environments) this replica collects.",
            );
            let mut replicas = Family::new(
                "driftwarden_replicas",
                "Daemon replicas with a live heartbeat in the shared store.",
            );
            let held = status
                .replicas
                .held
                .iter()
                .filter(|l| l.starts_with("source/"))
                .count();
            groups.add(&[("replica", &state.replica)], held as f64);
            replicas.add(&[], status.replicas.live_replicas as f64);
            families.extend([groups, replicas]);
            // Another replica reports the sources it collects; series here would contradict it.
            let mine = |source: &str| !status.foreign.contains_key(source);
            for ((env, source), s) in status.sources.iter().filter(|((_, s), _)| mine(s)) {
                let labels = [
                    ("environment_name", env.as_str()),
                    ("source", source.as_str()),
                ];
                if let Some(is_up) = s.up {
                    up.add(&labels, if is_up { 1.0 } else { 0.0 });
                }
                if let Some(d) = s.last_duration_seconds {
                    duration.add(&labels, d);
                }
                if let Some(t) = s.last_success {
                    success.add(&labels, seconds(t));
                }
                if let Some(t) = s.last_change {
                    changed.add(&labels, seconds(t));
                }
                if s.snapshot_id.is_some() {
                    leaves.add(&labels, s.leaves as f64);
                    migrations.add(&labels, s.migrations as f64);
                    for (kind, n) in &s.schema_objects {
                        objects.add(&[labels[0], labels[1], ("object_kind", kind)], *n as f64);
                    }
                }
            }
            for ((env, source), counts) in status.temporal.iter().filter(|((_, s), _)| mine(s)) {
                for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
                    let n = counts.get(&severity).copied().unwrap_or(0);
                    temporal.add(
                        &[
                            ("environment_name", env),
                            ("source", source),
                            ("severity", severity.as_str()),
                        ],
                        n as f64,
                    );
                }
            }
            for pair in &live.config.pairs {
                for source in live.config.compared_sources(pair) {
                    if !mine(&source) {
                        continue;
                    }
                    let current = status.pairs.get(&(pair.name.clone(), source.clone()));
                    let now = current.map_or("unknown", |c| c.state.as_str());
                    for candidate_state in ["in_sync", "drifted", "unknown"] {
                        pair_state.add(
                            &[
                                ("pair", &pair.name),
                                ("baseline", &pair.baseline),
                                ("candidate", &pair.candidate),
                                ("source", &source),
                                ("state", candidate_state),
                            ],
                            if now == candidate_state { 1.0 } else { 0.0 },
                        );
                    }
                    let Some(current) = current else { continue };
                    if let Some(t) = current.last_comparison {
                        compared.add(&[("pair", &pair.name), ("source", &source)], seconds(t));
                    }
                    // Explicit zeros, so "no drift" is a value and not a missing series.
                    for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
                        for change in ["added", "removed", "changed", "unchanged"] {
                            let n = current
                                .open
                                .get(&(severity, change.to_string()))
                                .copied()
                                .unwrap_or(0);
                            open.add(
                                &[
                                    ("pair", &pair.name),
                                    ("source", &source),
                                    ("severity", severity.as_str()),
                                    ("change", change),
                                ],
                                n as f64,
                            );
                        }
                    }
                    for (rule, n) in &current.suppressed {
                        suppressed.add(
                            &[("pair", &pair.name), ("source", &source), ("rule", rule)],
                            *n as f64,
                        );
                    }
                }
            }
        });
        families.extend([
            up, duration, success, changed, leaves, objects, migrations, pair_state, compared,
            open, suppressed, temporal, signed, since,
        ]);
        families.into_iter().filter_map(Family::finish).collect()
    }
}
