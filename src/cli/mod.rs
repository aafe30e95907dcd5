//! EDGE: the command line (clap). One file per subcommand; `anyhow` is allowed here.

mod check;
mod demo;
mod diff;
mod explain;
mod progress;
mod report;
mod rules;
mod run;
mod signoff;
mod snapshot;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Catches environment drift: compares staging with production (or any two environments) in
/// schema, row counts, settings and config, and reports what the rules do not expect.
#[derive(Debug, Parser)]
#[command(name = "driftwarden", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 = no drift at or above --fail-on, 1 = drift, 2 = error or unknown.\nStart with `driftwarden demo`, then see README.md and docs/config.md."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "DRIFTWARDEN_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// More logs (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The default log level for these flags.
    pub fn log_level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, _) => "debug",
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Snapshot both sides of each pair, diff, apply rules and report (exit 0/1/2).
    Check(check::CheckArgs),
    /// Collect one environment (or one source) and print its canonical tree as JSON.
    Snapshot(snapshot::SnapshotArgs),
    /// Print the raw changes of a pair, before any rule applies.
    Diff(diff::DiffArgs),
    /// Show which rule decides a path of a pair, and why.
    Explain(explain::ExplainArgs),
    /// Check rule files, or write ignore rules for today's findings.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Write a release sign-off report (HTML, Markdown, JUnit or JSON) for a pair.
    Report(report::ReportArgs),
    /// Record that a pair's current snapshots may ship (refused while findings are open).
    Signoff(signoff::SignoffArgs),
    /// Run the daemon: scheduled snapshots, findings in the store, /metrics and the JSON API.
    Run(run::RunArgs),
    /// Build the bundled demo (SQLite staging and production with planted drift) and check it.
    Demo(demo::DemoArgs),
}

/// `--config`, shared by the subcommands that read one.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Config file.
    #[arg(
        short,
        long,
        env = "DRIFTWARDEN_CONFIG",
        default_value = "driftwarden.toml"
    )]
    pub config: PathBuf,
}

/// Runs the parsed command; returns the exit code.
pub async fn dispatch(cli: Cli) -> Result<u8> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Check(args) => check::run(args, quiet).await,
        Command::Snapshot(args) => snapshot::run(args, quiet).await,
        Command::Diff(args) => diff::run(args, quiet).await,
        Command::Explain(args) => explain::run(args),
        Command::Rules(command) => rules::run(command, quiet).await,
        Command::Report(args) => report::run(args, quiet).await,
        Command::Signoff(args) => signoff::run(args, quiet).await,
        Command::Run(args) => run::run(args).await,
        Command::Demo(args) => demo::run(args, quiet).await,
    }
}

/// Loads the config and rules; errors keep their file:line:column form.
pub(crate) fn load(path: &Path) -> Result<crate::app::state::Live> {
    Ok(crate::app::load_live(path)?)
}

/// The pairs `--pair` selects (all when absent); an error when the config defines none.
pub(crate) fn selected_pairs<'a>(
    config_path: &Path,
    loaded: &'a crate::app::state::Live,
    only: Option<&str>,
) -> Result<Vec<&'a crate::config::Pair>> {
    let pairs = crate::check::select_pairs(&loaded.config, only)?;
    if pairs.is_empty() {
        anyhow::bail!(
            "{}: no [[pairs]] defined; add one (see docs/config.md)",
            config_path.display()
        );
    }
    Ok(pairs)
}

/// Writes to stdout, surfacing a closed pipe as an error `main` treats as success.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Collects and compares `pairs` of a loaded config once, with terminal progress.
pub(crate) async fn check_once(
    loaded: &crate::app::state::Live,
    pairs: &[&crate::config::Pair],
    quiet: bool,
) -> crate::report::CheckReport {
    crate::check::run(
        &loaded.config,
        &loaded.rules,
        loaded.redactor.clone(),
        pairs,
        progress::for_terminal(quiet),
        today(),
    )
    .await
}

/// Today's date for rule expiry (`until`).
pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}
