//! `driftwarden report`: a release sign-off report (HTML, Markdown, JUnit, JSON) of fresh
//! snapshots, or of the latest stored ones with the sign-off in force.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;

use super::check::parse_severity;
use super::{load, print, progress, today, ConfigArg};
use crate::check;
use crate::report::{self, Context, Format};
use crate::rules::Severity;
use crate::signoff;
use crate::store::Store;

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The pair to report on (default: every pair).
    #[arg(long)]
    pair: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "html")]
    format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Use the latest snapshots in the daemon's store instead of collecting now; also shows
    /// the sign-off in force and what changed since.
    #[arg(long)]
    from_store: bool,
    /// Lowest severity that blocks the release (verdict drift, exit code 1).
    #[arg(long, default_value = "warning", value_parser = parse_severity)]
    fail_on: Severity,
}

/// Runs `report`.
pub async fn run(args: ReportArgs, quiet: bool) -> Result<u8> {
    let loaded = load(&args.config.config)?;
    let pairs = check::select_pairs(&loaded.config, args.pair.as_deref())?;
    if pairs.is_empty() {
        anyhow::bail!(
            "{}: no [[pairs]] defined; add one (see docs/config.md)",
            args.config.config.display()
        );
    }
    let mut context = Context::new(args.fail_on);
    let report = if args.from_store {
        let store = Store::open(loaded.config.store.url.expose()).await?;
        let (results, _) = check::stored::load_latest(&store, &loaded.config, &pairs).await?;
        let report = check::compare(&loaded.config, &loaded.rules, &pairs, &results, today());
        for pair in &report.pairs {
            if let Some(last) = store.latest_signoff(&pair.name).await? {
                let since = signoff::changes_since(&last, &signoff::current_hashes(pair));
                context.signoffs.insert(pair.name.clone(), (last, since));
            }
        }
        store.close().await;
        report
    } else {
        let results = check::collect(
            &loaded.config,
            loaded.redactor.clone(),
            &pairs,
            progress::for_terminal(quiet),
        )
        .await;
        check::compare(&loaded.config, &loaded.rules, &pairs, &results, today())
    };
    let text = report::render(&report, args.format, &context, false);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !quiet {
                eprintln!("Report written to {}.", path.display());
            }
        }
        None => print(&text)?,
    }
    Ok(report.exit_code(args.fail_on))
}
