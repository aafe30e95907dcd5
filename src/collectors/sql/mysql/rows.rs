//! Row counts: catalog estimates, or exact `COUNT(*)`s run on a few extra read-only sessions
//! at once. A count the server cuts at the statement timeout is reported for its table as an
//! error text, never as 0, and does not fail the whole collection.
//!
//! Small tables are counted in batches (`SELECT … UNION ALL SELECT …`, text protocol: one
//! round trip per batch instead of three per table); a batch that fails or times out is
//! counted again table by table, so the error lands on the table that caused it.
//!
//! A count that waited for a lock (`lock_wait_timeout`: a migration or `LOCK TABLES` holds the
//! table), was killed by another session, or lost its connection fails the collection instead:
//! none of these says anything about the table, and recording it as a value would report a
//! drift that resolves by itself.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::mysql::MySqlConnection;
use sqlx::AssertSqlSafe;
use tokio::task::JoinSet;
use tracing::debug;

use super::catalog::TableInfo;
use super::session::{
    int, is_killed, is_lock_timeout, is_statement_timeout, open_session, query_error, Session,
};
use crate::collectors::CollectError;
use crate::config::{RowCountMode, SqlOptions};
use crate::snapshot::Node;

/// Extra time past the statement timeout before the client gives up on a count itself (for
/// servers that ignore the session's timeout variable).
const CLIENT_GRACE: Duration = Duration::from_secs(2);

/// Tables per batched count statement.
const BATCH: usize = 50;

/// Tables estimated at or above this many rows are counted alone, so one big table cannot
/// push a whole batch past the statement timeout.
const BATCH_BELOW_ROWS: i64 = 10_000;

/// `` `name` `` with backticks doubled: any name becomes a safe quoted identifier.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `rows/` per the configured mode: estimates from `TABLE_ROWS`, exact counts, or exact counts
/// for tables estimated below `exact_below` (auto).
pub async fn row_counts(
    session: &Session,
    tables: &[TableInfo],
    options: &SqlOptions,
) -> Result<Node, CollectError> {
    let mut node = Node::map();
    let (mut small, mut large) = (Vec::new(), Vec::new());
    for table in tables
        .iter()
        .filter(|t| options.row_counts_filter.allows(&t.name))
    {
        let estimate = table.estimated_rows.unwrap_or(0);
        let count_it = match options.row_counts {
            RowCountMode::Off => continue,
            RowCountMode::Estimate => false,
            RowCountMode::Exact => true,
            RowCountMode::Auto => u64::try_from(estimate).unwrap_or(0) < options.exact_below,
        };
        if !count_it {
            node.insert(table.name.clone(), estimate);
        } else if estimate < BATCH_BELOW_ROWS {
            small.push(table.name.clone());
        } else {
            large.push(vec![table.name.clone()]);
        }
    }
    let mut work: Vec<Vec<String>> = large;
    work.extend(small.chunks(BATCH).map(<[String]>::to_vec));
    for (table, count) in exact_counts(session, work, options.count_concurrency).await? {
        node.insert(table, count);
    }
    Ok(node)
}

/// Counts batches of tables on up to `concurrency` sessions of their own.
async fn exact_counts(
    session: &Session,
    batches: Vec<Vec<String>>,
    concurrency: usize,
) -> Result<Vec<(String, Node)>, CollectError> {
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let workers = concurrency.clamp(1, batches.len());
    let queue = Arc::new(Mutex::new(VecDeque::from(batches)));
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let worker = Worker {
            options: session.options.clone(),
            target: session.target.clone(),
            schema: session.schema.clone(),
            timeout: session.statement_timeout,
            queries: Arc::clone(&session.queries),
            queue: Arc::clone(&queue),
        };
        set.spawn(worker.run());
    }
    let mut counts = Vec::new();
    while let Some(joined) = set.join_next().await {
        let done = joined.map_err(|err| {
            CollectError::query(&session.target, format!("a row-count task failed: {err}"))
        })??;
        counts.extend(done);
    }
    Ok(counts)
}

/// One counting session: takes batches off the shared queue until it is empty.
struct Worker {
    options: sqlx::mysql::MySqlConnectOptions,
    target: String,
    schema: String,
    timeout: Duration,
    queries: Arc<std::sync::atomic::AtomicU64>,
    queue: Arc<Mutex<VecDeque<Vec<String>>>>,
}

impl Worker {
    fn next(&self) -> Option<Vec<String>> {
        // A poisoned lock only means another worker panicked; the queue itself is intact.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    async fn connect(&self) -> Result<MySqlConnection, CollectError> {
        let (conn, _, _) =
            open_session(&self.options, &self.target, self.timeout, &self.queries).await?;
        Ok(conn)
    }

    async fn run(self) -> Result<Vec<(String, Node)>, CollectError> {
        let mut out = Vec::new();
        let mut conn: Option<MySqlConnection> = None;
        while let Some(batch) = self.next() {
            match self.attempt(&mut conn, &batch).await? {
                Ok(counts) => out.extend(batch.into_iter().zip(counts.into_iter().map(Node::Int))),
                Err(reason) if batch.len() == 1 => {
                    out.extend(batch.into_iter().map(|t| (t, Node::str(reason.clone()))))
                }
                // Count the batch again table by table to pin the failure on its table.
                Err(_) => {
                    for table in batch {
                        let value = match self
                            .attempt(&mut conn, std::slice::from_ref(&table))
                            .await?
                        {
                            Ok(counts) => Node::Int(counts.first().copied().unwrap_or_default()),
                            Err(reason) => Node::str(reason),
                        };
                        out.push((table, value));
                    }
                }
            }
        }
        if let Some(conn) = conn {
            if let Err(err) = sqlx::Connection::close(conn).await {
                debug!(error = %err, "Closing a row-count session failed.");
            }
        }
        Ok(out)
    }

    /// Counts `tables` in one statement: the counts in order, or why they could not be had
    /// (`error: …`). A failure to open a session, and a lock wait or lost connection on a
    /// single table, are errors of the whole collection; on a batch they ask for a recount
    /// table by table, so the error names its table.
    async fn attempt(
        &self,
        conn: &mut Option<MySqlConnection>,
        tables: &[String],
    ) -> Result<Result<Vec<i64>, String>, CollectError> {
        let active = match conn.as_mut() {
            Some(active) => active,
            None => conn.insert(self.connect().await?),
        };
        let sql = tables
            .iter()
            .enumerate()
            .map(|(i, table)| {
                format!(
                    "SELECT {i} AS k, COUNT(*) AS n FROM {}.{}",
                    quote(&self.schema),
                    quote(table)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let timed_out = || {
            format!(
                "error: count timed out after {}",
                humantime::format_duration(self.timeout)
            )
        };
        let fetched = tokio::time::timeout(
            self.timeout + CLIENT_GRACE,
            sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(&mut *active),
        )
        .await;
        self.queries.fetch_add(1, Ordering::Relaxed);
        let rows = match fetched {
            Ok(Ok(rows)) => rows,
            Ok(Err(err)) if is_statement_timeout(&err) => return Ok(Err(timed_out())),
            Ok(Err(err))
                if is_lock_timeout(&err)
                    || is_killed(&err)
                    || crate::collectors::error::is_connection_lost(&err) =>
            {
                // The session may be gone (lost, killed): the next batch opens a fresh one.
                *conn = None;
                return match tables {
                    [table] => Err(query_error(
                        &self.target,
                        &format!("counting the rows of {}", quote(table)),
                        err,
                    )),
                    _ => Ok(Err(format!("error: {err}"))),
                };
            }
            Ok(Err(err)) => return Ok(Err(format!("error: {err}"))),
            Err(_) => {
                // The connection is mid-statement: drop it and reconnect for the next.
                *conn = None;
                return Ok(Err(timed_out()));
            }
        };
        let mut counts = vec![None; tables.len()];
        for row in &rows {
            let k = int(row, "k", &self.target)?.and_then(|k| usize::try_from(k).ok());
            let n = int(row, "n", &self.target)?;
            if let Some(slot) = k.and_then(|k| counts.get_mut(k)) {
                *slot = n;
            }
        }
        debug!(tables = tables.len(), "Counted MySQL rows.");
        Ok(counts
            .into_iter()
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| "error: the server returned no count".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_backtick_quoted_with_backticks_doubled() {
        assert_eq!(quote("orders"), "`orders`");
        assert_eq!(quote("a`b"), "`a``b`");
        assert_eq!(quote("x`; DROP TABLE y; --"), "`x``; DROP TABLE y; --`");
    }
}
