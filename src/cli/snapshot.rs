//! `driftwarden snapshot`: collect one environment (or source) and print its canonical tree.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use clap::Args;

use super::{load, print, progress, ConfigArg};
use crate::check::collect::collect_all;
use crate::snapshot::Node;

/// Arguments of `snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Environment to collect.
    #[arg(long)]
    env: String,
    /// Only this source; the output is then its tree alone.
    #[arg(long)]
    source: Option<String>,
}

/// Runs `snapshot`.
pub async fn run(args: SnapshotArgs, quiet: bool) -> Result<u8> {
    let loaded = load(&args.config.config)?;
    let Some(env) = loaded.config.environments.get(&args.env) else {
        let known: Vec<&str> = loaded
            .config
            .environments
            .keys()
            .map(String::as_str)
            .collect();
        bail!(
            "no environment named {:?} in {} (environments: {})",
            args.env,
            args.config.config.display(),
            known.join(", ")
        );
    };
    let names: Vec<String> = match &args.source {
        Some(name) if env.sources.contains_key(name) => vec![name.clone()],
        Some(name) => bail!(
            "environment {} has no source {:?} (sources: {})",
            args.env,
            name,
            env.sources.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => env.sources.keys().cloned().collect(),
    };
    let wanted: BTreeSet<_> = names
        .iter()
        .map(|n| (args.env.clone(), n.clone()))
        .collect();
    let results = collect_all(
        &loaded.config,
        &wanted,
        loaded.redactor.clone(),
        progress::for_terminal(quiet),
    )
    .await;
    let mut trees = Node::map();
    let mut failed = false;
    for ((_, name), result) in results {
        match result {
            Ok(snapshot) => trees.insert(name, snapshot.tree),
            Err(e) => {
                failed = true;
                eprintln!("error: {}/{} [{}]: {e}", args.env, name, e.reason());
            }
        }
    }
    if failed {
        return Ok(2);
    }
    let output = match (&args.source, trees) {
        (Some(name), Node::Map(mut map)) => map.remove(name).unwrap_or_default(),
        (_, all) => all,
    };
    print(&format!("{}\n", serde_json::to_string_pretty(&output)?))?;
    Ok(0)
}
