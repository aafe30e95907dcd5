//! `driftwarden signoff`: records that a pair's current snapshots may ship, refused while
//! findings at or above `--fail-on` are open unless each is accepted with a reason.

use anyhow::Result;
use chrono::Utc;
use clap::Args;

use super::check::parse_severity;
use super::{load, print, progress, today, ConfigArg};
use crate::check;
use crate::rules::Severity;
use crate::signoff::{self, Acceptance, Refusal, SignoffRequest};
use crate::store::Store;

/// Arguments of `signoff`.
#[derive(Debug, Args)]
pub struct SignoffArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The pair signed off.
    #[arg(long)]
    pair: String,
    /// Who signs off (name or e-mail).
    #[arg(long)]
    by: String,
    /// Release, ticket or any remark.
    #[arg(long, default_value = "")]
    note: String,
    /// Findings at or above this severity must be fixed or accepted.
    #[arg(long, default_value = "warning", value_parser = parse_severity)]
    fail_on: Severity,
    /// Accept an open finding by fingerprint (repeatable; each needs a --reason, in order).
    #[arg(long = "accept", value_name = "FINGERPRINT")]
    accept: Vec<String>,
    /// Why the finding of the matching --accept may ship (one per --accept, or one for all).
    #[arg(long = "reason", value_name = "TEXT")]
    reason: Vec<String>,
    /// Sign off the latest snapshots in the store instead of collecting now.
    #[arg(long)]
    from_store: bool,
}

/// Runs `signoff`: exit 0 when recorded, 1 when refused for findings, 2 when unknown or invalid.
pub async fn run(args: SignoffArgs, quiet: bool) -> Result<u8> {
    let accept = pair_acceptances(&args.accept, &args.reason)?;
    let loaded = load(&args.config.config)?;
    let pairs = check::select_pairs(&loaded.config, Some(&args.pair))?;
    let store = Store::open(loaded.config.store.url.expose()).await?;
    let (results, ids) = if args.from_store {
        check::stored::load_latest(&store, &loaded.config, &pairs).await?
    } else {
        let results = check::collect(
            &loaded.config,
            loaded.redactor.clone(),
            &pairs,
            progress::for_terminal(quiet),
        )
        .await;
        // The record points at stored snapshots, so what was signed off can be shown later.
        let ids = check::stored::save_all(&store, &results).await?;
        (results, ids)
    };
    let report = check::compare(&loaded.config, &loaded.rules, &pairs, &results, today()).await;
    let Some(pair) = report.pairs.first() else {
        anyhow::bail!("no pair named {:?}", args.pair);
    };
    let request = SignoffRequest {
        by: args.by,
        note: args.note,
        fail_on: Some(args.fail_on),
        accept,
    };
    let code = match signoff::decide(pair, &ids, &request, Utc::now()) {
        Ok(record) => {
            let saved = store.save_signoff(&record).await?;
            print(&format!(
                "Signed off {} ({} vs {}) by {} as sign-off #{}: {} snapshot(s), {} finding(s) open, {} accepted.\n",
                saved.pair,
                saved.candidate,
                saved.baseline,
                saved.by,
                saved.id,
                saved.snapshots.len(),
                saved.findings.len(),
                saved.accepted.len()
            ))?;
            0
        }
        Err(refusal) => {
            eprintln!("error: sign-off refused: {refusal}");
            match refusal {
                Refusal::Blocked { .. } | Refusal::UnknownAcceptance(_) => 1,
                Refusal::Unknown { .. } | Refusal::Invalid(_) => 2,
            }
        }
    };
    store.close().await;
    Ok(code)
}

/// Pairs each `--accept` with its `--reason` (one reason may cover them all).
fn pair_acceptances(accept: &[String], reason: &[String]) -> Result<Vec<Acceptance>> {
    let reasons: Vec<&String> = match (accept.len(), reason.len()) {
        (_, 0) if accept.is_empty() => Vec::new(),
        (n, 1) => std::iter::repeat_n(&reason[0], n).collect(),
        (n, m) if n == m => reason.iter().collect(),
        (n, m) => anyhow::bail!(
            "{n} --accept but {m} --reason: give one --reason per --accept (in the same order), or one for all"
        ),
    };
    Ok(accept
        .iter()
        .zip(reasons)
        .map(|(fingerprint, reason)| Acceptance {
            fingerprint: fingerprint.clone(),
            reason: reason.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_pair_with_acceptances() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pair_acceptances(&a(&["x", "y"]), &a(&["r"])).unwrap().len(),
            2
        );
        let pairs = pair_acceptances(&a(&["x", "y"]), &a(&["r1", "r2"])).unwrap();
        assert_eq!(pairs[1].reason, "r2");
        assert!(pair_acceptances(&a(&["x"]), &a(&[])).is_err());
        assert!(pair_acceptances(&a(&["x", "y", "z"]), &a(&["1", "2"])).is_err());
        assert!(pair_acceptances(&[], &[]).unwrap().is_empty());
    }
}
