//! Command collector: runs a program (no shell) and turns the JSON it prints on stdout into a
//! tree.
//!
//! The child runs in its own process group, and the whole group is killed when the collection
//! future is dropped before the command finished (the caller's timeout), so background children
//! such as `sh -c 'sleep 100 &'` die with it. stdout is read up to `max_bytes`; only the tail of stderr is
//! kept, for the error message of a failed run. Arguments are never logged: they may carry
//! credentials.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::debug;

use crate::collectors::document::json_tree;
use crate::collectors::CollectError;
use crate::snapshot::redact::mask_for_log;
use crate::snapshot::Tree;

/// Lines of stderr quoted when a command fails.
pub const STDERR_LINES: usize = 5;

/// Characters of stderr quoted when a command fails.
pub const STDERR_CHARS: usize = 500;

/// Bytes of stderr kept while the command runs (the rest is read and dropped).
const STDERR_KEEP: usize = 16 * 1024;

/// Runs a program and parses its JSON stdout into a tree.
pub async fn collect(
    argv: &[String],
    dir: &Path,
    pointer: Option<&str>,
    max_bytes: u64,
) -> Result<Tree, CollectError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(CollectError::query("command", "the command line is empty"));
    };
    let target = program.as_str();
    if !tokio::fs::metadata(dir).await.is_ok_and(|m| m.is_dir()) {
        return Err(CollectError::connect(
            target,
            format!("working directory {} does not exist", dir.display()),
            None,
        ));
    }
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    debug!(program = %mask_for_log(target), args = args.len(), "Running command.");
    let mut child = command.spawn().map_err(|err| spawn_error(&err, target))?;
    let mut group = GroupKill::new(child.id());

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // Both pipes are drained together so a chatty stderr cannot block the child.
    let read = tokio::try_join!(read_capped(stdout, max_bytes), read_tail(stderr));
    let (stdout, stderr) = match read {
        Ok(output) => output,
        Err(failure) => {
            if let Err(err) = child.kill().await {
                debug!(%err, "Could not kill the command.");
            }
            return Err(match failure {
                ReadFailure::TooBig => {
                    CollectError::query(target, format!("stdout exceeds {max_bytes} bytes"))
                }
                ReadFailure::Io(err) => {
                    CollectError::query(target, format!("cannot read the output: {err}"))
                }
            });
        }
    };
    let status = child.wait().await.map_err(|err| {
        CollectError::query(target, format!("cannot wait for the command: {err}"))
    })?;
    // The command finished on its own: its group is no longer ours to kill.
    group.disarm();
    debug!(program = %mask_for_log(target), %status, bytes = stdout.len(), "Command finished.");
    if !status.success() {
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => format!("was stopped ({status})"),
        };
        return Err(CollectError::query(
            target,
            format!("{how}: {}", stderr_excerpt(&stderr)),
        ));
    }
    let hint = if stdout.iter().all(u8::is_ascii_whitespace) {
        "the command printed nothing on stdout"
    } else {
        "the command did not print JSON"
    };
    json_tree(&stdout, target, pointer, hint)
}

/// Kills a command's process group when dropped while armed (timeout, error paths).
struct GroupKill {
    pgid: Option<u32>,
}

impl GroupKill {
    fn new(pid: Option<u32>) -> Self {
        GroupKill { pgid: pid }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.and_then(|p| i32::try_from(p).ok()) {
            use nix::sys::signal::{killpg, Signal};
            if let Err(err) = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL) {
                debug!(%err, "The command's process group was already gone.");
            }
        }
    }
}

fn spawn_error(err: &std::io::Error, target: &str) -> CollectError {
    match err.kind() {
        ErrorKind::NotFound => CollectError::connect(
            target,
            "program not found",
            Some("check the program name and PATH; no shell is used, so write [\"sh\", \"-c\", \"...\"] for shell syntax"),
        ),
        ErrorKind::PermissionDenied => CollectError::connect(
            target,
            "permission denied",
            Some("is the program executable by this user?"),
        ),
        _ => CollectError::connect(target, format!("cannot start the program: {err}"), None),
    }
}

enum ReadFailure {
    TooBig,
    Io(std::io::Error),
}

/// Reads a pipe to its end, failing as soon as it holds more than `max_bytes`.
async fn read_capped(
    pipe: Option<impl AsyncRead + Unpin>,
    max_bytes: u64,
) -> Result<Vec<u8>, ReadFailure> {
    let mut out = Vec::new();
    if let Some(pipe) = pipe {
        pipe.take(max_bytes.saturating_add(1))
            .read_to_end(&mut out)
            .await
            .map_err(ReadFailure::Io)?;
    }
    if out.len() as u64 > max_bytes {
        return Err(ReadFailure::TooBig);
    }
    Ok(out)
}

/// Reads a pipe to its end, keeping only its last [`STDERR_KEEP`] bytes.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>) -> Result<Vec<u8>, ReadFailure> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(kept);
    };
    let mut buffer = vec![0; 8192];
    loop {
        let n = pipe.read(&mut buffer).await.map_err(ReadFailure::Io)?;
        if n == 0 {
            return Ok(kept);
        }
        kept.extend_from_slice(&buffer[..n]);
        if kept.len() > 2 * STDERR_KEEP {
            kept.drain(..kept.len() - STDERR_KEEP);
        }
    }
}

/// The last [`STDERR_LINES`] non-blank lines of stderr, at most [`STDERR_CHARS`] characters,
/// joined by ` | ` and with passwords masked.
fn stderr_excerpt(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return "(nothing on stderr)".to_string();
    }
    let joined = lines[lines.len().saturating_sub(STDERR_LINES)..].join(" | ");
    let count = joined.chars().count();
    let excerpt = if count > STDERR_CHARS {
        let tail: String = joined.chars().skip(count - (STDERR_CHARS - 1)).collect();
        format!("…{tail}")
    } else {
        joined
    };
    mask_for_log(&excerpt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_excerpts_keep_the_last_lines_and_mask_passwords() {
        let stderr = b"one\ntwo\n\nthree\nfour\nfive\nsix: postgres://u:hunter2@db/x\n";
        let excerpt = stderr_excerpt(stderr);
        assert_eq!(
            excerpt,
            "two | three | four | five | six: postgres://u:***@db/x"
        );
        let long = "x".repeat(2000);
        let excerpt = stderr_excerpt(long.as_bytes());
        assert_eq!(excerpt.chars().count(), STDERR_CHARS);
        assert!(excerpt.starts_with('…'));
        assert_eq!(stderr_excerpt(b"\n \n"), "(nothing on stderr)");
    }
}
