//! Progress on stderr while sources are collected: only on a terminal and never under CI.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::check::{Progress, Silent};
use crate::collectors::CollectError;
use crate::snapshot::Snapshot;

/// A spinner per (environment, source).
struct Spinners {
    multi: MultiProgress,
    // A std mutex is right here: it is held only to insert/remove a bar, never across .await.
    bars: Mutex<HashMap<(String, String), ProgressBar>>,
}

/// Spinners when stderr is a terminal, `quiet` is off and `CI` is unset; otherwise nothing.
pub fn for_terminal(quiet: bool) -> Arc<dyn Progress> {
    let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if quiet || !interactive {
        return Arc::new(Silent);
    }
    Arc::new(Spinners {
        multi: MultiProgress::new(),
        bars: Mutex::new(HashMap::new()),
    })
}

impl Progress for Spinners {
    fn started(&self, environment: &str, source: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("collecting {environment}/{source}"));
        bar.enable_steady_tick(Duration::from_millis(100));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert((environment.to_string(), source.to_string()), bar);
        }
    }

    fn finished(&self, environment: &str, source: &str, outcome: Result<&Snapshot, &CollectError>) {
        let bar = self
            .bars
            .lock()
            .ok()
            .and_then(|mut bars| bars.remove(&(environment.to_string(), source.to_string())));
        if let Some(bar) = bar {
            let message = match outcome {
                Ok(s) => format!(
                    "✓ {environment}/{source}: {} leaves in {:.1}s",
                    s.tree.leaf_count(),
                    s.duration_seconds
                ),
                Err(e) => format!("✗ {environment}/{source}: {}", e.reason()),
            };
            bar.finish_and_clear();
            // Progress is best effort: a failed draw must not fail the check.
            self.multi.println(message).unwrap_or_default();
        }
    }
}
