//! `driftwarden diff`: the raw changes of a pair, before rules (what the engine sees).

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use super::ConfigArg;
use super::{load, print, progress};
use crate::check::{self, collect::collect_all};
use crate::diff::diff;
use crate::report::text::short;

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Pair to diff.
    #[arg(long)]
    pair: String,
    /// Only this source.
    #[arg(long)]
    source: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `diff`.
pub async fn run(args: DiffArgs, quiet: bool) -> Result<u8> {
    let loaded = load(&args.config.config)?;
    let pairs = check::select_pairs(&loaded.config, Some(&args.pair))?;
    let pair = pairs[0];
    let mut wanted = check::sources_of(&loaded.config, &pairs);
    if let Some(only) = &args.source {
        wanted.retain(|(_, s)| s == only);
        if wanted.is_empty() {
            bail!("pair {} compares no source named {only:?}", pair.name);
        }
    }
    let results = collect_all(
        &loaded.config,
        &wanted,
        loaded.redactor.clone(),
        progress::for_terminal(quiet),
    )
    .await;
    let mut text = String::new();
    let mut all = serde_json::Map::new();
    let mut code = 0;
    for source in loaded
        .config
        .compared_sources(pair)
        .into_iter()
        .filter(|s| args.source.as_ref().is_none_or(|o| o == s))
    {
        let get = |env: &str| results.get(&(env.to_string(), source.clone()));
        match (get(&pair.baseline), get(&pair.candidate)) {
            (Some(Ok(b)), Some(Ok(c))) => {
                let changes = diff(&b.tree, &c.tree);
                text.push_str(&format!(
                    "{source}: {} change{}\n",
                    changes.len(),
                    if changes.len() == 1 { "" } else { "s" }
                ));
                for change in &changes {
                    let values = match (&change.baseline, &change.candidate) {
                        (Some(b), Some(c)) => format!("{} → {}", short(b), short(c)),
                        (Some(b), None) => short(b),
                        (None, Some(c)) => short(c),
                        (None, None) => String::new(),
                    };
                    text.push_str(&format!(
                        "  {:<8} {}  {values}\n",
                        change.kind.as_str(),
                        crate::diff::text::visible(&change.path.to_string())
                    ));
                }
                all.insert(source.clone(), serde_json::to_value(&changes)?);
            }
            (b, c) => {
                code = 2;
                for (env, result) in [(&pair.baseline, b), (&pair.candidate, c)] {
                    if let Some(Err(e)) = result {
                        eprintln!("error: {env}/{source} [{}]: {e}", e.reason());
                    }
                }
            }
        }
    }
    if args.json {
        print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({ "pair": pair.name, "sources": all }))?
        ))?;
    } else {
        print(&text)?;
    }
    Ok(code)
}
