//! `driftwarden report`: a release sign-off report (HTML, Markdown, JUnit, JSON) of fresh
//! snapshots, or of the latest stored ones with the sign-off in force.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use tracing::warn;

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

/// The store, when one exists already: a fresh report shows the sign-off in force without
/// creating a store that nobody asked for.
async fn existing_store(config: &crate::config::Config) -> Option<Store> {
    let url = config.store.url.expose();
    if let Some(path) = url.strip_prefix("sqlite://") {
        if !std::path::Path::new(path).exists() {
            return None;
        }
    }
    match Store::open(url).await {
        Ok(store) => Some(store),
        Err(error) => {
            warn!(error = %error, "The store could not be opened; the report shows no sign-off.");
            None
        }
    }
}

/// Runs `report`.
pub async fn run(args: ReportArgs, quiet: bool) -> Result<u8> {
    let loaded = load(&args.config.config)?;
    let pairs = super::selected_pairs(&args.config.config, &loaded, args.pair.as_deref())?;
    let mut context = Context::new(args.fail_on);
    let store = if args.from_store {
        Some(Store::open(loaded.config.store.url.expose()).await?)
    } else {
        existing_store(&loaded.config).await
    };
    let report = match (&store, args.from_store) {
        (Some(store), true) => {
            let (results, _) = check::stored::load_latest(store, &loaded.config, &pairs).await?;
            check::compare(&loaded.config, &loaded.rules, &pairs, &results, today()).await
        }
        _ => {
            let results = check::collect(
                &loaded.config,
                loaded.redactor.clone(),
                &pairs,
                progress::for_terminal(quiet),
            )
            .await;
            check::compare(&loaded.config, &loaded.rules, &pairs, &results, today()).await
        }
    };
    if let Some(store) = &store {
        for pair in &report.pairs {
            match store.latest_signoff(&pair.name).await {
                Ok(Some(last)) => {
                    let since = signoff::changes_since(&last, &signoff::current_hashes(pair));
                    context.signoffs.insert(pair.name.clone(), (last, since));
                }
                Ok(None) => {}
                Err(error) => {
                    warn!(error = %error, "Reading the sign-off failed; the report shows none.")
                }
            }
        }
        store.close().await;
    }
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
