//! Scale-out on a shared PostgreSQL store: three daemon replicas (real processes on loopback
//! ports) watch the demo. Each source group is collected by exactly one of them, the work is
//! spread evenly, webhook events are delivered once in all, and when the busiest replica is
//! SIGKILLed the others take its sources over within one collection interval.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::alerts::Receiver;
use crate::helpers::daemon::metric;
use crate::helpers::db::TestDb;
use crate::helpers::{sqlite_exec, Demo};

/// Collection interval of the demo in this test; takeover must happen within it.
const INTERVAL: Duration = Duration::from_secs(15);
const GROUPS: [&str; 3] = ["app-config", "app-env", "appdb"];
const ENVIRONMENTS: [&str; 2] = ["production", "staging"];

/// One `driftwarden run` process, killed on drop.
struct Replica {
    name: String,
    port: u16,
    child: Child,
}

impl Replica {
    fn start(demo: &Demo, name: &str) -> Replica {
        let port = crate::helpers::free_port();
        // Kept after the test (under target/) to read when it fails.
        let logs = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ha");
        std::fs::create_dir_all(&logs).unwrap();
        let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_driftwarden"))
            .args(["run", "--config", &demo.config(), "--replica", name])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Replica {
            name: name.into(),
            port,
            child,
        }
    }

    async fn get(&self, client: &reqwest::Client, path: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let response = client.get(url).send().await.ok()?;
        response.text().await.ok()
    }

    /// Collections of each (environment, source) this replica ran, from its /metrics.
    async fn collections(&self, client: &reqwest::Client) -> BTreeMap<(String, String), f64> {
        let text = self.get(client, "/metrics").await.unwrap_or_default();
        let mut out = BTreeMap::new();
        for env in ENVIRONMENTS {
            for group in GROUPS {
                let series = format!(
                    "driftwarden_collections_total{{environment_name=\"{env}\",source=\"{group}\"}}"
                );
                out.insert(
                    (env.to_string(), group.to_string()),
                    metric(&text, &series).unwrap_or(0.0),
                );
            }
        }
        out
    }

    fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Source-group leases in force, group → holder, as one replica's API reports them.
async fn group_holders(replica: &Replica, client: &reqwest::Client) -> BTreeMap<String, String> {
    let Some(body) = replica.get(client, "/api/v1/replicas").await else {
        return BTreeMap::new();
    };
    let Ok(value) = serde_json::from_str::<Value>(&body) else {
        return BTreeMap::new();
    };
    value["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let name = l["name"].as_str()?.strip_prefix("source/")?;
            Some((name.to_string(), l["holder"].as_str()?.to_string()))
        })
        .collect()
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn three_replicas_share_sources_once_and_take_over_from_a_killed_one() {
    let Some(store) = TestDb::postgres().await else {
        return;
    };
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let demo = Demo::build();
    // The demo's own interval is 15 s (INTERVAL).
    demo.edit("driftwarden.toml", "jitter = \"2s\"", "jitter = \"1s\"");
    demo.append(
        "driftwarden.toml",
        &format!(
            "\n[store]\nurl = \"{}\"\nlease = \"5s\"\n\n[[alerts]]\nkind = \"webhook\"\n\
             name = \"hook\"\nurl = \"{hook}\"\nmin_severity = \"info\"\n",
            store.url
        ),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut replicas: Vec<Replica> = ["r1", "r2", "r3"]
        .iter()
        .map(|name| Replica::start(&demo, name))
        .collect();

    // Every group gets a holder, and the work spreads out: one group per replica.
    wait_until(
        "each replica to hold one source group",
        Duration::from_secs(60),
        || {
            let (client, first) = (&client, &replicas[0]);
            async move {
                let holders = group_holders(first, client).await;
                let distinct: BTreeSet<&String> = holders.values().collect();
                holders.len() == GROUPS.len() && distinct.len() == 3
            }
        },
    )
    .await;
    // The demo's seven planted drifts reach the webhook, from whichever replica holds it.
    let opened = receiver.wait_for("opened", 7).await;
    assert_eq!(opened.len(), 7, "{opened:#?}");

    // Over two intervals, each (environment, source) is collected by exactly one replica,
    // and that is its group's lease holder.
    let holders = group_holders(&replicas[0], &client).await;
    let mut before = Vec::new();
    for r in &replicas {
        before.push(r.collections(&client).await);
    }
    tokio::time::sleep(INTERVAL * 2 + Duration::from_secs(1)).await;
    let mut after = Vec::new();
    for r in &replicas {
        after.push(r.collections(&client).await);
    }
    for env in ENVIRONMENTS {
        for group in GROUPS {
            let key = (env.to_string(), group.to_string());
            let collectors: Vec<&str> = replicas
                .iter()
                .enumerate()
                .filter(|(i, _)| after[*i][&key] > before[*i][&key])
                .map(|(_, r)| r.name.as_str())
                .collect();
            assert_eq!(
                collectors,
                [holders[group].as_str()],
                "{env}/{group} must be collected by its lease holder alone"
            );
        }
    }
    // Only the collecting replica reports a source's health; the others stay silent on it.
    for r in &replicas {
        let text = r.get(&client, "/metrics").await.unwrap();
        for group in GROUPS {
            let series = format!(
                "driftwarden_source_up{{environment_name=\"production\",source=\"{group}\"}}"
            );
            assert_eq!(
                metric(&text, &series).is_some(),
                holders[group] == r.name,
                "{} on {}",
                series,
                r.name
            );
        }
    }

    // Any replica answers for every source: one that does not collect appdb says who does,
    // shows its content and the pair's findings as the store holds them.
    let other = replicas
        .iter()
        .find(|r| r.name != holders["appdb"])
        .unwrap();
    let sources: Value =
        serde_json::from_str(&other.get(&client, "/api/v1/sources").await.unwrap()).unwrap();
    let appdb = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["environment"] == "staging" && s["source"] == "appdb")
        .unwrap();
    assert_eq!(appdb["status"], "elsewhere", "{appdb}");
    assert_eq!(appdb["collected_by"], holders["appdb"].as_str(), "{appdb}");
    assert!(appdb["snapshot_id"].as_i64().is_some(), "{appdb}");
    let pairs: Value =
        serde_json::from_str(&other.get(&client, "/api/v1/pairs").await.unwrap()).unwrap();
    let appdb_pair = pairs[0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "appdb")
        .unwrap();
    assert_eq!(appdb_pair["state"], "drifted", "{appdb_pair}");
    assert!(
        appdb_pair["open_findings"].as_u64().unwrap() > 0,
        "{appdb_pair}"
    );

    // SIGKILL the holder of appdb: no clean release, its leases must lapse and be taken.
    let victim_name = holders["appdb"].clone();
    let victim = replicas.iter().position(|r| r.name == victim_name).unwrap();
    let mut dead = replicas.remove(victim);
    let killed_at = Instant::now();
    dead.kill();
    let survivor_before: Vec<_> = {
        let mut v = Vec::new();
        for r in &replicas {
            v.push(r.collections(&client).await);
        }
        v
    };
    wait_until(
        "the survivors to collect appdb again",
        Duration::from_secs(60),
        || {
            let (client, replicas, before) = (&client, &replicas, &survivor_before);
            async move {
                let mut collected = 0;
                for (r, b) in replicas.iter().zip(before) {
                    let now = r.collections(client).await;
                    collected += ENVIRONMENTS
                        .iter()
                        .filter(|env| {
                            let key = (env.to_string(), "appdb".to_string());
                            now[&key] > b[&key]
                        })
                        .count();
                }
                collected == ENVIRONMENTS.len()
            }
        },
    )
    .await;
    let takeover = killed_at.elapsed();
    eprintln!("appdb collected again {takeover:?} after its replica was killed");
    assert!(
        takeover < INTERVAL,
        "appdb was collected again {takeover:?} after its replica died (interval {INTERVAL:?})"
    );
    let holders = group_holders(&replicas[0], &client).await;
    assert_eq!(holders.len(), GROUPS.len(), "{holders:?}");
    assert!(
        holders.values().all(|h| *h != victim_name),
        "the dead replica holds nothing: {holders:?}"
    );

    // New drift after the failover is reported once; nothing earlier is sent again.
    sqlite_exec(
        &demo.path().join("data/staging.db"),
        "CREATE TABLE failover_probe (id INTEGER PRIMARY KEY);",
    )
    .await;
    wait_until(
        "the new table to be reported",
        Duration::from_secs(60),
        || {
            let receiver = &receiver;
            async move {
                receiver
                    .delivered()
                    .iter()
                    .any(|r| String::from_utf8_lossy(&r.body).contains("failover_probe"))
            }
        },
    )
    .await;
    // Let every replica run another round or two: duplicates would show up by now.
    tokio::time::sleep(INTERVAL + Duration::from_secs(2)).await;
    let mut events: Vec<(String, String)> = Vec::new();
    for r in receiver.delivered() {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        for f in body["findings"].as_array().unwrap() {
            events.push((
                body["event"].as_str().unwrap().to_string(),
                f["fingerprint"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    let unique: BTreeSet<&(String, String)> = events.iter().collect();
    assert_eq!(
        unique.len(),
        events.len(),
        "an event was delivered twice: {events:#?}"
    );
    assert!(
        events.iter().filter(|(e, _)| e == "opened").count() >= 8,
        "the 7 planted drifts and the new table: {events:#?}"
    );
}

#[tokio::test]
async fn a_replica_with_another_hmac_key_is_refused() {
    use driftwarden::app::{Daemon, DaemonOptions};
    let demo = Demo::build();
    let options = || DaemonOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        replica: Some("first".into()),
        ..Default::default()
    };
    let config = demo.path().join("driftwarden.toml");
    let first = Daemon::build(&config, options())
        .await
        .expect("first replica");
    // A second replica on the same store with its own key would hash secrets differently.
    demo.append(
        "driftwarden.toml",
        "\n[secrets]\nkey_file = \"other-hmac.key\"\n",
    );
    let error = match Daemon::build(&config, options()).await {
        Ok(_) => panic!("a replica with a different key must not start"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("different HMAC key"), "{error}");
    assert!(error.contains("DRIFTWARDEN_HMAC_KEY"), "{error}");
    drop(first);
}
