//! `driftwarden run`: the daemon, until SIGTERM/SIGINT (SIGHUP reloads).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::ConfigArg;
use crate::app::{Daemon, DaemonOptions};

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Listen address, overriding `[server] listen` (default 127.0.0.1:9977).
    #[arg(long, env = "DRIFTWARDEN_LISTEN")]
    listen: Option<SocketAddr>,
    /// How long in-flight collections may finish after a stop signal.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// This replica's name when several share one store (default: the host name).
    #[arg(long, env = "DRIFTWARDEN_REPLICA")]
    replica: Option<String>,
}

/// Runs the daemon.
pub async fn run(args: RunArgs) -> Result<u8> {
    serve(
        &args.config.config,
        DaemonOptions {
            listen: args.listen,
            shutdown_grace: args.shutdown_grace,
            replica: args.replica,
        },
        None,
    )
    .await
}

/// Builds and runs the daemon on `config`, printing where to look; `intro` is printed first.
pub async fn serve(config: &Path, options: DaemonOptions, intro: Option<String>) -> Result<u8> {
    let daemon = Daemon::build(config, options).await?;
    let addr = daemon.addr().context("reading the bound address")?;
    let shutdown = CancellationToken::new();
    crate::shutdown::install(shutdown.clone(), daemon.state().reloads.clone())
        .context("installing signal handlers")?;
    let mut text = intro.unwrap_or_default();
    text.push_str(&format!(
        "driftwarden is watching (config {}).\n  dashboard: http://{addr}/\n  metrics:   http://{addr}/metrics\n  findings:  http://{addr}/api/v1/findings?state=open\n  sources:   http://{addr}/api/v1/sources\n  health:    http://{addr}/readyz\nStop with Ctrl-C; reload config and rules with SIGHUP or POST /api/v1/reload.\n",
        config.display()
    ));
    super::print(&text)?;
    daemon
        .run_until_stopped(shutdown)
        .await
        .context("serving HTTP")?;
    Ok(0)
}
