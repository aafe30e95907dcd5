//! `driftwarden explain`: which rule decides a path of a pair, step by step.

use anyhow::{bail, Result};
use clap::Args;

use super::{load, print, today, ConfigArg};
use crate::check;
use crate::rules::PairContext;
use crate::snapshot::Path;

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Pair the path belongs to.
    #[arg(long)]
    pair: String,
    /// Source the path belongs to (may be omitted when the pair compares one source).
    #[arg(long)]
    source: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Canonical path, segments joined by `/` (e.g. schema/tables/main.orders/indexes/orders_customer_id_idx).
    path: String,
}

/// Runs `explain`.
pub fn run(args: ExplainArgs) -> Result<u8> {
    let loaded = load(&args.config.config)?;
    let pair = check::select_pairs(&loaded.config, Some(&args.pair))?[0];
    let sources = loaded.config.compared_sources(pair);
    let source = match (&args.source, sources.as_slice()) {
        (Some(s), _) if sources.contains(s) => s.clone(),
        (Some(s), _) => bail!(
            "pair {} compares no source named {s:?} (sources: {})",
            pair.name,
            sources.join(", ")
        ),
        (None, [only]) => only.clone(),
        (None, _) => bail!(
            "pair {} compares several sources; name one with --source ({})",
            pair.name,
            sources.join(", ")
        ),
    };
    let path = Path::parse(&args.path)?;
    let ctx = PairContext {
        pair: &pair.name,
        baseline: &pair.baseline,
        candidate: &pair.candidate,
        source: &source,
    };
    let explanation = loaded.rules.explain(&ctx, &path, today());
    if args.json {
        print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&explanation)?
        ))?;
        return Ok(0);
    }
    let mut out = format!("{}: {} / {}\n", pair.name, source, explanation.path);
    for step in &explanation.steps {
        let mark = if step.matched { "→" } else { " " };
        out.push_str(&format!(
            "  {mark} {:<28} {:<28} {}\n",
            step.rule, step.origin, step.why
        ));
    }
    out.push_str(&format!(
        "Decided by rule {}: expect {}, severity {}.\n",
        explanation.decided_by, explanation.expectation, explanation.severity
    ));
    print(&out)?;
    Ok(0)
}
