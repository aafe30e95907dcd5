//! Row counts: `reltuples` estimates from the relations query, or exact `count(*)` on a few
//! extra connections (each statement under the session's `statement_timeout`).
//!
//! A count that times out or is not permitted becomes an error leaf for that table
//! (`"error: …"`), never 0 and never a silent gap: the rules then report it as a change.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::task::JoinSet;
use tracing::debug;

use super::relations::TableRef;
use super::session::{connect_error, is_lock_timeout, is_statement_timeout, query_error, Limits};
use crate::collectors::error::cancelled_by_another_session;
use crate::collectors::CollectError;
use crate::config::{RowCountMode, SqlOptions};
use crate::snapshot::Node;

/// SQLSTATE of a missing privilege.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// How each table is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// From the estimate (`None`: never analyzed, unknown).
    Estimate(Option<i64>),
    /// With `count(*)`.
    Exact,
}

/// The plan for one table under `options`.
pub fn plan(options: &SqlOptions, table: &TableRef) -> Plan {
    match options.row_counts {
        RowCountMode::Exact => Plan::Exact,
        RowCountMode::Estimate | RowCountMode::Off => Plan::Estimate(table.estimate),
        // An unknown estimate (never analyzed) is usually a new, small table: count it; the
        // statement timeout bounds the cost if it is not.
        RowCountMode::Auto => match table.estimate {
            Some(rows) if u64::try_from(rows).unwrap_or(0) >= options.exact_below => {
                Plan::Estimate(Some(rows))
            }
            _ => Plan::Exact,
        },
    }
}

/// One exact count waiting for a connection.
struct Job {
    key: String,
    quoted: String,
}

/// Counts of the tables allowed by `row_counts_filter`, as `rows/<schema.table>` leaves.
/// Returns the node and how many statements the exact counts sent.
pub async fn count(
    connect: &sqlx::postgres::PgConnectOptions,
    target: &str,
    limits: Limits,
    options: &SqlOptions,
    tables: &[TableRef],
) -> Result<(Node, usize), CollectError> {
    let mut node = Node::map();
    let mut jobs = VecDeque::new();
    for table in tables {
        if !options.row_counts_filter.allows(&table.key) {
            continue;
        }
        match plan(options, table) {
            Plan::Estimate(estimate) => node.insert(table.key.clone(), estimate),
            Plan::Exact => jobs.push_back(Job {
                key: table.key.clone(),
                quoted: table.quoted.clone(),
            }),
        }
    }
    let statements = jobs.len();
    if jobs.is_empty() {
        return Ok((node, 0));
    }
    let workers = options.count_concurrency.clamp(1, jobs.len());
    debug!(exact = jobs.len(), workers, "Counting rows exactly.");
    let queue = Arc::new(Mutex::new(jobs));
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let queue = Arc::clone(&queue);
        let connect = connect.clone();
        let target = target.to_string();
        set.spawn(async move { worker(&connect, &target, limits, &queue).await });
    }
    while let Some(joined) = set.join_next().await {
        let counted = joined.map_err(|err| {
            CollectError::query(target, format!("a row-count task failed: {err}"))
        })??;
        for (key, value) in counted {
            node.insert(key, value);
        }
    }
    Ok((node, statements))
}

fn next_job(queue: &Mutex<VecDeque<Job>>) -> Option<Job> {
    // A poisoned queue only means another worker panicked; its jobs are still valid.
    match queue.lock() {
        Ok(mut jobs) => jobs.pop_front(),
        Err(poisoned) => poisoned.into_inner().pop_front(),
    }
}

async fn worker(
    connect: &sqlx::postgres::PgConnectOptions,
    target: &str,
    limits: Limits,
    queue: &Mutex<VecDeque<Job>>,
) -> Result<Vec<(String, Node)>, CollectError> {
    let mut conn = PgConnection::connect_with(connect)
        .await
        .map_err(|err| connect_error(target, &err))?;
    let mut out = Vec::new();
    while let Some(job) = next_job(queue) {
        let value = count_one(&mut conn, target, limits, &job).await?;
        out.push((job.key, value));
    }
    if let Err(err) = conn.close().await {
        debug!(error = %err, "Closing a row-count connection failed.");
    }
    Ok(out)
}

async fn count_one(
    conn: &mut PgConnection,
    target: &str,
    limits: Limits,
    job: &Job,
) -> Result<Node, CollectError> {
    // `quoted` comes from quote_ident on the server: any name is one safe identifier.
    let sql = format!("SELECT count(*) FROM {}", job.quoted);
    let started = Instant::now();
    match sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
    {
        Ok(rows) => Ok(Node::Int(rows)),
        // A table held by another session (a migration's exclusive lock) says nothing about its
        // size: the collection fails (and its comparisons are unknown) rather than record a
        // value that would be reported as drift and resolve when the lock goes.
        Err(err) if is_lock_timeout(&err) || crate::collectors::error::is_connection_lost(&err) => {
            Err(query_error(
                target,
                limits,
                &format!("counting the rows of {}", job.key),
                &err,
            ))
        }
        // `57014` is also what `pg_cancel_backend` (an administrator, a query killer) gives.
        // Cut well before the statement timeout, it was cancelled, which says nothing about the
        // table: the collection fails rather than record a value read as drift.
        Err(err) if is_statement_timeout(&err) && started.elapsed() < limits.statement * 9 / 10 => {
            Err(CollectError::query(
                target,
                cancelled_by_another_session(
                    &format!("counting the rows of {}", job.key),
                    started.elapsed(),
                    "statement_timeout",
                    &err,
                ),
            ))
        }
        Err(err) if is_statement_timeout(&err) => {
            debug!(table = %job.key, "Row count timed out.");
            Ok(Node::str(format!(
                "error: count timed out after {}",
                humantime::format_duration(limits.statement)
            )))
        }
        Err(err)
            if err
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == INSUFFICIENT_PRIVILEGE) =>
        {
            Ok(Node::str("error: permission denied"))
        }
        Err(err) => Err(CollectError::query(
            target,
            format!("counting the rows of {}: {err}", job.key),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(estimate: Option<i64>) -> TableRef {
        TableRef {
            key: "public.t".into(),
            quoted: "public.t".into(),
            estimate,
        }
    }

    #[test]
    fn auto_counts_small_and_unknown_tables_exactly() {
        let options = SqlOptions {
            exact_below: 1_000,
            ..SqlOptions::default()
        };
        assert_eq!(plan(&options, &table(Some(10))), Plan::Exact);
        assert_eq!(plan(&options, &table(None)), Plan::Exact);
        assert_eq!(
            plan(&options, &table(Some(5_000))),
            Plan::Estimate(Some(5_000))
        );
        let estimate = SqlOptions {
            row_counts: RowCountMode::Estimate,
            ..SqlOptions::default()
        };
        assert_eq!(plan(&estimate, &table(None)), Plan::Estimate(None));
    }
}
