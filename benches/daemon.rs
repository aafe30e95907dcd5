//! Footprint of the daemon: resident memory idle with 20 sources across 4 environments, CPU
//! while idle between runs, and `/metrics` latency under concurrent scrapes with ~5,000 series.
//!
//! Runs the release binary (`driftwarden run`) on a generated estate built from the bundled demo.
//! Prints the figures and writes them to `target/bench/daemon.txt`.
//! Run with `cargo bench --bench daemon`.

// Writing to a String cannot fail, and the bench cleans up on a best-effort basis.
#![allow(clippy::let_underscore_must_use)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_driftwarden");
const ENVIRONMENTS: [&str; 4] = ["production", "staging", "qa", "dev"];

/// Kills the daemon when the bench ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(19977)
}

/// Writes a config with `per_env` sources in each of the four environments: the demo's SQLite
/// database, its YAML and .env files, and copies of the YAML file to reach the count.
fn estate(demo: &Path, dir: &Path, per_env: usize) -> PathBuf {
    let mut toml = String::from("rules = []\n[collection]\ninterval = \"1h\"\njitter = \"0s\"\n");
    for env in &ENVIRONMENTS[1..] {
        let _ = write!(
            toml,
            "[[pairs]]\nname = \"{env}-vs-production\"\nbaseline = \"production\"\ncandidate = \"{env}\"\n"
        );
    }
    for env in ENVIRONMENTS {
        let side = if env == "production" {
            "production"
        } else {
            "staging"
        };
        let _ = write!(
            toml,
            "[environments.{env}.sources.appdb]\nkind = \"sqlite\"\nurl = \"sqlite://{}\"\n\
             [environments.{env}.sources.app-env]\nkind = \"file\"\npath = \"{}\"\n",
            demo.join(format!("data/{side}.db")).display(),
            demo.join(format!("config/{side}.env")).display(),
        );
        for i in 0..per_env.saturating_sub(2) {
            let _ = write!(
                toml,
                "[environments.{env}.sources.config-{i:03}]\nkind = \"file\"\npath = \"{}\"\n",
                demo.join(format!("config/{side}.yaml")).display(),
            );
        }
    }
    let path = dir.join(format!("estate-{per_env}.toml"));
    std::fs::write(&path, toml).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

fn start(config: &Path, port: u16) -> Daemon {
    let child = Command::new(BIN)
        .args(["--quiet", "run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {BIN}: {e}"));
    Daemon(child)
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..600 {
        if let Ok(r) = client.get(&url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon did not become ready in 60 s");
}

/// (resident KiB, peak resident KiB) from /proc.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the ')'.
    get(11) + get(12)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let demo = work.path().join("demo");
    let built = Command::new(BIN)
        .args(["--quiet", "demo", "--build-only", "--dir"])
        .arg(&demo)
        .status()
        .unwrap_or_else(|e| panic!("building the demo: {e}"));
    assert!(built.success(), "building the demo failed");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"));
    let mut report = String::new();

    // Memory and idle CPU with 20 sources across 4 environments.
    let config = estate(&demo, work.path(), 5);
    let port = free_port();
    let daemon = start(&config, port);
    let pid = daemon.0.id();
    wait_ready(&client, port).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, peak) = memory(pid);
    let ticks_before = cpu_ticks(pid);
    let idle = Duration::from_secs(20);
    tokio::time::sleep(idle).await;
    let ticks = cpu_ticks(pid).saturating_sub(ticks_before);
    // Linux reports CPU time in USER_HZ ticks, 100 per second on every mainstream kernel.
    let idle_cpu_percent = ticks as f64 / 100.0 / idle.as_secs_f64() * 100.0;
    let (rss_after, _) = memory(pid);
    drop(daemon);
    let _ = writeln!(
        report,
        "20 sources / 4 environments / 3 pairs (sqlite + files), after the first run:\n  \
         resident memory: {:.1} MiB (peak {:.1} MiB; {:.1} MiB after {}s idle)\n  \
         idle CPU over {}s: {ticks} ticks = {idle_cpu_percent:.2}% of one core",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        idle.as_secs(),
        idle.as_secs(),
    );

    // /metrics latency with ~5,000 series.
    let config = estate(&demo, work.path(), 80);
    let port = free_port();
    let daemon = start(&config, port);
    wait_ready(&client, port).await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let body = client
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("scraping: {e}"))
        .text()
        .await
        .unwrap_or_default();
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let (clients, per_client) = (8, 250);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let start = Instant::now();
                let ok = match client.get(&url).send().await {
                    Ok(r) => r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                assert!(ok, "a scrape failed");
                times.push(start.elapsed());
            }
            times
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap_or_default());
    }
    let wall = started.elapsed();
    times.sort();
    let (rss, _) = memory(daemon.0.id());
    drop(daemon);
    let _ = writeln!(
        report,
        "/metrics with {series} series ({} KiB), {clients} concurrent scrapers x {per_client}:\n  \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} scrapes/s; daemon resident {:.1} MiB \
         with {} sources",
        body.len() / 1024,
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        times.len() as f64 / wall.as_secs_f64(),
        rss as f64 / 1024.0,
        80 * ENVIRONMENTS.len(),
    );

    print!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("daemon.txt"), &report);
}
