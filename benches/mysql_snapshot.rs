//! Speed and query count of the MySQL/MariaDB collector on a large schema, against
//! `mariadb-dump`/`mysqldump --no-data` on the same database.
//!
//! Builds a fresh database of 2,000 tables × 20 columns (a primary key, two secondary indexes
//! and a foreign key to the previous table each), 300 views, 100 functions and 100 procedures;
//! a second database of 50 such tables checks that the number of statements does not grow with
//! the schema. Prints the figures and writes them to `target/bench/mysql_snapshot.txt`; drops
//! both databases. Server: `DRIFTWARDEN_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306/mysql`).
//! Run with `cargo bench --bench mysql_snapshot`.

// A benchmark fails loudly on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use driftwarden::collectors::sql::mysql;
use driftwarden::config::{RowCountMode, Secret, SqlOptions};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, Connection};

const TABLES: usize = 2_000;
const SMALL_TABLES: usize = 50;
const COLUMNS: usize = 20;
const VIEWS: usize = 300;
const ROUTINES: usize = 100;
const RUNS: usize = 3;

fn server_url() -> String {
    std::env::var("DRIFTWARDEN_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = &base[..base.rfind('/').unwrap()];
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// The DDL of a schema of `tables` tables (and views and routines in proportion).
fn schema(tables: usize) -> Vec<String> {
    let mut statements = vec!["SET FOREIGN_KEY_CHECKS = 0".to_string()];
    for t in 0..tables {
        let mut columns = vec!["id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY".to_string()];
        columns.push("parent_id BIGINT UNSIGNED NULL".to_string());
        for c in 2..COLUMNS {
            columns.push(match c % 4 {
                0 => format!("c{c:02} VARCHAR(64) NOT NULL DEFAULT ''"),
                1 => format!("c{c:02} INT NULL"),
                2 => format!("c{c:02} DECIMAL(12,2) NOT NULL DEFAULT 0.00"),
                _ => format!("c{c:02} TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"),
            });
        }
        columns.push(format!("KEY t{t:05}_c04_idx (c04, c05)"));
        columns.push(format!("UNIQUE KEY t{t:05}_c08_uq (c08(32))"));
        if t > 0 {
            columns.push(format!(
                "CONSTRAINT t{t:05}_parent_fk FOREIGN KEY (parent_id) REFERENCES t{:05} (id)",
                t - 1
            ));
        }
        statements.push(format!(
            "CREATE TABLE t{t:05} ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            columns.join(", ")
        ));
    }
    let scale = |n: usize| (n * tables / TABLES).max(1);
    for v in 0..scale(VIEWS) {
        let t = v % tables;
        statements.push(format!(
            "CREATE VIEW v{v:04} AS SELECT id, c04, c06 FROM t{t:05} WHERE c05 > {v}"
        ));
    }
    for r in 0..scale(ROUTINES) {
        let t = r % tables;
        statements.push(format!(
            "CREATE FUNCTION f{r:04}(x BIGINT) RETURNS BIGINT DETERMINISTIC \
             RETURN x * {r} + (SELECT COUNT(*) FROM t{t:05})"
        ));
        statements.push(format!(
            "CREATE PROCEDURE p{r:04}(IN x BIGINT) MODIFIES SQL DATA \
             UPDATE t{t:05} SET c05 = x WHERE id = {r}"
        ));
    }
    statements
}

async fn admin(url: &str, sql: &str) {
    let mut conn = MySqlConnection::connect(url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Creates database `name` holding `schema(tables)`; returns its URL and the build time.
async fn create(server: &str, name: &str, tables: usize) -> (String, Duration) {
    admin(server, &format!("DROP DATABASE IF EXISTS {name}")).await;
    admin(server, &format!("CREATE DATABASE {name}")).await;
    let url = with_database(server, name);
    let started = Instant::now();
    let mut conn = MySqlConnection::connect(&url).await.unwrap();
    for batch in schema(tables).chunks(100) {
        sqlx::raw_sql(AssertSqlSafe(batch.join(";\n")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    (url, started.elapsed())
}

/// Best and median of `RUNS` timings of `run`.
async fn time<F, Fut, T>(mut run: F) -> (Duration, Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        last = Some(run().await);
        times.push(started.elapsed());
    }
    times.sort();
    (times[0], times[RUNS / 2], last.unwrap())
}

async fn collect(url: &str, mode: RowCountMode) -> (usize, u64) {
    let options = SqlOptions {
        row_counts: mode,
        statement_timeout: Duration::from_secs(120),
        ..SqlOptions::default()
    };
    let (tree, stats) = mysql::collect_with_stats(&Secret::new(url), &options)
        .await
        .unwrap();
    (tree.leaf_count(), stats.queries)
}

/// `mariadb-dump` (or `mysqldump`) of the schema only, routines, events and triggers included.
fn dump(url: &str) -> Option<(Duration, usize)> {
    let options: MySqlConnectOptions = url.parse().ok()?;
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_string());
    for program in ["mariadb-dump", "mysqldump"] {
        let mut command = Command::new(program);
        command
            .args([
                "--no-data",
                "--routines",
                "--events",
                "--triggers",
                "--skip-lock-tables",
            ])
            .arg(format!("--host={}", options.get_host()))
            .arg(format!("--port={}", options.get_port()))
            .arg(format!("--user={}", options.get_username()))
            .arg(options.get_database()?)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(password) = &password {
            command.env("MYSQL_PWD", password);
        }
        let started = Instant::now();
        let Ok(output) = command.output() else {
            continue;
        };
        if output.status.success() {
            return Some((started.elapsed(), output.stdout.len()));
        }
    }
    None
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let server = server_url();
    if MySqlConnection::connect(&server).await.is_err() {
        println!(
            "skipped: no MySQL/MariaDB server at {}",
            Secret::new(server).redacted()
        );
        return;
    }
    let id = std::process::id();
    let (big_name, small_name) = (format!("dw_bench_{id}"), format!("dw_bench_small_{id}"));
    let (big, built) = create(&server, &big_name, TABLES).await;
    let (small, _) = create(&server, &small_name, SMALL_TABLES).await;

    let (est_best, est_median, (leaves, queries)) =
        time(|| collect(&big, RowCountMode::Estimate)).await;
    let (_, _, (_, small_queries)) = time(|| collect(&small, RowCountMode::Estimate)).await;
    let (auto_best, auto_median, (_, auto_queries)) =
        time(|| collect(&big, RowCountMode::Auto)).await;
    let (dump_best, dump_median, dumped) = time(|| async { dump(&big) }).await;

    let mut report = format!(
        "MySQL/MariaDB collector on {TABLES} tables × {COLUMNS} columns, {VIEWS} views, \
         {} routines (built in {})\n\
         collector, row_counts=estimate: best {} median {} ({leaves} leaves, {queries} statements; \
         {small_queries} statements on {SMALL_TABLES} tables)\n\
         collector, row_counts=auto (exact COUNT(*) per table): best {} median {} \
         ({auto_queries} statements)\n",
        ROUTINES * 2,
        secs(built),
        secs(est_best),
        secs(est_median),
        secs(auto_best),
        secs(auto_median),
    );
    match dumped {
        Some((_, bytes)) => report.push_str(&format!(
            "mariadb-dump --no-data --routines --events --triggers: best {} median {} \
             ({bytes} bytes)\nspeed-up (best estimate vs best dump): {:.1}×\n",
            secs(dump_best),
            secs(dump_median),
            dump_best.as_secs_f64() / est_best.as_secs_f64()
        )),
        None => report.push_str("mariadb-dump/mysqldump: not available\n"),
    }
    print!("{report}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("mysql_snapshot.txt"), &report).is_ok()
    {
        println!("written to target/bench/mysql_snapshot.txt");
    }
    admin(&server, &format!("DROP DATABASE IF EXISTS {big_name}")).await;
    admin(&server, &format!("DROP DATABASE IF EXISTS {small_name}")).await;
}
