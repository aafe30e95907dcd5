//! The daemon end to end on the demo: drift in the API and /metrics, resolution, a failing
//! source that changes nothing, temporal drift and its acknowledgement, deploy windows,
//! reloads that keep the old rules on error, tokens, and a SIGKILL restart.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::daemon::{metric, spawn_daemon, spawn_daemon_with, start};
use crate::helpers::free_port;
use crate::helpers::{driftwarden_in, Demo};

const PAIR: &str = "staging-vs-production";

fn paths(findings: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["source"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn drift_shows_in_the_api_and_metrics_and_resolves_when_fixed() {
    let daemon = spawn_daemon().await;
    let open = daemon.open_findings().await;
    assert_eq!(open.len(), 7, "{:#?}", paths(&open));
    assert!(paths(&open)
        .contains(&"appdb schema/tables/main.orders/indexes/orders_customer_id_idx".to_string()));
    let index = open
        .iter()
        .find(|f| f["path"] == "schema/tables/main.orders/indexes/orders_customer_id_idx")
        .unwrap();
    assert_eq!(index["kind"], "pair");
    assert!(index["first_seen"].is_string() && index["resolved_at"].is_null());

    let metrics = daemon.metrics().await;
    let series = |s: &str| metric(&metrics, s);
    assert_eq!(
        series(r#"driftwarden_source_up{environment_name="staging",source="appdb"}"#),
        Some(1.0)
    );
    assert_eq!(
        series(
            r#"driftwarden_pair_state{baseline="production",candidate="staging",pair="staging-vs-production",source="appdb",state="drifted"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            r#"driftwarden_findings_open{change="removed",pair="staging-vs-production",severity="warning",source="appdb"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            r#"driftwarden_findings_suppressed{pair="staging-vs-production",rule="audit-log-size",source="appdb"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            r#"driftwarden_schema_objects{environment_name="production",object_kind="tables",source="appdb"}"#
        ),
        Some(6.0)
    );
    assert!(
        series(r#"driftwarden_build_info{revision="unknown",version="0.1.0"}"#).is_some()
            || metrics.contains("driftwarden_build_info{")
    );
    assert!(
        metrics.contains("process_resident_memory_bytes"),
        "process metrics missing"
    );
    for secret in [
        "correct-horse-battery-staple",
        "mail-relay-rotated-2026-11",
        "prod-session-7f3a9c1e55d04b2a",
    ] {
        assert!(!metrics.contains(secret));
    }

    // Fix staging: the finding resolves at the next collection, the others stay open.
    let run = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args(["demo", "--mutate", "--dir"])
        .arg(daemon.demo.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    daemon.run_all().await;
    let open = daemon.open_findings().await;
    assert_eq!(open.len(), 6, "{:#?}", paths(&open));
    let (_, resolved) = daemon
        .get("/api/v1/findings?pair=staging-vs-production&state=resolved")
        .await;
    let resolved = resolved.as_array().unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        resolved[0]["path"],
        "schema/tables/main.orders/indexes/orders_customer_id_idx"
    );
    assert_eq!(resolved[0]["resolution"], "no longer differs");
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_findings_open{change="removed",pair="staging-vs-production",severity="warning",source="appdb"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_findings_resolved_total{pair="staging-vs-production",severity="warning",source="appdb"}"#
        ),
        Some(1.0)
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_failing_source_changes_no_finding_and_recovers() {
    let daemon = spawn_daemon().await;
    let before = daemon.open_findings().await;
    let db = daemon.demo.path().join("data/staging.db");
    let saved = daemon.demo.path().join("data/staging.db.saved");
    std::fs::rename(&db, &saved).unwrap();
    // Also fix the drift in the (now hidden) file: nothing may resolve while it is unseen.
    let (status, body) = daemon
        .post(
            "/api/v1/run",
            json!({"environment": "staging", "source": "appdb"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["runs"][0]["ok"], false, "{body}");
    assert_eq!(body["runs"][0]["error"]["reason"], "connect");
    assert!(
        !db.exists(),
        "the collector must not create the missing database"
    );
    assert_eq!(
        paths(&daemon.open_findings().await),
        paths(&before),
        "no finding opened or resolved while the source is down"
    );
    let (_, resolved) = daemon
        .get("/api/v1/findings?pair=staging-vs-production&state=resolved")
        .await;
    assert_eq!(resolved.as_array().unwrap().len(), 0);
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_source_up{environment_name="staging",source="appdb"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_collection_failures_total{environment_name="staging",reason="connect",source="appdb"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_pair_state{baseline="production",candidate="staging",pair="staging-vs-production",source="appdb",state="unknown"}"#
        ),
        Some(1.0)
    );
    let (_, sources) = daemon.get("/api/v1/sources").await;
    let staging = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["environment"] == "staging" && s["source"] == "appdb")
        .unwrap();
    assert_eq!(staging["status"], "down");
    assert!(staging["last_error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));

    std::fs::rename(&saved, &db).unwrap();
    daemon
        .post(
            "/api/v1/run",
            json!({"environment": "staging", "source": "appdb"}),
        )
        .await;
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_source_up{environment_name="staging",source="appdb"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_pair_state{baseline="production",candidate="staging",pair="staging-vs-production",source="appdb",state="drifted"}"#
        ),
        Some(1.0)
    );
    assert_eq!(paths(&daemon.open_findings().await), paths(&before));
    daemon.stop().await;
}

#[tokio::test]
async fn an_unexpected_production_change_is_a_changed_since_last_finding_until_acknowledged() {
    let daemon = spawn_daemon().await;
    daemon.demo.edit(
        "config/production.yaml",
        "  retry_attempts: 3",
        "  retry_attempts: 5",
    );
    daemon.run_all().await;
    let (_, temporal) = daemon
        .get("/api/v1/findings?kind=changed-since-last&environment=production&state=open")
        .await;
    let temporal = temporal.as_array().unwrap().clone();
    assert_eq!(
        paths(&temporal),
        ["app-config payments/retry_attempts"],
        "{temporal:#?}"
    );
    assert_eq!(temporal[0]["kind"], "changed-since-last");
    assert_eq!(
        (
            temporal[0]["baseline"].as_i64(),
            temporal[0]["candidate"].as_i64()
        ),
        (Some(3), Some(5))
    );
    // It stays open on the next, unchanged collection (a change is an event to acknowledge).
    daemon.run_all().await;
    let (_, still) = daemon
        .get("/api/v1/findings?kind=changed-since-last&environment=production&state=open")
        .await;
    assert_eq!(still.as_array().unwrap().len(), 1);
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_changes_since_last_open{environment_name="production",severity="warning",source="app-config"}"#
        ),
        Some(1.0)
    );
    let (status, ack) = daemon
        .post(
            "/api/v1/acknowledge",
            json!({"environment": "production", "note": "planned retry change"}),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["acknowledged"], 1);
    let (_, open) = daemon
        .get("/api/v1/findings?kind=changed-since-last&environment=production&state=open")
        .await;
    assert_eq!(open.as_array().unwrap().len(), 0);
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_changes_since_last_open{environment_name="production",severity="warning",source="app-config"}"#
        ),
        Some(0.0)
    );
    daemon.stop().await;
}

#[tokio::test]
async fn changes_during_a_deploy_window_are_expected() {
    let daemon = spawn_daemon().await;
    let (status, window) = daemon
        .post(
            "/api/v1/deploys",
            json!({"environment": "production", "minutes": 30, "note": "release 1.43"}),
        )
        .await;
    assert_eq!(status, 200, "{window}");
    daemon.demo.edit(
        "config/production.yaml",
        "  retry_attempts: 3",
        "  retry_attempts: 5",
    );
    daemon.run_all().await;
    let (_, temporal) = daemon
        .get("/api/v1/findings?kind=changed-since-last&environment=production")
        .await;
    assert_eq!(temporal.as_array().unwrap().len(), 0, "{temporal}");
    let (status, _) = daemon
        .post("/api/v1/deploys", json!({"environment": "nowhere"}))
        .await;
    assert_eq!(status, 404);
    daemon.stop().await;
}

#[tokio::test]
async fn a_bad_reload_keeps_the_old_rules_and_says_so() {
    let daemon = spawn_daemon().await;
    daemon.demo.edit(
        "rules/demo.toml",
        "expect = \"differ\"",
        "expect = \"difer\"",
    );
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("demo.toml"),
        "{body}"
    );
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(&metrics, "driftwarden_config_last_reload_successful"),
        Some(0.0)
    );
    // Still running on the old rules: the run works and the host difference is still expected.
    daemon.run_all().await;
    assert_eq!(daemon.open_findings().await.len(), 7);

    daemon.demo.edit(
        "rules/demo.toml",
        "expect = \"difer\"",
        "expect = \"differ\"",
    );
    daemon.demo.edit(
        "rules/demo.toml",
        "match = \"rows/main.audit_log\"",
        "match = \"rows/main.*\"",
    );
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        metric(
            &daemon.metrics().await,
            "driftwarden_config_last_reload_successful"
        ),
        Some(1.0)
    );
    daemon.run_all().await;
    // The widened ignore rule now covers the products row count too.
    assert_eq!(daemon.open_findings().await.len(), 6);
    daemon.stop().await;
}

#[tokio::test]
async fn mutating_endpoints_require_the_token_when_one_is_set() {
    let daemon = spawn_daemon_with(|demo| {
        let text = std::fs::read_to_string(demo.path().join("driftwarden.toml")).unwrap();
        demo.write(
            "driftwarden.toml",
            &format!("{text}\n[server]\ntoken = \"t0ken-for-tests\"\n"),
        );
    })
    .await;
    let (status, body) = daemon.post("/api/v1/run", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string());
    let (status, _) = daemon
        .post_as("/api/v1/run", json!({}), Some("wrong"))
        .await;
    assert_eq!(status, 401);
    let (status, _) = daemon
        .post_as("/api/v1/run", json!({}), Some("t0ken-for-tests"))
        .await;
    assert_eq!(status, 200);
    // Reads stay open; the token never shows up anywhere.
    let (status, _) = daemon.get("/api/v1/sources").await;
    assert_eq!(status, 200);
    assert!(!daemon.metrics().await.contains("t0ken-for-tests"));
    daemon.stop().await;
}

#[tokio::test]
async fn snapshots_and_diffs_are_served() {
    let daemon = spawn_daemon().await;
    let (_, list) = daemon
        .get("/api/v1/snapshots?env=staging&source=appdb")
        .await;
    let id = list[0]["id"].as_i64().unwrap();
    let (status, snapshot) = daemon.get(&format!("/api/v1/snapshots/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(snapshot["tree"]["rows"]["main.products"], 44);
    let (status, _) = daemon.get("/api/v1/snapshots/999999").await;
    assert_eq!(status, 404);
    let (status, diff) = daemon
        .get("/api/v1/diff?pair=staging-vs-production&source=appdb")
        .await;
    assert_eq!(status, 200);
    let view = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "schema/views/main.order_totals/definition")
        .unwrap();
    assert!(view["diff"]
        .as_str()
        .unwrap()
        .contains("+WHERE o.status <> 'cancelled'"));
    let (status, body) = daemon.get("/api/v1/diff?pair=staging-vs-production").await;
    assert_eq!(status, 400, "{body}");
    let (status, envs) = daemon.get("/api/v1/environments").await;
    assert_eq!((status, envs.as_array().unwrap().len()), (200, 2));
    daemon.stop().await;
}

#[tokio::test]
async fn metrics_pass_promtool_check() {
    let Ok(promtool) = which("promtool") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true but promtool is missing (apt package prometheus)"
        );
        eprintln!("skipping: promtool not installed");
        return;
    };
    let daemon = spawn_daemon().await;
    let text = daemon.metrics().await;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
    daemon.stop().await;
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

#[tokio::test]
async fn findings_survive_a_restart_without_duplicates() {
    let daemon = spawn_daemon().await;
    let before = daemon.open_findings().await;
    let demo = daemon.stop().await;
    let daemon = start(demo).await;
    daemon.run_all().await;
    let after = daemon.open_findings().await;
    assert_eq!(after.len(), before.len());
    for f in &before {
        let same = after
            .iter()
            .find(|a| a["fingerprint"] == f["fingerprint"])
            .unwrap();
        assert_eq!(
            same["first_seen"], f["first_seen"],
            "first_seen must survive a restart"
        );
        assert_eq!(same["id"], f["id"]);
    }
    daemon.stop().await;
}

#[tokio::test]
async fn sigkill_and_restart_keep_first_seen_and_never_duplicate() {
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1s\"",
    );
    let config = demo.config();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut first_seen: Option<Value> = None;
    for round in 0..3 {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
            .args([
                "run",
                "--config",
                &config,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/api/v1/findings?pair={PAIR}&state=open");
        let mut open = Value::Null;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(r) = client.get(&url).send().await {
                open = r.json().await.unwrap_or(Value::Null);
                if open.as_array().is_some_and(|a| a.len() == 7) {
                    break;
                }
            }
        }
        assert_eq!(
            open.as_array().map(Vec::len),
            Some(7),
            "round {round}: {open}"
        );
        // Let it write more (collections every second), then kill it mid-flight.
        tokio::time::sleep(Duration::from_millis(1300 + 200 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let mut times: Vec<String> = open
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {}", f["fingerprint"], f["first_seen"]))
            .collect();
        times.sort();
        let times = json!(times);
        match &first_seen {
            None => first_seen = Some(times),
            Some(expected) => assert_eq!(
                &times, expected,
                "round {round}: first_seen changed or findings duplicated"
            ),
        }
    }
}

#[test]
fn a_corrupt_store_is_a_clear_error_and_is_left_alone() {
    let demo = Demo::build();
    let store = demo.path().join(".driftwarden/store.db");
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&store, &garbage).unwrap();
    let run = driftwarden_in(
        demo.dir.path(),
        &["run", "--config", &demo.config(), "--listen", "127.0.0.1:0"],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("store.db") && run.stderr.contains("damaged"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        garbage,
        "the store file must not be replaced"
    );
}

#[tokio::test]
async fn sighup_reloads_or_keeps_the_old_config_and_sigterm_exits_cleanly() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let demo = Demo::build();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args([
            "run",
            "--config",
            &demo.config(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                ready = true;
                break;
            }
        }
    }
    assert!(ready, "the daemon did not become ready");
    let reload_ok = || async {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric(&text, "driftwarden_config_last_reload_successful")
    };
    assert_eq!(reload_ok().await, Some(1.0));
    // A broken rules file: SIGHUP keeps the old rules and says so in the metric.
    demo.edit(
        "rules/demo.toml",
        "expect = \"differ\"",
        "expect = \"difer\"",
    );
    kill(pid, Signal::SIGHUP).unwrap();
    let mut seen = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = reload_ok().await;
        if seen == Some(0.0) {
            break;
        }
    }
    assert_eq!(
        seen,
        Some(0.0),
        "a failed SIGHUP reload must show in the metric"
    );
    // Still serving on the old rules.
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(r.status().is_success());
    // Fixed: the next SIGHUP succeeds.
    demo.edit(
        "rules/demo.toml",
        "expect = \"difer\"",
        "expect = \"differ\"",
    );
    kill(pid, Signal::SIGHUP).unwrap();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = reload_ok().await;
        if seen == Some(1.0) {
            break;
        }
    }
    assert_eq!(seen, Some(1.0));
    kill(pid, Signal::SIGTERM).unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "SIGTERM did not stop the daemon"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rules/demo.toml"), "{stderr}");
}

/// Runs SQL on a server URL (fixtures for the outage test).
async fn pg_execute(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{sql}"));
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_postgres_server_stopped_mid_run_is_unknown_not_drift_and_recovers() {
    use crate::helpers::db::TestDb;
    use crate::helpers::pg_cluster::TempCluster;
    let Some(production) = TestDb::postgres().await else {
        return;
    };
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    let schema = "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL);";
    production
        .execute(&format!(
            "{schema} CREATE INDEX orders_customer_idx ON orders (customer_id);"
        ))
        .await;
    pg_execute(&cluster.url("postgres"), "CREATE DATABASE app").await;
    pg_execute(&cluster.url("app"), schema).await;
    let sources = format!(
        "\n[environments.production.sources.pgdb]\nkind = \"postgres\"\nurl = \"{}\"\n\
         [environments.staging.sources.pgdb]\nkind = \"postgres\"\nurl = \"{}\"\n",
        production.url,
        cluster.url("app")
    );
    let daemon = spawn_daemon_with(|demo| {
        demo.append("driftwarden.toml", &sources);
    })
    .await;
    let pg_findings = |all: &[Value]| -> Vec<String> {
        paths(all)
            .into_iter()
            // The private server's settings differ from the main one's (fsync, logging…):
            // real drift, but not what this test is about.
            .filter(|p| p.starts_with("pgdb schema/"))
            .collect()
    };
    let before = daemon.open_findings().await;
    assert_eq!(
        pg_findings(&before),
        ["pgdb schema/tables/public.orders/indexes/orders_customer_idx"],
        "{:#?}",
        paths(&before)
    );

    // The staging server goes away in the middle of the daemon's life.
    cluster.stop();
    let (_, body) = daemon
        .post(
            "/api/v1/run",
            json!({"environment": "staging", "source": "pgdb"}),
        )
        .await;
    assert_eq!(body["runs"][0]["ok"], false, "{body}");
    assert_eq!(body["runs"][0]["error"]["reason"], "connect", "{body}");
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_source_up{environment_name="staging",source="pgdb"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_pair_state{baseline="production",candidate="staging",pair="staging-vs-production",source="pgdb",state="unknown"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        paths(&daemon.open_findings().await),
        paths(&before),
        "an outage opens and resolves nothing"
    );
    let (_, resolved) = daemon
        .get("/api/v1/findings?pair=staging-vs-production&state=resolved")
        .await;
    assert_eq!(resolved.as_array().unwrap().len(), 0, "{resolved}");

    // It comes back: evaluation resumes where it was.
    cluster.start_again();
    let (_, body) = daemon
        .post(
            "/api/v1/run",
            json!({"environment": "staging", "source": "pgdb"}),
        )
        .await;
    assert_eq!(body["runs"][0]["ok"], true, "{body}");
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"driftwarden_pair_state{baseline="production",candidate="staging",pair="staging-vs-production",source="pgdb",state="drifted"}"#
        ),
        Some(1.0)
    );
    assert_eq!(paths(&daemon.open_findings().await), paths(&before));
    daemon.stop().await;
}
