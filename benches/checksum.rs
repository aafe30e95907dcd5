//! Table checksums against reladiff (the maintained fork of data-diff), side by side in one run.
//!
//! Builds two PostgreSQL databases on the test server (`DRIFTWARDEN_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) holding the same 1,000,000-row table, then
//! changes one row, deletes one and adds one in the second. Times, best of 3:
//! - driftwarden: the first-level digest of both sides (what each collection does) plus the
//!   narrowing down to keys (what a comparison does when the digests differ);
//! - `reladiff` (from PyPI; skipped with a note when not installed) on the same two tables and
//!   the same columns.
//!
//! Both must report the same three keys. Prints the figures, writes them to
//! `target/bench/checksum.txt` and drops the databases. `DRIFTWARDEN_BENCH_ROWS=N` changes the
//! size. Run with `cargo bench --bench checksum`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use driftwarden::config::{ChecksumSpec, RowCountMode, Secret, SourceKind, SqlOptions};
use driftwarden::diff::diff;
use driftwarden::snapshot::Node;
#[path = "common/pg.rs"]
mod pg;

use pg::{run, with_database};

const RUNS: usize = 3;

fn kind(url: &str) -> SourceKind {
    SourceKind::Postgres {
        url: Secret::new(url),
        options: SqlOptions {
            row_counts: RowCountMode::Off,
            checksums: Some(ChecksumSpec {
                tables: vec!["public.big".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

/// Keys that differ according to driftwarden, and how long it took.
async fn driftwarden(a: &str, b: &str) -> Result<(Duration, BTreeSet<String>), String> {
    let (ka, kb) = (kind(a), kind(b));
    let started = Instant::now();
    let (ta, tb) = tokio::join!(
        driftwarden::parity::collect(&ka),
        driftwarden::parity::collect(&kb)
    );
    let wrap = |t: Option<Node>| {
        let mut root = Node::map();
        if let Some(t) = t {
            root.insert("data", t);
        }
        root
    };
    let mut ta = wrap(ta.map_err(|e| e.to_string())?);
    let mut tb = wrap(tb.map_err(|e| e.to_string())?);
    driftwarden::parity::refine(&ka, &mut ta, &kb, &mut tb).await;
    let elapsed = started.elapsed();
    let keys = diff(&ta, &tb)
        .into_iter()
        .filter_map(|c| {
            let s = c.path.segments();
            (s.len() == 4 && s[2] == "keys").then(|| s[3].clone())
        })
        .collect();
    Ok((elapsed, keys))
}

/// Keys that differ according to reladiff, and how long it took; `None` when not installed.
fn reladiff(a: &str, b: &str) -> Option<Result<(Duration, BTreeSet<String>), String>> {
    // reladiff knows the postgresql:// scheme only (and exits 0 on the error).
    let (a, b) = (
        a.replacen("postgres://", "postgresql://", 1),
        b.replacen("postgres://", "postgresql://", 1),
    );
    let started = Instant::now();
    let output = Command::new("reladiff")
        .args([
            &a, "big", &b, "big", "-k", "id", "-c", "name", "-c", "amount", "-c", "note", "--json",
        ])
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(e.to_string())),
    };
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() || stderr.contains("ERROR") {
        return Some(Err(stderr.into_owned()));
    }
    let mut keys = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        // JSONL: ["-" or "+", [id, name, …]]
        let Ok(serde_json::Value::Array(parts)) = serde_json::from_str(line) else {
            continue;
        };
        if let Some(id) = parts.get(1).and_then(|r| r.get(0)) {
            keys.insert(id.as_str().map_or(id.to_string(), str::to_string));
        }
    }
    Some(Ok((elapsed, keys)))
}

fn best(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let server = std::env::var("DRIFTWARDEN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rows: u64 = std::env::var("DRIFTWARDEN_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let names = [
        format!("dw_bench_parity_a_{}", std::process::id()),
        format!("dw_bench_parity_b_{}", std::process::id()),
    ];
    for name in &names {
        if let Err(e) = run(&server, &format!("CREATE DATABASE {name}")).await {
            eprintln!("skipping: the PostgreSQL server is not usable: {e}");
            return std::process::ExitCode::SUCCESS;
        }
    }
    let (a, b) = (
        with_database(&server, &names[0]),
        with_database(&server, &names[1]),
    );
    let result = bench(&a, &b, rows).await;
    for name in &names {
        if let Err(e) = run(
            &server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await
        {
            eprintln!("warning: could not drop {name}: {e}");
        }
    }
    match result {
        Ok(text) => {
            print!("{text}");
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
            if std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(dir.join("checksum.txt"), &text).is_ok()
            {
                println!("written to target/bench/checksum.txt");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn bench(a: &str, b: &str, rows: u64) -> Result<String, String> {
    let setup = format!(
        "CREATE TABLE big (id bigint PRIMARY KEY, name text NOT NULL, amount double precision, note text);
         INSERT INTO big SELECT g, 'name ' || g, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' END
         FROM generate_series(1, {rows}) g;"
    );
    for url in [a, b] {
        run(url, &setup).await?;
        // Its own statement: VACUUM cannot run inside the implicit multi-statement transaction.
        run(url, "VACUUM ANALYZE big").await?;
    }
    run(
        b,
        &format!(
            "UPDATE big SET name = 'changed' WHERE id = {};
             DELETE FROM big WHERE id = {};
             INSERT INTO big VALUES ({}, 'extra', 1.0, NULL);",
            rows / 8 + 7,
            rows / 2,
            rows + 10
        ),
    )
    .await?;
    let expected: BTreeSet<String> = [rows / 8 + 7, rows / 2, rows + 10]
        .iter()
        .map(u64::to_string)
        .collect();

    let mut ours = Vec::new();
    for _ in 0..RUNS {
        let (t, keys) = driftwarden(a, b).await?;
        if keys != expected {
            return Err(format!("driftwarden found {keys:?}, expected {expected:?}"));
        }
        ours.push(t);
    }
    let mut text = format!(
        "table checksum, {rows} rows per side, 3 differing rows, PostgreSQL, best of {RUNS}\n\
         driftwarden (digest both sides + locate keys): {:.3} s (runs: {})\n",
        best(&ours).as_secs_f64(),
        ours.iter()
            .map(|t| format!("{:.3}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut theirs = Vec::new();
    for _ in 0..RUNS {
        match reladiff(a, b) {
            None => {
                text.push_str("reladiff: not installed (pip install reladiff psycopg2-binary)\n");
                return Ok(text);
            }
            Some(Err(e)) => return Err(format!("reladiff failed: {e}")),
            Some(Ok((t, keys))) => {
                if keys != expected {
                    return Err(format!("reladiff found {keys:?}, expected {expected:?}"));
                }
                theirs.push(t);
            }
        }
    }
    text.push_str(&format!(
        "reladiff 0.6 (same tables, same columns, same answer): {:.3} s (runs: {})\n\
         speed-up: {:.1}x\n",
        best(&theirs).as_secs_f64(),
        theirs
            .iter()
            .map(|t| format!("{:.3}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        best(&theirs).as_secs_f64() / best(&ours).as_secs_f64().max(1e-9)
    ));
    Ok(text)
}
