//! Why a collection failed. A failed collection is never a snapshot.

use std::time::Duration;

/// A collection that produced no snapshot. Messages never carry secrets nor raw control
/// characters: targets and texts from drivers pass through `mask` on construction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    /// The whole collection ran past its timeout.
    #[error("timed out after {}", humantime::format_duration(*after))]
    Timeout {
        /// The limit that was hit.
        after: Duration,
    },
    /// The source could not be reached or opened (missing file, refused connection, DNS).
    #[error("{target}: cannot connect: {message}{}", hint_suffix(hint))]
    Connect {
        /// File path or redacted URL.
        target: String,
        /// What went wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The source refused our credentials.
    #[error("{target}: authentication failed: {message}")]
    Auth {
        /// File path or redacted URL.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// A query, request or command failed after connecting.
    #[error("{target}: {message}")]
    Query {
        /// File path, redacted URL or program.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The source answered, but what it said could not be read.
    #[error("{target}{}: {message}", location(*line, *column))]
    Parse {
        /// File path, redacted URL or program.
        target: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What went wrong.
        message: String,
    },
}

/// Whether a driver error means the connection itself failed (the server went away, is
/// restarting or shutting down, the network broke), as opposed to the statement failing: the
/// source is unreachable (`connect`), not misconfigured.
pub fn is_connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
            // cannot connect now (starting up, in recovery); 57P05: idle session timeout.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "57P05")
        }),
        _ => false,
    }
}

/// What a statement cancelled by another session says: `pg_cancel_backend` or a query killer
/// stopped `what` after `elapsed`, before our own time limit (`limit`) could.
pub fn cancelled_by_another_session(
    what: &str,
    elapsed: Duration,
    limit: &str,
    error: &dyn std::fmt::Display,
) -> String {
    // Whole milliseconds: "1s 234ms", not nanoseconds.
    let elapsed = Duration::from_millis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    format!(
        "{what}: cancelled by another session after {} (pg_cancel_backend or a query killer), \
         before {limit}: {error}",
        humantime::format_duration(elapsed)
    )
}

/// Hint of a connection lost in the middle of a collection.
pub const LOST_HINT: &str =
    "the connection was lost mid-collection: is the server restarting, failing over or unreachable?";

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default()
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// Masks passwords, and escapes control characters (but newline and tab) and bidi overrides:
/// messages quote what sources said (a command's stderr, a server's error, a file's bytes) and
/// end up in logs and terminals, where `ESC [2J` or a carriage return must stay text.
fn mask(text: impl AsRef<str>) -> String {
    // A carriage return is escaped here, not by `visible`, which keeps a line break after it.
    let masked = crate::snapshot::redact::mask_for_log(text.as_ref()).replace('\r', "\\u{d}");
    crate::diff::text::visible(&masked).into_owned()
}

impl CollectError {
    /// The metric label: `timeout`, `connect`, `auth`, `query` or `parse`.
    pub fn reason(&self) -> &'static str {
        match self {
            CollectError::Timeout { .. } => "timeout",
            CollectError::Connect { .. } => "connect",
            CollectError::Auth { .. } => "auth",
            CollectError::Query { .. } => "query",
            CollectError::Parse { .. } => "parse",
        }
    }

    /// A connect error; `target` and `message` are masked.
    pub fn connect(target: impl AsRef<str>, message: impl AsRef<str>, hint: Option<&str>) -> Self {
        CollectError::Connect {
            target: mask(target),
            message: mask(message),
            hint: hint.map(str::to_string),
        }
    }

    /// An authentication error; `target` and `message` are masked.
    pub fn auth(target: impl AsRef<str>, message: impl AsRef<str>) -> Self {
        CollectError::Auth {
            target: mask(target),
            message: mask(message),
        }
    }

    /// A query error; `target` and `message` are masked.
    pub fn query(target: impl AsRef<str>, message: impl AsRef<str>) -> Self {
        CollectError::Query {
            target: mask(target),
            message: mask(message),
        }
    }

    /// A parse error at an optional line/column; `target` and `message` are masked.
    pub fn parse(
        target: impl AsRef<str>,
        line: Option<usize>,
        column: Option<usize>,
        message: impl AsRef<str>,
    ) -> Self {
        CollectError::Parse {
            target: mask(target),
            line,
            column,
            message: mask(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_told_apart_from_a_failed_statement() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_connection_lost(&sqlx::Error::Io(reset)));
        assert!(is_connection_lost(&sqlx::Error::PoolTimedOut));
        assert!(!is_connection_lost(&sqlx::Error::RowNotFound));
        assert!(!is_connection_lost(&sqlx::Error::ColumnNotFound(
            "x".into()
        )));
    }

    #[test]
    fn reasons_are_the_metric_labels_and_messages_hide_passwords() {
        let err = CollectError::connect(
            "postgres://app:hunter2@db/shop",
            "refused",
            Some("is it up?"),
        );
        assert_eq!(err.reason(), "connect");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.ends_with("(hint: is it up?)"));
        let err = CollectError::parse(
            "config/app.yaml",
            Some(3),
            Some(7),
            "did not find expected key",
        );
        assert_eq!(
            err.to_string(),
            "config/app.yaml:3:7: did not find expected key"
        );
        assert_eq!(
            CollectError::Timeout {
                after: Duration::from_secs(30)
            }
            .to_string(),
            "timed out after 30s"
        );
    }
}
