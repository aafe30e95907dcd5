//! Speed of the PostgreSQL collector on a large schema, against `pg_dump --schema-only`.
//!
//! Builds a fresh database on the test server (`DRIFTWARDEN_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) in two steps — 301 tables, then 2,000 tables
//! of 20 columns with a primary key, two secondary indexes and a foreign key each, 300 views and
//! 300 functions — and after each step times the collector (library call, row counts from
//! estimates) and `pg_dump --schema-only` on the same database, best of 3. Also records how
//! many statements the collector sent: it must not grow with the schema. Prints the figures,
//! writes them to `target/bench/postgres_snapshot.txt` and drops the database.
//!
//! Run with `cargo bench --bench postgres_snapshot`.

use std::process::Command;
use std::time::{Duration, Instant};

use driftwarden::collectors::sql::postgres;
use driftwarden::config::{RowCountMode, Secret, SqlOptions};
#[path = "common/pg.rs"]
mod pg;

use pg::{run, with_database};

const COLUMNS: usize = 20;
const VIEWS: usize = 300;
const FUNCTIONS: usize = 300;
const RUNS: u32 = 3;

/// Server-side generation of tables `from..to` (one statement, so the client is not the
/// bottleneck): 20 columns, a primary key, two indexes, and a foreign key to the previous
/// table.
fn tables_sql(from: usize, to: usize) -> String {
    let mut columns = String::new();
    for c in 0..COLUMNS - 2 {
        let (ty, default) = [
            ("integer", " NOT NULL DEFAULT 0"),
            ("text", ""),
            ("numeric(12,2)", " DEFAULT 0"),
            ("timestamptz", " NOT NULL DEFAULT now()"),
            ("boolean", " DEFAULT false"),
        ][c % 5];
        columns.push_str(&format!(", c{c:02} {ty}{default}"));
    }
    format!(
        "SET synchronous_commit = off;
         DO $$ BEGIN
           FOR t IN {from}..{to_last} LOOP
             EXECUTE format('CREATE TABLE app.t%s (id bigint PRIMARY KEY, parent_id bigint{columns})', t);
             EXECUTE format('CREATE INDEX t%s_c01 ON app.t%s (c01)', t, t);
             EXECUTE format('CREATE INDEX t%s_c02_c03 ON app.t%s (c02, c03) WHERE c04 IS NOT NULL', t, t);
             IF t > 0 THEN
               EXECUTE format('ALTER TABLE app.t%s ADD FOREIGN KEY (parent_id) REFERENCES app.t%s (id) ON DELETE CASCADE', t, t - 1);
             END IF;
           END LOOP;
         END $$;",
        to_last = to - 1
    )
}

fn views_and_functions_sql() -> String {
    format!(
        "SET synchronous_commit = off;
         DO $$ BEGIN
           FOR v IN 0..{views} LOOP
             EXECUTE format('CREATE VIEW app.v%s AS SELECT a.id, a.c01, b.c02 FROM app.t%s a JOIN app.t%s b ON b.parent_id = a.id WHERE a.c00 > 0', v, v, v + 1);
           END LOOP;
           FOR f IN 0..{functions} LOOP
             EXECUTE format('CREATE FUNCTION app.f%s(p bigint) RETURNS bigint LANGUAGE sql STABLE AS %L', f,
               format('SELECT count(*) FROM app.t%s WHERE id > p', f));
           END LOOP;
         END $$;",
        views = VIEWS - 1,
        functions = FUNCTIONS - 1
    )
}

/// Best wall time of `RUNS` collections, with the statement counts of the last.
async fn time_collector(url: &str) -> Result<(Duration, postgres::Stats, usize), String> {
    let options = SqlOptions {
        row_counts: RowCountMode::Estimate,
        ..SqlOptions::default()
    };
    let secret = Secret::new(url);
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let (tree, stats) = postgres::collect_with_stats(&secret, &options)
            .await
            .map_err(|e| e.to_string())?;
        best = best.min(start.elapsed());
        last = Some((stats, tree.leaf_count()));
    }
    let (stats, leaves) = last.ok_or("no run")?;
    Ok((best, stats, leaves))
}

fn time_pg_dump(url: &str) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = Command::new("pg_dump")
            .args(["--schema-only", "--no-sync", "-f", "/dev/null", "-d", url])
            .status()
            .map_err(|e| format!("pg_dump: {e}"))?;
        if !status.success() {
            return Err(format!("pg_dump failed: {status}"));
        }
        best = best.min(start.elapsed());
    }
    Ok(best)
}

struct Step {
    tables: usize,
    collector: Duration,
    stats: postgres::Stats,
    leaves: usize,
    pg_dump: Duration,
}

async fn measure(url: &str, tables: usize) -> Result<Step, String> {
    let (collector, stats, leaves) = time_collector(url).await?;
    let pg_dump = time_pg_dump(url)?;
    Ok(Step {
        tables,
        collector,
        stats,
        leaves,
        pg_dump,
    })
}

/// Creates tables `from..to` in batches: each batch is one transaction, and a transaction
/// creating thousands of tables runs out of lock slots.
async fn create_tables(url: &str, from: usize, to: usize) -> Result<(), String> {
    const BATCH: usize = 100;
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        run(url, &tables_sql(start, end)).await?;
        start = end;
    }
    Ok(())
}

async fn bench(url: &str, tables: usize) -> Result<Vec<Step>, String> {
    let started = Instant::now();
    let small = (tables / 10).max(VIEWS + 1);
    run(url, "CREATE SCHEMA app").await?;
    create_tables(url, 0, small).await?;
    run(url, &views_and_functions_sql()).await?;
    run(url, "ANALYZE").await?;
    let first = measure(url, small).await?;
    create_tables(url, small, tables).await?;
    run(url, "ANALYZE").await?;
    eprintln!("schema built in {:.1}s", started.elapsed().as_secs_f64());
    let second = measure(url, tables).await?;
    Ok(vec![first, second])
}

fn report(steps: &[Step]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut out = format!(
        "PostgreSQL collector vs pg_dump --schema-only (best of {RUNS}; {COLUMNS} columns, 1 PK, \
         2 indexes and 1 FK per table; {VIEWS} views, {FUNCTIONS} functions; row counts from \
         estimates)\n"
    );
    for s in steps {
        out.push_str(&format!(
            "{:>5} tables: collector {:>8.1} ms, {} statements, {} leaves | pg_dump {:>8.1} ms | \
             {:.1}x faster\n",
            s.tables,
            ms(s.collector),
            s.stats.catalog_statements + s.stats.count_statements,
            s.leaves,
            ms(s.pg_dump),
            s.pg_dump.as_secs_f64() / s.collector.as_secs_f64().max(1e-9)
        ));
    }
    out
}

// The multi-thread runtime, as the binary uses: the catalog sessions decode in parallel.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    // RUST_LOG=driftwarden=debug prints each catalog query's time and when its rows are applied.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let server = std::env::var("DRIFTWARDEN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("dw_bench_{}", std::process::id());
    if let Err(e) = run(&server, &format!("CREATE DATABASE {name}")).await {
        eprintln!("skipping: the PostgreSQL server is not usable: {e}");
        return std::process::ExitCode::SUCCESS;
    }
    let url = with_database(&server, &name);
    // DRIFTWARDEN_BENCH_TABLES scales the schema down for a quick trial run.
    let tables = std::env::var("DRIFTWARDEN_BENCH_TABLES")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2_000);
    let result = bench(&url, tables).await;
    // A backend still rolling back a failed step can hold the database for a moment.
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    // DRIFTWARDEN_BENCH_KEEP=1 keeps the database for profiling (drop it yourself).
    let keep = std::env::var("DRIFTWARDEN_BENCH_KEEP").is_ok_and(|v| v == "1");
    if keep {
        eprintln!("kept database {name}");
    }
    for attempt in 1..=5 {
        if keep {
            break;
        }
        match run(&server, &drop).await {
            Ok(()) => break,
            Err(e) if attempt == 5 => eprintln!("warning: could not drop {name}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    let steps = match result {
        Ok(steps) => steps,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let text = report(&steps);
    print!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("postgres_snapshot.txt"), &text).is_ok()
    {
        println!("written to target/bench/postgres_snapshot.txt");
    }
    std::process::ExitCode::SUCCESS
}
