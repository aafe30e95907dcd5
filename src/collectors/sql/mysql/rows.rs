//! Row counts: catalog estimates, or exact `COUNT(*)`s run on a few extra read-only sessions
//! at once. A count the server cuts at the statement timeout is reported for its table as an
//! error text, never as 0, and does not fail the whole collection.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::mysql::MySqlConnection;
use sqlx::AssertSqlSafe;
use tokio::task::JoinSet;
use tracing::debug;

use super::catalog::TableInfo;
use super::session::{is_statement_timeout, open_session, Session};
use crate::collectors::CollectError;
use crate::config::{RowCountMode, SqlOptions};
use crate::snapshot::Node;

/// Extra time past the statement timeout before the client gives up on a count itself (for
/// servers that ignore the session's timeout variable).
const CLIENT_GRACE: Duration = Duration::from_secs(2);

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
    let mut exact = Vec::new();
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
        if count_it {
            exact.push(table.name.clone());
        } else {
            node.insert(table.name.clone(), estimate);
        }
    }
    for (table, count) in exact_counts(session, exact, options.count_concurrency).await? {
        node.insert(table, count);
    }
    Ok(node)
}

/// Counts `tables` on up to `concurrency` sessions of their own.
async fn exact_counts(
    session: &Session,
    tables: Vec<String>,
    concurrency: usize,
) -> Result<Vec<(String, Node)>, CollectError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let workers = concurrency.clamp(1, tables.len());
    let queue = Arc::new(Mutex::new(VecDeque::from(tables)));
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

/// One counting session: takes tables off the shared queue until it is empty.
struct Worker {
    options: sqlx::mysql::MySqlConnectOptions,
    target: String,
    schema: String,
    timeout: Duration,
    queries: Arc<std::sync::atomic::AtomicU64>,
    queue: Arc<Mutex<VecDeque<String>>>,
}

impl Worker {
    fn next(&self) -> Option<String> {
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
        while let Some(table) = self.next() {
            let active = match conn.as_mut() {
                Some(active) => active,
                None => conn.insert(self.connect().await?),
            };
            let sql = format!(
                "SELECT COUNT(*) FROM {}.{}",
                quote(&self.schema),
                quote(&table)
            );
            let counted = tokio::time::timeout(
                self.timeout + CLIENT_GRACE,
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).fetch_one(&mut *active),
            )
            .await;
            self.queries.fetch_add(1, Ordering::Relaxed);
            let value = match counted {
                Ok(Ok(count)) => Node::Int(count),
                Ok(Err(err)) if is_statement_timeout(&err) => Node::str(format!(
                    "error: count timed out after {}",
                    humantime::format_duration(self.timeout)
                )),
                Ok(Err(err)) => Node::str(format!("error: {err}")),
                Err(_) => {
                    // The connection is mid-statement: drop it and reconnect for the next.
                    conn = None;
                    Node::str(format!(
                        "error: count timed out after {}",
                        humantime::format_duration(self.timeout)
                    ))
                }
            };
            debug!(table = %table, rows = %value, "Counted MySQL rows.");
            out.push((table, value));
        }
        if let Some(conn) = conn {
            if let Err(err) = sqlx::Connection::close(conn).await {
                debug!(error = %err, "Closing a row-count session failed.");
            }
        }
        Ok(out)
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
