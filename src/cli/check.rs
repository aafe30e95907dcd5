//! `driftwarden check`: one-shot collect → diff → rules → report; exit 0 / 1 / 2.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{check_once, load, print, ConfigArg};
use crate::report::{self, Format};
use crate::rules::Severity;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Check only this pair (default: all pairs).
    #[arg(long)]
    pair: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, default_value = "warning", value_parser = parse_severity)]
    fail_on: Severity,
    /// Write the report to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Color: auto (on a terminal, unless NO_COLOR), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
}

/// Parses `info|warning|critical` for clap.
pub(crate) fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse()
}

/// Runs `check`.
pub async fn run(args: CheckArgs, quiet: bool) -> Result<u8> {
    let loaded = load(&args.config.config)?;
    let pairs = super::selected_pairs(&args.config.config, &loaded, args.pair.as_deref())?;
    let report = check_once(&loaded, &pairs, quiet).await;
    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        _ => args.output.is_none() && console::colors_enabled(),
    };
    let context = report::Context::new(args.fail_on);
    let text = report::render(&report, args.format, &context, color);
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => print(&text)?,
    }
    Ok(report.exit_code(args.fail_on))
}
