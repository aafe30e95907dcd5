//! Signals: SIGTERM/SIGINT stop the daemon gracefully (a second one exits at once); SIGHUP
//! asks for a reload.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::state::ReloadRequest;

/// Spawns the signal listener. Returns an error when signal handlers cannot be installed.
pub fn install(
    shutdown: CancellationToken,
    reloads: mpsc::Sender<ReloadRequest>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {
                    info!("SIGHUP: reloading config and rules.");
                    let (reply, _answer) = tokio::sync::oneshot::channel();
                    if reloads.send(reply).await.is_err() {
                        warn!("Reload requested while stopping; ignored.");
                    }
                    continue;
                }
            }
            if shutdown.is_cancelled() {
                warn!("Second stop signal: exiting now.");
                // A second signal means "now": skip the grace period and every destructor.
                #[allow(clippy::disallowed_methods)]
                std::process::exit(130);
            }
            info!("Stop signal received.");
            shutdown.cancel();
        }
    });
    Ok(())
}
