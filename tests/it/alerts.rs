//! The Alertmanager sink against a real Alertmanager (Debian's `prometheus-alertmanager`),
//! started by the test on a loopback port with a temporary config and storage; the webhook sink
//! against a real HTTP receiver started by the test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::daemon::{metric, spawn_daemon_with, start};
use crate::helpers::free_port;

/// A private Alertmanager, killed on drop.
struct Alertmanager {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    binary: std::path::PathBuf,
}

fn alertmanager_binary() -> Option<std::path::PathBuf> {
    ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

impl Alertmanager {
    /// Prepares (does not start) an Alertmanager; `None` (skip) when it is not installed
    /// outside CI.
    fn prepare() -> Option<Alertmanager> {
        let Some(binary) = alertmanager_binary() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but prometheus-alertmanager is not installed");
            }
            eprintln!("skipping: prometheus-alertmanager is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alertmanager.yml"),
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        Some(Alertmanager {
            child: None,
            dir,
            port: free_port(),
            binary,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self, client: &reqwest::Client) {
        let child = Command::new(&self.binary)
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{}/-/ready", self.url())).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Alertmanager did not become ready");
    }

    /// Active EnvironmentDrift alerts, by path.
    async fn drift_alerts(&self, client: &reqwest::Client) -> Vec<Value> {
        let alerts: Value = client
            .get(format!("{}/api/v2/alerts?active=true", self.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut alerts: Vec<Value> = alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                a["labels"]["alertname"] == "EnvironmentDrift" && a["status"]["state"] == "active"
            })
            .cloned()
            .collect();
        alerts.sort_by_key(|a| a["labels"]["path"].as_str().unwrap_or("").to_string());
        alerts
    }

    /// Waits until exactly `count` active alerts are named `alertname`.
    async fn wait_for_alertname(
        &self,
        client: &reqwest::Client,
        alertname: &str,
        count: usize,
    ) -> Vec<Value> {
        let mut alerts = Vec::new();
        for _ in 0..100 {
            let all: Value = client
                .get(format!("{}/api/v2/alerts?active=true", self.url()))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            alerts = all
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| {
                    a["labels"]["alertname"] == alertname && a["status"]["state"] == "active"
                })
                .cloned()
                .collect();
            if alerts.len() == count {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("expected {count} active {alertname} alerts: {alerts:#?}");
    }

    /// Waits until `count` drift alerts are active.
    async fn wait_for(&self, client: &reqwest::Client, count: usize) -> Vec<Value> {
        let mut alerts = Vec::new();
        for _ in 0..100 {
            alerts = self.drift_alerts(client).await;
            if alerts.len() == count {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "expected {count} active drift alerts, got {}: {alerts:#?}",
            alerts.len()
        );
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Err(e) = child.kill().and_then(|()| child.wait().map(|_| ())) {
                eprintln!("stopping Alertmanager failed: {e}");
            }
        }
    }
}

const INDEX: &str = "schema/tables/main.orders/indexes/orders_customer_id_idx";

#[tokio::test]
async fn drift_reaches_a_real_alertmanager_late_resolves_and_survives_a_restart() {
    let Some(mut am) = Alertmanager::prepare() else {
        return;
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // The second member of an HA pair is up from the start; every push goes to both.
    let mut peer = Alertmanager::prepare().unwrap();
    peer.start(&client).await;
    let sink = format!(
        "\n[[alerts]]\nkind = \"alertmanager\"\nname = \"am\"\nurls = [\"{}\", \"{}\"]\n\
         min_severity = \"info\"\nresend = \"1s\"\nsource_down_after = \"1s\"\n\
         external_url = \"http://driftwarden.example:9977\"\n",
        am.url(),
        peer.url()
    );
    let daemon = spawn_daemon_with(|demo| {
        demo.append("driftwarden.toml", &sink);
        // Routing rules, loaded before the demo's: feature flags are reported but never
        // alerted on; index findings carry a runbook.
        demo.write(
            "rules/00-routing.toml",
            "[[rule]]\nid = \"flags-are-fyi\"\nsource = \"app-config\"\nmatch = \"features/**\"\n\
             expect = \"equal\"\nnotify = false\n\n[[rule]]\nid = \"index-runbook\"\n\
             source = \"appdb\"\nmatch = \"schema/tables/*/indexes/*\"\nexpect = \"equal\"\n\
             runbook_url = \"https://runbooks.example/indexes\"\n",
        );
    })
    .await;
    assert_eq!(daemon.open_findings().await.len(), 7);
    // The feature-flag finding is open but, by its rule, not sent.
    let expected = 6;

    // Alertmanager is down at first: pushes fail and are counted, nothing is lost.
    let mut errors = None;
    for _ in 0..50 {
        errors = metric(
            &daemon.metrics().await,
            r#"driftwarden_notifications_errors_total{sink="am"}"#,
        );
        if errors.is_some_and(|e| e >= 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(errors.is_some_and(|e| e >= 1.0), "errors: {errors:?}");

    // It comes up: every open finding arrives, with routing labels and a link back.
    am.start(&client).await;
    let alerts = am.wait_for(&client, expected).await;
    let index = alerts
        .iter()
        .find(|a| a["labels"]["path"] == INDEX)
        .unwrap_or_else(|| panic!("no alert for the index: {alerts:#?}"));
    let labels = &index["labels"];
    assert_eq!(labels["pair"], "staging-vs-production");
    assert_eq!(labels["baseline"], "production");
    assert_eq!(labels["candidate"], "staging");
    assert_eq!(labels["source"], "appdb");
    assert_eq!(labels["severity"], "warning");
    assert!(labels["rule"].is_string());
    assert!(index["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("staging differs from production"));
    assert_eq!(
        index["annotations"]["runbook_url"],
        "https://runbooks.example/indexes"
    );
    assert!(alerts
        .iter()
        .all(|a| a["labels"]["path"] != "features/new_checkout"));
    assert!(index["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("http://driftwarden.example:9977/api/v1/findings?fingerprint="));
    // No secret ever reaches Alertmanager.
    let everything = serde_json::to_string(&alerts).unwrap();
    for secret in [
        "correct-horse-battery-staple",
        "mail-relay-rotated-2026-11",
        "prod-session-7f3a9c1e55d04b2a",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked to Alertmanager"
        );
    }
    assert_eq!(
        peer.wait_for(&client, expected).await.len(),
        expected,
        "the HA peer receives the same alerts"
    );
    let starts: Vec<(Value, Value)> = alerts
        .iter()
        .map(|a| (a["labels"]["path"].clone(), a["startsAt"].clone()))
        .collect();

    // A restart of the daemon neither loses nor duplicates alerts; startsAt stays first seen.
    let demo = daemon.stop().await;
    let daemon = start(demo).await;
    daemon.run_all().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = am.wait_for(&client, expected).await;
    let starts_after: Vec<(Value, Value)> = after
        .iter()
        .map(|a| (a["labels"]["path"].clone(), a["startsAt"].clone()))
        .collect();
    assert_eq!(starts_after, starts);

    // Fix the drift in staging: the alert resolves.
    let run = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args(["demo", "--mutate", "--dir"])
        .arg(daemon.demo.path())
        .output()
        .unwrap();
    assert!(run.status.success());
    daemon.run_all().await;
    let remaining = am.wait_for(&client, expected - 1).await;
    assert!(remaining.iter().all(|a| a["labels"]["path"] != INDEX));

    // A source that stays down past `source_down_after` raises DriftSourceDown; it resolves
    // when the source is back, and the drift alerts stay as they were meanwhile.
    let db = daemon.demo.path().join("data/staging.db");
    let hidden = daemon.demo.path().join("data/staging.db.hidden");
    std::fs::rename(&db, &hidden).unwrap();
    let run_staging = || async {
        daemon
            .post(
                "/api/v1/run",
                serde_json::json!({"environment": "staging", "source": "appdb"}),
            )
            .await
    };
    run_staging().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    run_staging().await;
    let down = am.wait_for_alertname(&client, "DriftSourceDown", 1).await;
    assert_eq!(down[0]["labels"]["environment_name"], "staging");
    assert_eq!(down[0]["labels"]["source"], "appdb");
    assert!(down[0]["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_eq!(am.drift_alerts(&client).await.len(), expected - 1);
    std::fs::rename(&hidden, &db).unwrap();
    run_staging().await;
    am.wait_for_alertname(&client, "DriftSourceDown", 0).await;
    daemon.stop().await;
}

/// One request the test receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) status: u16,
    pub(crate) delivery: String,
    pub(crate) signature: String,
    pub(crate) body: Vec<u8>,
}

/// A real HTTP receiver on a loopback port that answers 500 while told to fail.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    log: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    fail_next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    fail_all: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub(crate) async fn start(&self) -> String {
        use axum::http::HeaderMap;
        use std::sync::atomic::Ordering;
        let this = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let this = this.clone();
                async move {
                    let fail = this.fail_all.load(Ordering::SeqCst)
                        || this
                            .fail_next
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                    let status = if fail { 500 } else { 200 };
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    this.log.lock().unwrap().push(Received {
                        status,
                        delivery: header("x-driftwarden-delivery"),
                        signature: header("x-driftwarden-signature"),
                        body: body.to_vec(),
                    });
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    pub(crate) fn delivered(&self) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.status == 200)
            .cloned()
            .collect()
    }

    /// Waits until the delivered findings with `event` number `count`.
    pub(crate) async fn wait_for(&self, event: &str, count: usize) -> Vec<Value> {
        let mut findings = Vec::new();
        for _ in 0..150 {
            findings = self
                .delivered()
                .iter()
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .filter(|b| b["event"] == event)
                .flat_map(|b| b["findings"].as_array().unwrap().clone())
                .collect();
            if findings.len() >= count {
                return findings;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} {event} findings delivered, got {findings:#?}");
    }
}

#[tokio::test]
async fn webhooks_are_signed_retried_grouped_and_never_lost_or_repeated_across_restarts() {
    use std::sync::atomic::Ordering;
    let receiver = Receiver::default();
    // The first two attempts fail: deliveries must be retried, not dropped.
    receiver.fail_next.store(2, Ordering::SeqCst);
    let url = receiver.start().await;
    let secret = "webhook-signing-secret";
    let sink = format!(
        "\n[[alerts]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\n\
         secret = \"{secret}\"\nmin_severity = \"info\"\n"
    );
    let daemon = spawn_daemon_with(|demo| {
        demo.append("driftwarden.toml", &sink);
    })
    .await;
    let opened = receiver.wait_for("opened", 7).await;
    assert_eq!(opened.len(), 7, "{opened:#?}");
    let all = receiver.log.lock().unwrap().clone();
    assert!(
        all.iter().filter(|r| r.status == 500).count() == 2,
        "two failed attempts expected"
    );
    let delivered = receiver.delivered();
    // One delivery per source (grouped), each signed over its exact body.
    assert_eq!(delivered.len(), 3, "{delivered:#?}");
    for r in &delivered {
        assert_eq!(
            r.signature,
            driftwarden::sinks::webhook::signature(secret, &r.body)
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["version"], 1);
        assert_eq!(body["group"]["pair"], "staging-vs-production");
        assert_eq!(body["group"]["baseline"], "production");
        assert_eq!(body["delivery"], r.delivery.as_str());
        assert!(!String::from_utf8_lossy(&r.body).contains(secret));
    }
    let mut ids: Vec<&str> = delivered.iter().map(|r| r.delivery.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "delivery ids are unique");

    // A restart sends nothing twice.
    let demo = daemon.stop().await;
    let daemon = start(demo).await;
    daemon.run_all().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.delivered().len(), 3, "nothing is sent twice");

    // The receiver goes down; drift is fixed meanwhile; the daemon restarts; the receiver
    // comes back: the resolution arrives exactly once.
    receiver.fail_all.store(true, Ordering::SeqCst);
    let run = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args(["demo", "--mutate", "--dir"])
        .arg(daemon.demo.path())
        .output()
        .unwrap();
    assert!(run.status.success());
    daemon.run_all().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let demo = daemon.stop().await;
    receiver.fail_all.store(false, Ordering::SeqCst);
    let daemon = start(demo).await;
    let resolved = receiver.wait_for("resolved", 1).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["path"], INDEX);
    assert_eq!(resolved[0]["resolution"], "no longer differs");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Besides the resolution, staging's own schema changed: one changed-since-last finding.
    let mut after_restart: Vec<(String, String, usize)> = receiver.delivered()[3..]
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                body["event"].as_str().unwrap().to_string(),
                body["group"]["kind"].as_str().unwrap().to_string(),
                body["findings"].as_array().unwrap().len(),
            )
        })
        .collect();
    after_restart.sort();
    assert_eq!(
        after_restart,
        [
            ("opened".to_string(), "changed-since-last".to_string(), 1),
            ("resolved".to_string(), "pair".to_string(), 1)
        ],
        "each event is delivered exactly once"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_slack_webhook_gets_one_readable_message_per_group() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sink = format!(
        "\n[[alerts]]\nkind = \"webhook\"\nname = \"chat\"\nurl = \"{url}\"\nformat = \"slack\"\n\
         min_severity = \"info\"\nmatchers = {{ source = \"appdb\" }}\n"
    );
    let daemon = spawn_daemon_with(|demo| {
        demo.append("driftwarden.toml", &sink);
    })
    .await;
    for _ in 0..100 {
        if !receiver.delivered().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let delivered = receiver.delivered();
    // The matcher keeps only appdb: one message for its 5 findings, none for the other sources.
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    let body: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("5 new findings"), "{text}");
    assert!(
        text.contains("staging-vs-production (staging vs production)"),
        "{text}"
    );
    assert!(
        text.contains("`schema/tables/main.orders/indexes/orders_customer_id_idx` removed"),
        "{text}"
    );
    assert!(delivered[0].signature.is_empty(), "no secret, no signature");
    daemon.stop().await;
}
