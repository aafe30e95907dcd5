//! `driftwarden demo`: writes the bundled demo (config, rules, config files, SQL), builds the
//! SQLite staging and production databases from the SQL, and checks them.
//!
//! The demo's own databases are built here (they are ours, not targets); the check itself
//! opens them read-only like any target.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use clap::Args;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

use super::{check_once, load, print};
use crate::check;
use crate::report::{self, Format, PairStatus};
use crate::rules::Severity;

/// The demo files, compiled in so `driftwarden demo` works from any folder.
const FILES: &[(&str, &str)] = &[
    (
        "driftwarden.toml",
        include_str!("../../examples/demo/driftwarden.toml"),
    ),
    (
        "rules/demo.toml",
        include_str!("../../examples/demo/rules/demo.toml"),
    ),
    (
        "config/production.yaml",
        include_str!("../../examples/demo/config/production.yaml"),
    ),
    (
        "config/staging.yaml",
        include_str!("../../examples/demo/config/staging.yaml"),
    ),
    (
        "config/production.env",
        include_str!("../../examples/demo/config/production.env"),
    ),
    (
        "config/staging.env",
        include_str!("../../examples/demo/config/staging.env"),
    ),
    (
        "sql/common.sql",
        include_str!("../../examples/demo/sql/common.sql"),
    ),
    (
        "sql/production.sql",
        include_str!("../../examples/demo/sql/production.sql"),
    ),
    (
        "sql/staging.sql",
        include_str!("../../examples/demo/sql/staging.sql"),
    ),
    (
        "sql/data.sql",
        include_str!("../../examples/demo/sql/data.sql"),
    ),
];

/// Row counts per environment: staging is a slightly smaller copy, except for `products`,
/// where it misses more rows than the default 10% tolerance allows (planted drift).
const ENVIRONMENTS: &[(&str, &[(&str, u32)])] = &[
    (
        "production",
        &[
            ("PRODUCTS", 50),
            ("INVENTORY", 40),
            ("CUSTOMERS", 200),
            ("ORDERS", 600),
            ("ORDER_ITEMS", 1500),
            ("AUDIT_LOG", 5000),
        ],
    ),
    (
        "staging",
        &[
            ("PRODUCTS", 44),
            ("INVENTORY", 40),
            ("CUSTOMERS", 190),
            ("ORDERS", 570),
            ("ORDER_ITEMS", 1425),
            ("AUDIT_LOG", 120),
        ],
    ),
];

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder to write the demo into (rebuilt on every run).
    #[arg(long, default_value = "driftwarden-demo")]
    dir: PathBuf,
    /// Only build the demo folder; do not run the check.
    #[arg(long)]
    build_only: bool,
    /// Build and check once, then exit instead of starting the daemon.
    #[arg(long)]
    check_only: bool,
    /// In a running demo's folder, toggle a change in staging (add or drop the missing
    /// index), to watch a finding resolve or appear. Does not rebuild.
    #[arg(long, conflicts_with_all = ["build_only", "check_only"])]
    mutate: bool,
    /// Listen address of the demo daemon.
    #[arg(long, default_value = "127.0.0.1:9977")]
    listen: std::net::SocketAddr,
}

/// Runs `demo`.
pub async fn run(args: DemoArgs, quiet: bool) -> Result<u8> {
    if args.mutate {
        return mutate(&args.dir).await;
    }
    build(&args.dir).await?;
    let config_path = args.dir.join("driftwarden.toml");
    if args.build_only {
        print(&format!("Demo built in {}.\n", args.dir.display()))?;
        return Ok(0);
    }
    let loaded = load(&config_path)?;
    let pairs = check::select_pairs(&loaded.config, None)?;
    let report = check_once(&loaded, &pairs, quiet).await;
    let color = console::colors_enabled();
    let mut text = report::render(
        &report,
        Format::Text,
        &report::Context::new(Severity::Warning),
        color,
    );
    let config = config_path.display();
    text.push_str(&format!(
        "\nThis was the bundled demo, built in {}. Try next:\n  \
         driftwarden check --config {config} --format json\n  \
         driftwarden explain --config {config} --pair staging-vs-production --source app-config database/host\n  \
         driftwarden diff --config {config} --pair staging-vs-production --source appdb\n",
        args.dir.display()
    ));
    // Drift is the point of the demo, so it exits 0; a demo that cannot collect is an error.
    if report.pairs.iter().any(|p| p.status == PairStatus::Unknown) {
        print(&text)?;
        return Ok(2);
    }
    if args.check_only {
        print(&text)?;
        return Ok(0);
    }
    text.push_str(&format!(
        "\nNow the daemon watches the demo every 15 seconds. In another terminal, run\n  \
         cargo run -- demo --mutate --dir {}\n\
         to fix (or break again) the index staging is missing, and watch the finding resolve\n\
         (driftwarden_findings_open in /metrics, or the findings API).\n\n",
        args.dir.display()
    ));
    let options = crate::app::DaemonOptions {
        listen: Some(args.listen),
        ..Default::default()
    };
    super::run::serve(&config_path, options, Some(text)).await
}

/// Adds the index staging lacks, or drops it again: the demo's own database, so writing is
/// fine here (driftwarden never writes to the targets it audits).
async fn mutate(dir: &Path) -> Result<u8> {
    let db = dir.join("data/staging.db");
    if !db.exists() {
        anyhow::bail!(
            "{} does not exist; run `driftwarden demo --dir {}` first",
            db.display(),
            dir.display()
        );
    }
    let options = SqliteConnectOptions::from_str("sqlite:")?.filename(&db);
    let mut conn = options.connect().await?;
    let present: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 'orders_customer_id_idx'",
    )
    .fetch_optional(&mut conn)
    .await?;
    let message = if present.is_some() {
        sqlx::raw_sql("DROP INDEX orders_customer_id_idx")
            .execute(&mut conn)
            .await?;
        "Dropped orders_customer_id_idx from staging: the finding reappears at the next collection.\n"
    } else {
        sqlx::raw_sql("CREATE INDEX orders_customer_id_idx ON orders (customer_id)")
            .execute(&mut conn)
            .await?;
        "Created orders_customer_id_idx in staging: the missing-index finding resolves at the next collection.\n"
    };
    print(message)?;
    Ok(0)
}

/// Writes the demo files into `dir` and (re)builds `data/production.db` and `data/staging.db`.
pub async fn build(dir: &Path) -> Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let common = include_str!("../../examples/demo/sql/common.sql");
    let rows = include_str!("../../examples/demo/sql/data.sql");
    for (env, counts) in ENVIRONMENTS {
        let schema = match *env {
            "production" => include_str!("../../examples/demo/sql/production.sql"),
            _ => include_str!("../../examples/demo/sql/staging.sql"),
        };
        let mut rows = rows.replace(
            "@EMAIL_DOMAIN@",
            if *env == "production" {
                "example.com"
            } else {
                "example.invalid"
            },
        );
        for (name, count) in *counts {
            rows = rows.replace(&format!("@{name}@"), &count.to_string());
        }
        let db = data.join(format!("{env}.db"));
        build_database(&db, &format!("{common}\n{schema}\n{rows}"))
            .await
            .with_context(|| format!("building {}", db.display()))?;
    }
    Ok(())
}

async fn build_database(path: &Path, sql: &str) -> Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true);
    let mut conn = options.connect().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    Ok(())
}
