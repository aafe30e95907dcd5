//! Load: one daemon over 200 small sources in 10 environments (150 SQLite files and 50
//! PostgreSQL databases generated here, 9 pairs), measuring the time of a full round, CPU,
//! resident memory, and `/metrics` under 50 concurrent scrapers (wrk) while a round runs.
//!
//! Targets (issue 8): a full round under 30 s on 2 cores, resident memory under 100 MiB, no
//! scrape error. The targets are enforced in an optimised build (`cargo bench --bench load`).
//! `.ci/run` runs it on the debug build the tests already made (`cargo test --bench load`),
//! where it checks that everything works at this scale (all sources up, no scrape error) and
//! reports the figures without holding an unoptimised build to the targets.
//! Figures go to stdout and `target/bench/load.txt`.

// Writing to a String cannot fail, and the bench cleans up on a best-effort basis.
#![allow(clippy::let_underscore_must_use)]

#[path = "common/pg.rs"]
mod pg;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_driftwarden");
const ENVIRONMENTS: usize = 10;
const SQLITE_PER_ENV: usize = 15;
const POSTGRES_PER_ENV: usize = 5;
const SCRAPERS: usize = 50;
const ROUND_TARGET: Duration = Duration::from_secs(30);
const RSS_TARGET_MIB: f64 = 100.0;

/// Kills the daemon when the bench ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Drops the generated PostgreSQL databases when the bench ends.
struct Databases {
    admin: String,
    names: Vec<String>,
}

impl Drop for Databases {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let names = std::mem::take(&mut self.names);
        let Ok(runtime) = tokio::runtime::Runtime::new() else {
            return;
        };
        // A separate runtime: drop runs outside the bench's async context.
        std::thread::spawn(move || {
            runtime.block_on(async {
                for name in names {
                    let _ = pg::run(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    )
                    .await;
                }
            })
        })
        .join()
        .ok();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(19978)
}

/// A small application schema: five tables, indexes, a view, a migrations table.
const SCHEMA: &str = "
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, created_at TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total NUMERIC(10,2), status TEXT DEFAULT 'new');
CREATE INDEX orders_by_customer ON orders (customer_id);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, price NUMERIC(10,2));
CREATE TABLE order_lines (order_id INTEGER NOT NULL REFERENCES orders(id), product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, PRIMARY KEY (order_id, product_id));
CREATE TABLE schema_migrations (version TEXT PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('20260101000000'), ('20260201000000');
INSERT INTO customers VALUES (1, 'a@example.com', 'A', '2026-01-01'), (2, 'b@example.com', 'B', '2026-01-02');
CREATE VIEW open_orders AS SELECT * FROM orders WHERE status = 'new';
";

async fn sqlite_template(path: &Path) {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    sqlx::raw_sql(SCHEMA)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("filling {}: {e}", path.display()));
    let _ = conn.close().await;
}

/// Writes the estate: files, databases and the config; returns the config path.
async fn estate(dir: &Path, admin: &str, databases: &mut Databases) -> PathBuf {
    let template = dir.join("template.db");
    sqlite_template(&template).await;
    // One PostgreSQL template, copied per source by the server (fast, and each is a real
    // database of its own).
    let tag = std::process::id();
    let pg_template = format!("dw_load_{tag}_tpl");
    pg::run(admin, &format!("CREATE DATABASE \"{pg_template}\""))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
    databases.names.push(pg_template.clone());
    pg::run(&pg::with_database(admin, &pg_template), SCHEMA)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL template: {e}"));

    let mut toml = String::from("rules = []\n[collection]\ninterval = \"1h\"\njitter = \"0s\"\n\n");
    for e in 1..ENVIRONMENTS {
        let _ = write!(
            toml,
            "[[pairs]]\nname = \"env-{e:02}-vs-env-00\"\nbaseline = \"env-00\"\ncandidate = \"env-{e:02}\"\n\n"
        );
    }
    for e in 0..ENVIRONMENTS {
        for s in 0..SQLITE_PER_ENV {
            let file = dir.join(format!("env-{e:02}-db-{s:02}.db"));
            std::fs::copy(&template, &file)
                .unwrap_or_else(|err| panic!("copying {}: {err}", file.display()));
            let _ = write!(
                toml,
                "[environments.env-{e:02}.sources.db-{s:02}]\nkind = \"sqlite\"\nurl = \"sqlite://{}\"\n",
                file.display()
            );
        }
        for s in 0..POSTGRES_PER_ENV {
            let name = format!("dw_load_{tag}_{e:02}_{s}");
            pg::run(
                admin,
                &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{pg_template}\""),
            )
            .await
            .unwrap_or_else(|err| panic!("creating {name}: {err}"));
            databases.names.push(name.clone());
            let _ = write!(
                toml,
                "[environments.env-{e:02}.sources.pg-{s}]\nkind = \"postgres\"\nurl = \"{}\"\n",
                pg::with_database(admin, &name)
            );
        }
        toml.push('\n');
    }
    let path = dir.join("driftwarden.toml");
    std::fs::write(&path, toml).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Peak resident memory (VmHWM) of a process, KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process, seconds (USER_HZ = 100).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (get(11) + get(12)) as f64 / 100.0
}

async fn wait_ready(client: &reqwest::Client, port: u16) -> Duration {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/readyz");
    while started.elapsed() < Duration::from_secs(600) {
        if let Ok(r) = client.get(&url).send().await {
            if r.status().is_success() {
                return started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the daemon did not become ready in 600 s");
}

/// A full round through the API: every source collected, stored and compared.
async fn round(client: &reqwest::Client, port: u16) -> (Duration, usize) {
    let started = Instant::now();
    let body: Value = client
        .post(format!("http://127.0.0.1:{port}/api/v1/run"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("POST /api/v1/run: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("run answer: {e}"));
    let runs = body["runs"].as_array().cloned().unwrap_or_default();
    let failed: Vec<&Value> = runs.iter().filter(|r| r["ok"] != true).collect();
    assert!(failed.is_empty(), "failed collections: {failed:#?}");
    (started.elapsed(), runs.len())
}

/// wrk's summary of a run against /metrics.
struct Scrapes {
    requests_per_second: f64,
    p99_ms: f64,
    requests: u64,
    errors: String,
}

fn wrk(port: u16, seconds: u64) -> Scrapes {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{SCRAPERS}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .unwrap_or_else(|e| panic!("running wrk (apt-get install wrk): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {text}");
    let value_after = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    };
    let millis = |v: &str| -> f64 {
        let number: f64 = v
            .trim_end_matches(|c: char| c.is_alphabetic())
            .parse()
            .unwrap_or(f64::NAN);
        if v.ends_with("us") {
            number / 1000.0
        } else if v.ends_with("ms") {
            number
        } else if v.ends_with('s') {
            number * 1000.0
        } else {
            number
        }
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut errors = String::new();
    for prefix in ["Socket errors:", "Non-2xx or 3xx responses:"] {
        if let Some(v) = value_after(prefix) {
            let _ = write!(errors, "{prefix} {v}; ");
        }
    }
    Scrapes {
        requests_per_second: value_after("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p99_ms: value_after("99%").map_or(f64::NAN, |v| millis(&v)),
        requests,
        errors,
    }
}

#[tokio::main]
async fn main() {
    let optimised = !cfg!(debug_assertions);
    let admin = std::env::var("DRIFTWARDEN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let mut databases = Databases {
        admin: admin.clone(),
        names: Vec::new(),
    };
    let built = Instant::now();
    let config = estate(work.path(), &admin, &mut databases).await;
    let setup = built.elapsed();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"));
    let port = free_port();
    let child = Command::new(BIN)
        .args(["--quiet", "run", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {BIN}: {e}"));
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    let sources = ENVIRONMENTS * (SQLITE_PER_ENV + POSTGRES_PER_ENV);

    // First round: starts on its own at start-up; ready = every source collected and compared.
    let first = wait_ready(&client, port).await;
    // Second round, warm, alone.
    let cpu_before = cpu_seconds(pid);
    let (warm, collected) = round(&client, port).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    assert_eq!(collected, sources, "every source runs in a round");
    let series = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
        .text()
        .await
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    // Third round under 50 concurrent scrapers.
    let scrape_seconds = (warm.as_secs() + 5).clamp(10, 60);
    let scrapers = std::thread::spawn(move || wrk(port, scrape_seconds));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (loaded, _) = round(&client, port).await;
    let scrapes = scrapers
        .join()
        .unwrap_or_else(|_| panic!("the wrk thread failed"));
    let peak_mib = peak_kib(pid) as f64 / 1024.0;
    let up = client
        .get(format!("http://127.0.0.1:{port}/api/v1/sources"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET /api/v1/sources: {e}"))
        .json::<Vec<Value>>()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|s| s["status"] == "up")
        .count();
    drop(daemon);

    let mut report = String::new();
    let _ = writeln!(
        report,
        "{sources} sources ({} SQLite files, {} PostgreSQL databases) in {ENVIRONMENTS} environments, \
         {} pairs; {} build; estate built in {:.1} s",
        ENVIRONMENTS * SQLITE_PER_ENV,
        ENVIRONMENTS * POSTGRES_PER_ENV,
        ENVIRONMENTS - 1,
        if optimised { "release" } else { "debug" },
        setup.as_secs_f64(),
    );
    let _ = writeln!(
        report,
        "  first round (start-up to ready):   {:.1} s\n  \
         warm round (POST /api/v1/run):     {:.1} s, CPU {:.1} s = {:.2} cores\n  \
         round under {SCRAPERS} scrapers:         {:.1} s\n  \
         /metrics ({series} series) under load: {} scrapes, {:.0}/s, p99 {:.1} ms, errors: {}\n  \
         peak resident memory:              {peak_mib:.1} MiB\n  \
         sources up at the end:             {up}/{sources}",
        first.as_secs_f64(),
        warm.as_secs_f64(),
        cpu,
        cpu / warm.as_secs_f64().max(1e-9),
        loaded.as_secs_f64(),
        scrapes.requests,
        scrapes.requests_per_second,
        scrapes.p99_ms,
        if scrapes.errors.is_empty() {
            "none"
        } else {
            scrapes.errors.as_str()
        },
    );
    print!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("load.txt"), &report);

    assert_eq!(up, sources, "every source is up after the rounds");
    assert!(scrapes.requests > 0, "wrk made no request");
    assert!(
        scrapes.errors.is_empty(),
        "scrape errors: {}",
        scrapes.errors
    );
    if optimised {
        for (what, took) in [("first", first), ("warm", warm), ("loaded", loaded)] {
            assert!(
                took < ROUND_TARGET,
                "the {what} round took {took:?}, over the {ROUND_TARGET:?} target"
            );
        }
        assert!(
            peak_mib < RSS_TARGET_MIB,
            "peak resident memory {peak_mib:.1} MiB is over {RSS_TARGET_MIB} MiB"
        );
    }
}
