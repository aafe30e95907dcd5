//! `driftwarden rules lint|baseline`: check rules against a config; adopt a messy estate.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::{check_once, load, print, today, ConfigArg};
use crate::check;
use crate::report::PairStatus;
use crate::rules::{baseline_rules, LintLevel};

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load the config and every rule file; report errors (exit 2) and warnings.
    Lint(ConfigArg),
    /// Write ignore rules for every current finding of a pair (to burn down later).
    Baseline(BaselineArgs),
}

/// Arguments of `rules baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Pair whose findings to accept.
    #[arg(long)]
    pair: String,
    /// Why these differences are accepted (required: every ignore rule says why).
    #[arg(long)]
    reason: String,
    /// Date (YYYY-MM-DD) after which the rules stop applying.
    #[arg(long)]
    until: Option<chrono::NaiveDate>,
    /// Output file (default: rules/baseline-PAIR.toml next to the config).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

/// Runs a `rules` subcommand.
pub async fn run(command: RulesCommand, quiet: bool) -> Result<u8> {
    match command {
        RulesCommand::Lint(args) => lint(args),
        RulesCommand::Baseline(args) => baseline(args, quiet).await,
    }
}

fn lint(args: ConfigArg) -> Result<u8> {
    let loaded = load(&args.config)?;
    let issues = loaded.rules.lint(&loaded.config, today());
    let mut out = String::new();
    for issue in &issues {
        let level = match issue.level {
            LintLevel::Error => "error",
            LintLevel::Warning => "warning",
        };
        out.push_str(&format!(
            "{level}: {}: rule {}: {}\n",
            issue.origin, issue.rule, issue.message
        ));
    }
    let errors = issues
        .iter()
        .filter(|i| i.level == LintLevel::Error)
        .count();
    out.push_str(&format!(
        "{} rules checked: {errors} error{}, {} warning{}\n",
        loaded.rules.rules().len(),
        if errors == 1 { "" } else { "s" },
        issues.len() - errors,
        if issues.len() - errors == 1 { "" } else { "s" }
    ));
    print(&out)?;
    Ok(if errors > 0 { 2 } else { 0 })
}

async fn baseline(args: BaselineArgs, quiet: bool) -> Result<u8> {
    if args.reason.trim().is_empty() {
        bail!("--reason must say why these differences are accepted");
    }
    let loaded = load(&args.config.config)?;
    let pairs = check::select_pairs(&loaded.config, Some(&args.pair))?;
    let report = check_once(&loaded, &pairs, quiet).await;
    let pair = &report.pairs[0];
    if pair.status == PairStatus::Unknown {
        for e in &pair.errors {
            eprintln!(
                "error: {}/{} [{}]: {}",
                e.environment, e.source, e.reason, e.message
            );
        }
        bail!(
            "pair {} is unknown: cannot baseline what was not seen",
            pair.name
        );
    }
    let entries: Vec<_> = pair
        .findings
        .iter()
        .map(|f| (f.source.clone(), f.path.clone()))
        .collect();
    let output = args.output.unwrap_or_else(|| {
        let dir = args
            .config
            .config
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        dir.join("rules")
            .join(format!("baseline-{}.toml", pair.name))
    });
    if output.exists() && !args.force {
        bail!("{} exists; pass --force to replace it", output.display());
    }
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = baseline_rules(&pair.name, &entries, &args.reason, args.until);
    std::fs::write(&output, text).with_context(|| format!("writing {}", output.display()))?;
    let covered = loaded
        .config
        .rules
        .iter()
        .any(|r| output.starts_with(r) || output == *r);
    let mut message = format!(
        "Wrote {} ignore rule{} to {}.\n",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        output.display()
    );
    if !covered {
        message.push_str("note: that file is not under the config's `rules` paths; add it there for the rules to apply.\n");
    }
    print(&message)?;
    Ok(0)
}
