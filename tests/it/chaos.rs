//! Chaos: real servers killed, locked and restarted under a running daemon.
//!
//! - a target PostgreSQL killed in the middle of a snapshot (a table checksum), then restarted;
//! - a target table locked by another session, so the collector's statements hit
//!   `lock_timeout`;
//! - the PostgreSQL store killed under the daemon, then restarted;
//! - the daemon SIGKILLed while writing many sources to its SQLite store, then restarted;
//! - a target MariaDB SIGKILLed at several points of a collection, then restarted.
//!
//! After each: no finding opened or resolved by what could not be seen (comparisons are
//! `unknown`), every webhook event delivered exactly once (a repeat only under the same
//! delivery id, as documented), and recovery by the same daemon process.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, Row};

use crate::helpers::daemon::{metric, start, TestDaemon};
use crate::helpers::free_port;
use crate::helpers::mariadb_server::TempMariadb;
use crate::helpers::pg_cluster::TempCluster;
use crate::helpers::Demo;

const PAIR: &str = "staging-vs-production";

/// How long recovery may take (generous: CI machines are slow; the polls return early).
const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `$body` (an expression giving an `Option`) until it is `Some`, or fails the test
/// with `$what` and the last `$debug` after [`DEADLINE`].
macro_rules! eventually {
    ($what:expr, $body:expr) => {{
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(value) = $body {
                break value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

/// Runs fixture SQL on a server.
async fn pg(url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{sql}"));
    conn.close().await.unwrap();
}

/// The application schema; staging lacks the index (one known drift). `ledger` has `rows`
/// rows and is checksummed.
fn schema(with_index: bool, rows: u32) -> String {
    let index = if with_index {
        "CREATE INDEX orders_customer_idx ON orders (customer_id);"
    } else {
        ""
    };
    format!(
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, note text);
         INSERT INTO orders SELECT g, g % 7, 'n' || g FROM generate_series(1, 20) g;
         {index}
         CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, amount bigint NOT NULL);
         INSERT INTO ledger SELECT g, g % 97, g * 3 FROM generate_series(1, {rows}) g;
         ANALYZE;"
    )
}

/// A PostgreSQL source with exact row counts (estimates move with autovacuum) and a checksum of
/// `ledger` (which is not counted, so it is read by the checksum only).
fn pg_source(env: &str, url: &str, statement_timeout: &str, checksum_timeout: &str) -> String {
    format!(
        "[environments.{env}.sources.appdb]\nkind = \"postgres\"\nurl = \"{url}\"\n\
         row_counts = \"exact\"\nrow_counts_exclude = [\"public.ledger\"]\n\
         statement_timeout = \"{statement_timeout}\"\n\n\
         [environments.{env}.sources.appdb.checksums]\ntables = [\"public.ledger\"]\n\
         timeout = \"{checksum_timeout}\"\n\n"
    )
}

/// A config folder for the in-process daemon: one pair, the given sources, a webhook sink.
fn config(interval: &str, hook: &str, sources: &str) -> Demo {
    let demo = Demo::empty();
    demo.write(
        "driftwarden.toml",
        &format!(
            "rules = []\n\n[collection]\ninterval = \"{interval}\"\njitter = \"0s\"\n\
             timeout = \"30s\"\n\n[[pairs]]\nname = \"{PAIR}\"\nbaseline = \"production\"\n\
             candidate = \"staging\"\n\n{}\n{sources}",
            webhook_sink(hook)
        ),
    );
    demo
}

fn webhook_sink(url: &str) -> String {
    format!(
        "[[alerts]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\nmin_severity = \"info\"\n"
    )
}

/// A webhook receiver on a loopback port: answers 200 and keeps every delivery.
#[derive(Clone, Default)]
struct Hook {
    log: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Hook {
    async fn start(&self) -> String {
        use axum::http::HeaderMap;
        let log = self.log.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let delivery = headers
                        .get("x-driftwarden-delivery")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    log.lock().unwrap().push((delivery, body));
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    /// Per (event, finding id): the delivery ids it arrived under. Asserts that each arrived
    /// under one delivery id only (a receiver dropping repeated ids sees it exactly once).
    fn events(&self) -> BTreeMap<(String, i64), String> {
        let mut seen: BTreeMap<(String, i64), BTreeSet<String>> = BTreeMap::new();
        for (delivery, body) in self.log.lock().unwrap().iter() {
            assert_eq!(body["delivery"], delivery.as_str(), "{body}");
            for finding in body["findings"].as_array().unwrap() {
                let key = (
                    body["event"].as_str().unwrap().to_string(),
                    finding["id"].as_i64().unwrap(),
                );
                seen.entry(key).or_default().insert(delivery.clone());
            }
        }
        seen.into_iter()
            .map(|(key, ids)| {
                assert_eq!(
                    ids.len(),
                    1,
                    "{key:?} was delivered as {ids:?}: a duplicate"
                );
                (key, ids.into_iter().next().unwrap())
            })
            .collect()
    }

    /// The (event, finding id) pairs delivered, once each.
    fn keys(&self) -> BTreeSet<(String, i64)> {
        self.events().into_keys().collect()
    }
}

/// Open (or resolved) findings of the pair: id → (path, first_seen).
async fn findings(daemon: &TestDaemon, state: &str) -> BTreeMap<i64, (String, String)> {
    let (status, body) = daemon
        .get(&format!("/api/v1/findings?pair={PAIR}&state={state}"))
        .await;
    assert_eq!(status, 200, "{body}");
    by_id(&body)
}

fn by_id(body: &Value) -> BTreeMap<i64, (String, String)> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_i64().unwrap(),
                (
                    format!(
                        "{} {}",
                        f["source"].as_str().unwrap(),
                        f["path"].as_str().unwrap()
                    ),
                    f["first_seen"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// Changed-since-last findings (any state).
async fn temporal(daemon: &TestDaemon) -> Vec<Value> {
    let (status, body) = daemon.get("/api/v1/findings?kind=changed-since-last").await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn up(env: &str, source: &str) -> String {
    format!(r#"driftwarden_source_up{{environment_name="{env}",source="{source}"}}"#)
}

fn pair_state(source: &str, state: &str) -> String {
    format!(
        r#"driftwarden_pair_state{{baseline="production",candidate="staging",pair="{PAIR}",source="{source}",state="{state}"}}"#
    )
}

fn failures(env: &str, source: &str, reason: &str) -> String {
    format!(
        r#"driftwarden_collection_failures_total{{environment_name="{env}",reason="{reason}",source="{source}"}}"#
    )
}

/// The `last_error` of a source in `/api/v1/sources`.
async fn last_error(daemon: &TestDaemon, env: &str, source: &str) -> Value {
    let (_, sources) = daemon.get("/api/v1/sources").await;
    sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["environment"] == env && s["source"] == source)
        .map(|s| s["last_error"].clone())
        .unwrap()
}

/// Waits until the pair is `state` for `source` with the staging source up.
async fn wait_for_pair(daemon: &TestDaemon, source: &str, state: &str) {
    eventually!(format!("{source} up and {state}"), {
        let m = daemon.metrics().await;
        (metric(&m, &up("staging", source)) == Some(1.0)
            && metric(&m, &pair_state(source, state)) == Some(1.0))
        .then_some(())
    });
}

/// Asserts that nothing was opened or resolved since `before`, and nothing sent.
async fn assert_unchanged(
    daemon: &TestDaemon,
    hook: &Hook,
    before: &BTreeMap<i64, (String, String)>,
    sent: &BTreeSet<(String, i64)>,
    when: &str,
) {
    assert_eq!(
        &findings(daemon, "open").await,
        before,
        "{when}: open findings changed"
    );
    assert!(
        findings(daemon, "resolved").await.is_empty(),
        "{when}: a finding was resolved"
    );
    assert!(
        temporal(daemon).await.is_empty(),
        "{when}: changed-since-last findings: {:#?}",
        temporal(daemon).await
    );
    assert_eq!(&hook.keys(), sent, "{when}: alerts sent");
}

/// The index created on staging resolves the one pair finding (delivered once) and is an
/// unexpected change of staging (one changed-since-last finding, delivered once).
async fn fix_and_check_alerts(
    daemon: &TestDaemon,
    hook: &Hook,
    staging_url: &str,
    before: &BTreeMap<i64, (String, String)>,
    sent: &BTreeSet<(String, i64)>,
) {
    pg(
        staging_url,
        "CREATE INDEX orders_customer_idx ON orders (customer_id)",
    )
    .await;
    wait_for_pair(daemon, "appdb", "in_sync").await;
    let resolved = findings(daemon, "resolved").await;
    assert_eq!(&resolved, before, "the one finding is resolved, no other");
    let changed = temporal(daemon).await;
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(
        changed[0]["path"], "schema/tables/public.orders/indexes/orders_customer_idx",
        "{changed:#?}"
    );
    let mut expected = sent.clone();
    for id in before.keys() {
        expected.insert(("resolved".into(), *id));
    }
    expected.insert(("opened".into(), changed[0]["id"].as_i64().unwrap()));
    eventually!("the resolution and the change delivered", {
        (hook.keys() == expected).then_some(())
    });
}

#[tokio::test]
async fn a_target_killed_mid_snapshot_is_unknown_not_drift_and_the_same_daemon_recovers() {
    let Some(production) = TempCluster::start() else {
        return;
    };
    let Some(staging) = TempCluster::start() else {
        return;
    };
    for (cluster, index) in [(&production, true), (&staging, false)] {
        pg(&cluster.url("postgres"), "CREATE DATABASE app").await;
        pg(&cluster.url("app"), &schema(index, 300_000)).await;
    }
    let hook = Hook::default();
    let hook_url = hook.start().await;
    let sources = pg_source("production", &production.url("app"), "30s", "5m")
        + &pg_source("staging", &staging.url("app"), "30s", "5m");
    let daemon = start(config("2s", &hook_url, &sources)).await;
    wait_for_pair(&daemon, "appdb", "drifted").await;
    let before = findings(&daemon, "open").await;
    assert_eq!(
        before.values().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["appdb schema/tables/public.orders/indexes/orders_customer_idx"]
    );
    let sent: BTreeSet<(String, i64)> = before.keys().map(|id| ("opened".into(), *id)).collect();
    eventually!("the finding delivered", (hook.keys() == sent).then_some(()));

    // Kill the staging server while the daemon's checksum of `ledger` runs on it.
    let mut watcher = sqlx::PgConnection::connect(&staging.url("postgres"))
        .await
        .unwrap();
    eventually!("a checksum statement running on staging", {
        let running: i64 = sqlx::query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'driftwarden' \
             AND state = 'active' AND query ILIKE '%ledger%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap()
        .get(0);
        (running > 0).then_some(())
    });
    drop(watcher);
    staging.stop();
    eventually!("the staging source down", {
        let m = daemon.metrics().await;
        (metric(&m, &up("staging", "appdb")) == Some(0.0)).then_some(m)
    });
    // Two more failed runs, so the interrupted one and those after it are all counted.
    let m = eventually!("failed runs counted", {
        let m = daemon.metrics().await;
        (metric(&m, &failures("staging", "appdb", "connect")).unwrap_or(0.0) >= 2.0).then_some(m)
    });
    assert_eq!(metric(&m, &pair_state("appdb", "unknown")), Some(1.0));
    assert_eq!(metric(&m, &up("production", "appdb")), Some(1.0));
    for reason in ["query", "timeout", "parse", "auth"] {
        assert_eq!(
            metric(&m, &failures("staging", "appdb", reason)),
            None,
            "a server that went away is a connect failure, not {reason}"
        );
    }
    let error = last_error(&daemon, "staging", "appdb").await;
    assert_eq!(error["reason"], "connect", "{error}");
    assert_unchanged(&daemon, &hook, &before, &sent, "while down").await;

    // The server comes back: the same daemon resumes where it was.
    staging.start_again();
    wait_for_pair(&daemon, "appdb", "drifted").await;
    assert_unchanged(&daemon, &hook, &before, &sent, "after the restart").await;

    fix_and_check_alerts(&daemon, &hook, &staging.url("app"), &before, &sent).await;
    daemon.stop().await;
}

#[tokio::test]
async fn a_table_locked_by_another_session_is_unknown_not_drift_and_recovers() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    for (db, index) in [("production", true), ("staging", false)] {
        pg(&cluster.url("postgres"), &format!("CREATE DATABASE {db}")).await;
        pg(&cluster.url(db), &schema(index, 1_000)).await;
    }
    let hook = Hook::default();
    let hook_url = hook.start().await;
    // A 1 s statement budget (so lock waits are cut after 0.5 s), 2 s for checksums (1 s).
    let sources = pg_source("production", &cluster.url("production"), "1s", "2s")
        + &pg_source("staging", &cluster.url("staging"), "1s", "2s");
    let daemon = start(config("1s", &hook_url, &sources)).await;
    wait_for_pair(&daemon, "appdb", "drifted").await;
    let before = findings(&daemon, "open").await;
    assert_eq!(before.len(), 1, "{before:#?}");
    let sent: BTreeSet<(String, i64)> = before.keys().map(|id| ("opened".into(), *id)).collect();
    eventually!("the finding delivered", (hook.keys() == sent).then_some(()));

    // `orders` is counted; `ledger` is checksummed: a lock on either is a failed collection,
    // never a row count or a digest that reads as drift.
    let mut failed = 0.0;
    for (table, doing) in [("orders", "counting the rows"), ("ledger", "checksumming")] {
        let mut locker = sqlx::PgConnection::connect(&cluster.url("staging"))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "BEGIN; LOCK TABLE public.{table} IN ACCESS EXCLUSIVE MODE"
        )))
        .execute(&mut locker)
        .await
        .unwrap();
        let m = eventually!(format!("{table}: failed runs while locked"), {
            let m = daemon.metrics().await;
            let now = metric(&m, &failures("staging", "appdb", "query")).unwrap_or(0.0);
            (now >= failed + 2.0 && metric(&m, &up("staging", "appdb")) == Some(0.0)).then_some(m)
        });
        failed = metric(&m, &failures("staging", "appdb", "query")).unwrap();
        assert_eq!(metric(&m, &pair_state("appdb", "unknown")), Some(1.0));
        let error = last_error(&daemon, "staging", "appdb").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(doing) && message.contains("lock_timeout"),
            "{table}: {error}"
        );
        assert_unchanged(&daemon, &hook, &before, &sent, &format!("{table} locked")).await;

        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap();
        locker.close().await.unwrap();
        wait_for_pair(&daemon, "appdb", "drifted").await;
        assert_unchanged(&daemon, &hook, &before, &sent, &format!("{table} released")).await;
    }
    // No session of the daemon is left waiting on the server once locks are gone.
    let mut conn = sqlx::PgConnection::connect(&cluster.url("postgres"))
        .await
        .unwrap();
    let waiting: i64 = sqlx::query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'driftwarden' \
         AND wait_event_type = 'Lock'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
    .get(0);
    assert_eq!(waiting, 0);
    conn.close().await.unwrap();

    fix_and_check_alerts(&daemon, &hook, &cluster.url("staging"), &before, &sent).await;
    daemon.stop().await;
}

/// Runs one source now through the API; returns whether it collected.
async fn run_source(daemon: &TestDaemon, env: &str, source: &str) -> bool {
    let (status, body) = daemon
        .post(
            "/api/v1/run",
            serde_json::json!({"environment": env, "source": source}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["runs"][0]["ok"].as_bool().unwrap()
}

#[tokio::test]
async fn a_baseline_gone_before_differing_rows_are_located_is_unknown_not_drift() {
    let Some(production) = TempCluster::start() else {
        return;
    };
    let Some(staging) = TempCluster::start() else {
        return;
    };
    for cluster in [&production, &staging] {
        pg(&cluster.url("postgres"), "CREATE DATABASE app").await;
        pg(&cluster.url("app"), &schema(true, 1_000)).await;
    }
    // One row differs: the comparison locates it on both live databases.
    pg(
        &staging.url("app"),
        "UPDATE ledger SET amount = -1 WHERE id = 7",
    )
    .await;
    let hook = Hook::default();
    let hook_url = hook.start().await;
    let sources = pg_source("production", &production.url("app"), "30s", "5m")
        + &pg_source("staging", &staging.url("app"), "30s", "5m");
    // Collections are driven by the test (the first runs at start).
    let daemon = start(config("1h", &hook_url, &sources)).await;
    wait_for_pair(&daemon, "appdb", "drifted").await;
    let before = findings(&daemon, "open").await;
    assert_eq!(
        before.values().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["appdb data/public.ledger/keys/7"]
    );
    let sent: BTreeSet<(String, i64)> = before.keys().map(|id| ("opened".into(), *id)).collect();
    eventually!("the finding delivered", (hook.keys() == sent).then_some(()));

    // Production goes away after its last collection: staging still collects, but the rows
    // cannot be located, so the comparison is unknown (not "rows differ somewhere" in place of
    // the finding about key 7).
    production.stop();
    assert!(run_source(&daemon, "staging", "appdb").await);
    let m = daemon.metrics().await;
    assert_eq!(metric(&m, &pair_state("appdb", "unknown")), Some(1.0));
    assert_unchanged(&daemon, &hook, &before, &sent, "production unreachable").await;

    production.start_again();
    assert!(run_source(&daemon, "staging", "appdb").await);
    wait_for_pair(&daemon, "appdb", "drifted").await;
    assert_unchanged(&daemon, &hook, &before, &sent, "production back").await;
    daemon.stop().await;
}

/// Open findings of the demo pair as id → (path, first_seen), through the API.
async fn demo_open(daemon: &TestDaemon) -> Option<BTreeMap<i64, (String, String)>> {
    let (status, body) = daemon
        .get(&format!("/api/v1/findings?pair={PAIR}&state=open"))
        .await;
    (status == 200).then(|| by_id(&body))
}

/// The outbox of a PostgreSQL store: (event, finding id).
async fn pg_outbox(url: &str) -> BTreeSet<(String, i64)> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT event, finding_id FROM finding_events")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

const INDEX: &str = "appdb schema/tables/main.orders/indexes/orders_customer_id_idx";

#[tokio::test]
async fn a_postgres_store_killed_and_restarted_is_reconnected_by_the_same_daemon() {
    let Some(store) = TempCluster::start() else {
        return;
    };
    pg(&store.url("postgres"), "CREATE DATABASE store").await;
    let hook = Hook::default();
    let hook_url = hook.start().await;
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1s\"",
    );
    demo.edit("driftwarden.toml", "jitter = \"2s\"", "jitter = \"0s\"");
    demo.append(
        "driftwarden.toml",
        &format!(
            "\n[store]\nurl = \"{}\"\n\n{}",
            store.url("store"),
            webhook_sink(&hook_url)
        ),
    );
    let daemon = start(demo).await;
    let before = eventually!("seven findings", {
        demo_open(&daemon).await.filter(|f| f.len() == 7)
    });
    let sent: BTreeSet<(String, i64)> = before.keys().map(|id| ("opened".into(), *id)).collect();
    eventually!(
        "the findings delivered",
        (hook.keys() == sent).then_some(())
    );
    let index_id = *before.iter().find(|(_, (p, _))| p == INDEX).unwrap().0;

    // The store goes away. Every store operation now waits for a connection (up to the pool's
    // 10 s) and fails: the daemon says so, and changes nothing it cannot record.
    store.stop();
    eventually!("readiness reports the store unavailable", {
        let (ready, body) = daemon.get("/readyz").await;
        (ready == 503
            && body["store"]
                .as_str()
                .is_some_and(|s| s.contains("unavailable")))
        .then_some(())
    });
    // Staging gets the missing index while nothing can be stored.
    let run = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args(["demo", "--mutate", "--dir"])
        .arg(daemon.demo.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let (status, body) = daemon.get_text("/api/v1/findings?state=open").await;
    assert_eq!(status, 503, "{body}");
    // The sources themselves are fine: their collections succeed, only storing fails. (Their
    // pairs turn `unknown` when a run fails to store; with every store call waiting for the
    // pool's 10 s, one at a time, that takes longer than this test waits.)
    let m = daemon.metrics().await;
    assert_eq!(metric(&m, &up("staging", "appdb")), Some(1.0));
    assert_ne!(
        metric(&m, &pair_state("appdb", "in_sync")),
        Some(1.0),
        "the fix is not seen while the store is down"
    );
    assert_eq!(hook.keys(), sent, "nothing sent while the store is down");

    store.start_again();
    eventually!(
        "ready again",
        (daemon.get_text("/readyz").await.0 == 200).then_some(())
    );
    // The index added during the outage resolves its finding once the store answers.
    eventually!("the index finding resolved", {
        let (status, resolved) = daemon
            .get_text(&format!("/api/v1/findings?pair={PAIR}&state=resolved"))
            .await;
        (status == 200)
            .then(|| by_id(&serde_json::from_str(&resolved).unwrap()))
            .filter(|r| r.keys().eq([&index_id]))
    });
    wait_for_pair(&daemon, "appdb", "drifted").await;
    let after = eventually!("findings readable", demo_open(&daemon).await);
    let mut expected = before.clone();
    expected.remove(&index_id);
    assert_eq!(after, expected, "the others kept their ids and first_seen");
    let changed = temporal(&daemon).await;
    assert_eq!(changed.len(), 1, "{changed:#?}");
    // Every event of the outbox delivered exactly once: the 7 openings, the resolution and
    // staging's change.
    let outbox = pg_outbox(&store.url("store")).await;
    assert_eq!(outbox.len(), 9, "{outbox:?}");
    eventually!(
        "the outbox delivered",
        (hook.keys() == outbox).then_some(())
    );
    daemon.stop().await;
    assert_eq!(hook.keys(), outbox);
}

/// Writes a file atomically (a collector never reads half of it).
fn write_atomic(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn service(flag: bool) -> String {
    format!("{{\"replicas\": 2, \"image\": \"app:1.0\", \"flag\": {flag}}}\n")
}

const SERVICES: usize = 20;
const TOGGLED: usize = 10;

/// Spawns `driftwarden run` on `config`, its log in `log`.
fn spawn_daemon_process(config: &str, port: u16, log: &std::path::Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args([
            "run",
            "--config",
            config,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "info")
        .env_remove("DRIFTWARDEN_CONFIG")
        .env_remove("DRIFTWARDEN_HMAC_KEY")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_daemon_sigkilled_mid_write_restarts_on_an_intact_consistent_store() {
    let hook = Hook::default();
    let hook_url = hook.start().await;
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1s\"",
    );
    demo.edit("driftwarden.toml", "jitter = \"2s\"", "jitter = \"0s\"");
    let mut extra = format!("\n{}\n", webhook_sink(&hook_url));
    for env in ["production", "staging"] {
        for i in 0..SERVICES {
            demo.write(&format!("config/{env}-svc{i}.json"), &service(false));
            extra.push_str(&format!(
                "[environments.{env}.sources.svc{i}]\nkind = \"file\"\npath = \"config/{env}-svc{i}.json\"\n\
                 interval = \"250ms\"\n\n"
            ));
        }
    }
    demo.append("driftwarden.toml", &extra);
    let config = demo.config();
    let log = demo.path().join("daemon.log");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Staging's services keep flipping: findings open and resolve, snapshots are written.
    let stop_toggling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let toggler = {
        let dir = demo.path().join("config");
        let stop = stop_toggling.clone();
        std::thread::spawn(move || {
            let mut flags = [false; TOGGLED];
            let mut round = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let i = round % TOGGLED;
                flags[i] = !flags[i];
                write_atomic(
                    &dir.join(format!("staging-svc{i}.json")),
                    &service(flags[i]),
                );
                round += 1;
                std::thread::sleep(Duration::from_millis(30));
            }
        })
    };

    let mut demo_ids: Option<BTreeSet<String>> = None;
    for round in 0..4u64 {
        let port = free_port();
        let mut child = spawn_daemon_process(&config, port, &log);
        let base = format!("http://127.0.0.1:{port}");
        let open = eventually!(format!("round {round}: the daemon serving its findings"), {
            match client.get(format!("{base}/readyz")).send().await {
                Ok(r) if r.status() == 200 => client
                    .get(format!("{base}/api/v1/findings?pair={PAIR}&state=open"))
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200),
                _ => None,
            }
        });
        let open: Value = open.json().await.unwrap();
        // The demo's own findings keep their identity across every crash.
        let ids: BTreeSet<String> = open
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !f["source"].as_str().unwrap().starts_with("svc"))
            .map(|f| format!("{} {} {}", f["id"], f["path"], f["first_seen"]))
            .collect();
        assert_eq!(ids.len(), 7, "round {round}: {open:#}");
        match &demo_ids {
            None => demo_ids = Some(ids),
            Some(expected) => assert_eq!(&ids, expected, "round {round}"),
        }
        // Let it collect and write (every source each second, findings flipping), then kill it
        // in the middle of that.
        tokio::time::sleep(Duration::from_millis(900 + 300 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // Quiet down: staging's first service differs from production, the others agree.
    stop_toggling.store(true, std::sync::atomic::Ordering::SeqCst);
    toggler.join().unwrap();
    let dir = demo.path().join("config");
    for i in 0..TOGGLED {
        write_atomic(&dir.join(format!("staging-svc{i}.json")), &service(i == 0));
    }
    let port = free_port();
    let mut child = spawn_daemon_process(&config, port, &log);
    let base = format!("http://127.0.0.1:{port}");
    eventually!("the final state, fully compared", {
        let open: Option<Value> = match client
            .get(format!("{base}/api/v1/findings?pair={PAIR}&state=open"))
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => r.json().await.ok(),
            _ => None,
        };
        open.filter(|open| {
            let services: Vec<String> = open
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["source"].as_str().unwrap().starts_with("svc"))
                .map(|f| {
                    format!(
                        "{} {}",
                        f["source"].as_str().unwrap(),
                        f["path"].as_str().unwrap()
                    )
                })
                .collect();
            services == ["svc0 flag"]
        })
    });
    let store_path = demo.path().join(".driftwarden/store.db");
    let store_url = format!("sqlite://{}", store_path.display());
    // Every event in the outbox reaches the receiver, each once.
    eventually!("the outbox delivered", {
        let outbox = sqlite_outbox(&store_path).await;
        (hook.keys() == outbox).then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The file is a healthy database, and a store.
    let mut conn = sqlite(&store_path).await;
    let check: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(check, "ok");
    // At most one open finding per identity; every finding opened once, resolved at most once
    // and only if it is resolved; every event belongs to a finding.
    for (what, sql) in [
        (
            "duplicate open findings",
            "SELECT count(*) FROM (SELECT 1 FROM findings WHERE resolved_at IS NULL \
             GROUP BY kind, scope, source, fingerprint HAVING count(*) > 1) AS d",
        ),
        (
            "findings whose events disagree with their state",
            "SELECT count(*) FROM findings f WHERE \
             (SELECT count(*) FROM finding_events e WHERE e.finding_id = f.id AND e.event = 'opened') <> 1 \
             OR (SELECT count(*) FROM finding_events e WHERE e.finding_id = f.id AND e.event = 'resolved') \
                <> (CASE WHEN f.resolved_at IS NULL THEN 0 ELSE 1 END)",
        ),
        (
            "events without a finding",
            "SELECT count(*) FROM finding_events e LEFT JOIN findings f ON f.id = e.finding_id \
             WHERE f.id IS NULL",
        ),
        (
            "snapshots without a tree",
            "SELECT count(*) FROM snapshots s LEFT JOIN trees t ON t.hash = s.hash \
             WHERE t.hash IS NULL",
        ),
    ] {
        let n: i64 = sqlx::query(sql).fetch_one(&mut conn).await.unwrap().get(0);
        assert_eq!(n, 0, "{what}");
    }
    let cursor: i64 = sqlx::query("SELECT last_event_id FROM sink_cursors WHERE sink = 'hook'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    let last: i64 = sqlx::query("SELECT max(id) FROM finding_events")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(cursor, last, "the cursor is at the end of the outbox");
    conn.close().await.unwrap();

    // Every stored snapshot reads back whole: its tree hashes to its recorded hash.
    let store = driftwarden::store::Store::open(&store_url).await.unwrap();
    let metas = store.snapshots(None, None, i64::MAX).await.unwrap();
    assert!(metas.len() > 2 * SERVICES, "{}", metas.len());
    for meta in metas {
        let (meta, tree) = store.snapshot(meta.id).await.unwrap().unwrap();
        let again = driftwarden::snapshot::Snapshot::new(
            &meta.environment,
            &meta.source,
            meta.taken_at,
            meta.duration_seconds,
            tree,
        );
        assert_eq!(again.hash, meta.hash, "snapshot {} is damaged", meta.id);
    }
    store.close().await;
}

async fn sqlite(path: &std::path::Path) -> sqlx::SqliteConnection {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap()
}

/// The outbox of a SQLite store: (event, finding id).
async fn sqlite_outbox(path: &std::path::Path) -> BTreeSet<(String, i64)> {
    let mut conn = sqlite(path).await;
    let rows = sqlx::query("SELECT event, finding_id FROM finding_events")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

/// Runs fixture SQL on a MariaDB server.
async fn mariadb(url: &str, sql: &str) {
    let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_mariadb_target_killed_mid_collection_is_a_connect_error_never_a_partial_snapshot() {
    use driftwarden::collectors::sql::mysql;
    use driftwarden::config::{RowCountMode, Secret, SqlOptions};

    let Some(mut server) = TempMariadb::start() else {
        return;
    };
    mariadb(&server.url("mysql"), "CREATE DATABASE app").await;
    // Enough tables that a collection (catalog queries, then exact counts on several sessions)
    // lasts long enough to be cut at different points.
    let mut ddl = String::new();
    for i in 0..60 {
        ddl.push_str(&format!(
            "CREATE TABLE t{i} (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40), \
             KEY t{i}_name (name)); INSERT INTO t{i} (name) VALUES ('a'), ('b'), ('c');"
        ));
    }
    // One table big enough that counting it takes a while, counted on its own session.
    ddl.push_str(
        "CREATE TABLE big (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40)); \
         INSERT INTO big (id, name) SELECT seq, 'x' FROM seq_1_to_1000000; ANALYZE TABLE big;",
    );
    mariadb(&server.url("app"), &ddl).await;
    let url = Secret::new(server.url("app"));
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        statement_timeout: Duration::from_secs(10),
        ..SqlOptions::default()
    };
    let started = Instant::now();
    let baseline = mysql::collect(&url, &options).await.unwrap();
    let took = started.elapsed();

    let mut interrupted = Vec::new();
    // Cut while the catalog is read (early), while the big table is being counted, and by an
    // administrator killing just the counting session or its statement (the server stays up).
    for moment in ["early", "counting", "count killed", "count interrupted"] {
        let collection = tokio::spawn({
            let (url, options) = (url.clone(), options.clone());
            async move { mysql::collect(&url, &options).await }
        });
        if moment == "early" {
            tokio::time::sleep(took / 8).await;
        } else {
            let mut watcher = sqlx::MySqlConnection::connect(&server.url("app"))
                .await
                .unwrap();
            let id: i64 = eventually!("a count of `big` running", {
                sqlx::query_scalar(
                    "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST \
                     WHERE INFO LIKE '%COUNT(*)%`big`%' AND ID <> CONNECTION_ID()",
                )
                .fetch_optional(&mut watcher)
                .await
                .unwrap()
            });
            let (kill, reason, says) = match moment {
                "count killed" => ("CONNECTION", "connect", "connection was lost"),
                "count interrupted" => ("QUERY", "query", "interrupted"),
                _ => ("", "", ""),
            };
            if !kill.is_empty() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {kill} {id}")))
                    .execute(&mut watcher)
                    .await
                    .unwrap();
                // A killed count says nothing about the table: the collection fails, rather
                // than record `rows/big` as "error: …" and report it as drift.
                let err = match collection.await.unwrap() {
                    Ok(tree) => panic!(
                        "{moment}: the collection succeeded with rows/big = {:?}",
                        tree.get(&driftwarden::snapshot::Path::parse("rows/big").unwrap())
                    ),
                    Err(err) => err,
                };
                assert_eq!(err.reason(), reason, "{moment}: {err}");
                assert!(err.to_string().contains(says), "{moment}: {err}");
                assert!(err.to_string().contains("`big`"), "{moment}: {err}");
                interrupted.push(moment);
                continue;
            }
        }
        server.kill();
        match collection.await.unwrap() {
            // Finished before the kill: then it must be the whole, unchanged snapshot.
            Ok(tree) => {
                let changes = driftwarden::diff::diff(&baseline, &tree);
                assert!(changes.is_empty(), "killed {moment}: {changes:#?}");
            }
            // Cut mid-way: the server went away, which is `connect`, never a value such as a
            // row count reading "error", which would be reported as drift.
            Err(err) => {
                assert_eq!(err.reason(), "connect", "killed {moment}: {err}");
                interrupted.push(moment);
            }
        }
        let down = mysql::collect(&url, &options).await.unwrap_err();
        assert_eq!(down.reason(), "connect", "{down}");
        server.start_again();
        let again = mysql::collect(&url, &options).await.unwrap();
        let changes = driftwarden::diff::diff(&baseline, &again);
        assert!(changes.is_empty(), "after the restart: {changes:#?}");
    }
    eprintln!("a collection took {took:?}; cut {interrupted:?}");
    assert!(
        interrupted.contains(&"counting"),
        "the kill while counting did not cut the collection (one takes {took:?})"
    );
}
