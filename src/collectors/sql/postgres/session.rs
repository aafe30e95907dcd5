//! The read-only session: connection options, the statement counter and error classification.
//!
//! Every statement the collector sends goes through [`Session`], so the count of statements is
//! exact (the benchmark checks that it stays flat as the schema grows) and every driver error
//! becomes a [`CollectError`] that names what was being read, never the password.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow};
use sqlx::{Connection, Decode, Postgres, Row, Type};
use tracing::{debug, trace};

use crate::collectors::CollectError;
use crate::config::{Secret, SqlOptions};
use crate::glob::{to_sql_like, NameFilter};

/// The `application_name` of every session, so DBAs can see (and grant to) the auditor.
pub const APPLICATION_NAME: &str = "driftwarden";

/// Longest wait for a lock. Waiting behind a migration's exclusive lock would make every later
/// reader queue behind us, so lock waits are kept short whatever the statement timeout.
const LOCK_TIMEOUT_CAP: Duration = Duration::from_secs(5);

/// SQLSTATE codes the collector explains in its own words.
mod sqlstate {
    pub const QUERY_CANCELED: &str = "57014";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const INVALID_AUTHORIZATION: &str = "28000";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
}

/// Server-side limits of a session, derived from the source's options.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `statement_timeout`.
    pub statement: Duration,
    /// `lock_timeout`: half the statement timeout, capped at five seconds. Always shorter than
    /// the statement timeout, so a statement stuck behind a lock fails as a lock wait
    /// (`55P03`, transient: the collection fails) and never as a slow statement (`57014`).
    pub lock: Duration,
}

impl Limits {
    /// The limits for `options`.
    pub fn of(options: &SqlOptions) -> Self {
        Limits {
            statement: options.statement_timeout,
            lock: (options.statement_timeout / 2).min(LOCK_TIMEOUT_CAP),
        }
    }
}

/// A duration as PostgreSQL reads a time setting: whole milliseconds, at least 1 (0 would
/// mean "no limit").
fn millis(duration: Duration) -> String {
    let ms = duration.as_millis().clamp(1, i32::MAX as u128);
    format!("{ms}ms")
}

/// Connect options: the URL's own (host, TLS `sslmode`/`sslrootcert`/`sslcert`/`sslkey`, …)
/// plus a read-only session with our timeouts and a `search_path` of `pg_catalog` only, so
/// every name the server prints (types, view bodies, defaults) is schema-qualified and does
/// not depend on the role's own `search_path`.
pub fn connect_options(url: &Secret, limits: Limits) -> Result<PgConnectOptions, CollectError> {
    let parsed = PgConnectOptions::from_str(url.expose()).map_err(|err| {
        CollectError::connect(
            url.redacted(),
            format!("invalid connection URL: {err}"),
            Some("use postgres://user:password@host:5432/database?sslmode=verify-full"),
        )
    })?;
    Ok(parsed.application_name(APPLICATION_NAME).options([
        ("default_transaction_read_only", "on".to_string()),
        ("statement_timeout", millis(limits.statement)),
        ("lock_timeout", millis(limits.lock)),
        (
            "idle_in_transaction_session_timeout",
            millis(limits.statement),
        ),
        ("search_path", "pg_catalog".to_string()),
    ]))
}

/// Opens a read-only connection as the collector does (public so tests can check that it
/// refuses writes).
pub async fn connect(url: &Secret, options: &SqlOptions) -> Result<PgConnection, CollectError> {
    let target = url.redacted();
    let connect_options = connect_options(url, Limits::of(options))?;
    let conn = PgConnection::connect_with(&connect_options)
        .await
        .map_err(|err| connect_error(&target, &err))?;
    debug!(target = %target, "Connected to PostgreSQL (read-only session).");
    Ok(conn)
}

fn db_code(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|db| db.code())
        .map(|code| code.into_owned())
}

/// Why a connection attempt failed, in the categories of [`CollectError`].
pub fn connect_error(target: &str, err: &sqlx::Error) -> CollectError {
    match db_code(err).as_deref() {
        Some(sqlstate::INVALID_PASSWORD | sqlstate::INVALID_AUTHORIZATION) => {
            return CollectError::auth(target, err.to_string());
        }
        Some(sqlstate::INVALID_CATALOG_NAME) => {
            return CollectError::connect(
                target,
                err.to_string(),
                Some("check the database name in the URL; driftwarden never creates databases"),
            );
        }
        _ => {}
    }
    let hint = match err {
        sqlx::Error::Io(_) => Some("is the server running, and reachable at this host and port?"),
        sqlx::Error::Tls(_) => Some("check sslmode and sslrootcert in the URL"),
        _ => None,
    };
    CollectError::connect(target, err.to_string(), hint)
}

/// One catalog query: its text, what it reads (for messages), and whether `$1`/`$2` are the
/// objects filter.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The statement.
    pub sql: &'static str,
    /// What it reads, e.g. `reading columns (pg_attribute)`.
    pub what: &'static str,
    /// Whether it binds the objects filter.
    pub filtered: bool,
}

/// A connected session that counts its statements and binds the objects filter.
pub struct Session {
    conn: PgConnection,
    target: String,
    limits: Limits,
    statements: usize,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Session {
    /// Wraps a connection; `objects` is bound as `$1` (include) and `$2` (exclude) `LIKE`
    /// patterns in [`Session::filtered`] queries.
    pub fn new(conn: PgConnection, target: String, limits: Limits, objects: &NameFilter) -> Self {
        Session {
            conn,
            target,
            limits,
            statements: 0,
            include: objects.include.iter().map(to_sql_like).collect(),
            exclude: objects.exclude.iter().map(to_sql_like).collect(),
        }
    }

    /// The redacted URL, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The session's server-side limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The server's `server_version_num` (150004 for 15.4), reported when the session started;
    /// 0 if it was not.
    pub fn server_version(&self) -> u32 {
        self.conn.server_version_num().unwrap_or(0)
    }

    /// Statements sent so far.
    pub fn statements(&self) -> usize {
        self.statements
    }

    /// Runs a statement that returns nothing (transaction control).
    pub async fn execute(&mut self, sql: &'static str) -> Result<(), CollectError> {
        self.statements += 1;
        sqlx::query(sql)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|err| query_error(&self.target, self.limits, sql, &err))
    }

    /// All rows of a query without parameters.
    pub async fn rows(
        &mut self,
        sql: &'static str,
        what: &str,
    ) -> Result<Vec<PgRow>, CollectError> {
        self.run(sqlx::query(sql), what).await
    }

    /// All rows of a query whose `$1`/`$2` are the objects filter's include/exclude patterns.
    pub async fn filtered(
        &mut self,
        sql: &'static str,
        what: &str,
    ) -> Result<Vec<PgRow>, CollectError> {
        trace!(sql, "Catalog query text.");
        let args = self.filter_args()?;
        self.run(sqlx::query_with(sql, args), what).await
    }

    /// Runs one query: counted, timed in the debug log, errors classified.
    async fn run(
        &mut self,
        query: sqlx::query::Query<'_, sqlx::Postgres, PgArguments>,
        what: &str,
    ) -> Result<Vec<PgRow>, CollectError> {
        self.statements += 1;
        debug!(what, "Running query.");
        let started = std::time::Instant::now();
        let result = query.fetch_all(&mut self.conn).await;
        debug!(
            what,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Query done."
        );
        result.map_err(|err| query_error(&self.target, self.limits, what, &err))
    }

    /// All rows of a catalog query.
    pub async fn fetch(&mut self, query: Query) -> Result<Vec<PgRow>, CollectError> {
        if query.filtered {
            self.filtered(query.sql, query.what).await
        } else {
            self.rows(query.sql, query.what).await
        }
    }

    /// Starts the read-only REPEATABLE READ transaction the catalog is read in, tuned for
    /// catalog queries over thousands of objects, in one round trip: JIT compiling costs more
    /// than running them, and the columns query sorts more than the default 4 MB `work_mem`.
    /// `SET LOCAL` (source `session`) rather than connection options (source `client`) keeps
    /// the server's own values readable in `pg_settings.reset_val` (see `settings`).
    pub async fn begin(&mut self) -> Result<(), CollectError> {
        const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                             SET LOCAL jit = off; SET LOCAL work_mem = '64MB'";
        self.statements += 1;
        sqlx::raw_sql(BEGIN)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|err| query_error(&self.target, self.limits, BEGIN, &err))
    }

    /// Exports the transaction's snapshot so other sessions can read the same moment; `None`
    /// when the server refuses (the transaction is then restarted and used alone).
    pub async fn export_snapshot(&mut self) -> Result<Option<String>, CollectError> {
        self.statements += 1;
        match sqlx::query_scalar::<_, String>("SELECT pg_catalog.pg_export_snapshot()")
            .fetch_one(&mut self.conn)
            .await
        {
            Ok(id) => Ok(Some(id)),
            Err(err) => {
                debug!(error = %err, "Cannot export the snapshot; reading on one session.");
                self.execute("ROLLBACK").await?;
                self.begin().await?;
                Ok(None)
            }
        }
    }

    /// Joins a snapshot exported by [`Session::export_snapshot`] (inside [`Session::begin`]).
    pub async fn import_snapshot(&mut self, id: &str) -> Result<(), CollectError> {
        // The id is spliced into SQL (SET takes no parameters): accept only its own alphabet.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(CollectError::query(
                &self.target,
                format!("unexpected snapshot id {id:?}"),
            ));
        }
        let sql = format!("SET TRANSACTION SNAPSHOT '{id}'");
        self.dynamic(sql, "joining the catalog snapshot")
            .await
            .map(|_| ())
    }

    /// All rows of a query built at run time from trusted parts (quoted identifiers).
    pub async fn dynamic(&mut self, sql: String, what: &str) -> Result<Vec<PgRow>, CollectError> {
        self.run(sqlx::query(sqlx::AssertSqlSafe(sql)), what).await
    }

    /// All rows of a query with one text-array parameter.
    pub async fn with_names(
        &mut self,
        sql: &'static str,
        names: Vec<String>,
        what: &str,
    ) -> Result<Vec<PgRow>, CollectError> {
        self.run(sqlx::query(sql).bind(names), what).await
    }

    fn filter_args(&self) -> Result<PgArguments, CollectError> {
        use sqlx::Arguments;
        let mut args = PgArguments::default();
        args.add(self.include.clone())
            .and_then(|()| args.add(self.exclude.clone()))
            .map_err(|err| {
                CollectError::query(&self.target, format!("binding the filter: {err}"))
            })?;
        Ok(args)
    }

    /// Closes the connection, logging (not failing on) a close error.
    pub async fn close(self) {
        if let Err(err) = self.conn.close().await {
            debug!(target = %self.target, error = %err, "Closing the PostgreSQL connection failed.");
        }
    }
}

/// Whether an error is the server cancelling a statement for `statement_timeout` (a statement
/// too slow for its budget, e.g. counting a huge table).
pub fn is_statement_timeout(err: &sqlx::Error) -> bool {
    db_code(err).as_deref() == Some(sqlstate::QUERY_CANCELED)
}

/// Whether an error is a lock wait cut by `lock_timeout`: another session (a migration, a
/// `LOCK TABLE`) holds the object. Transient, so it fails the collection rather than become a
/// value.
pub fn is_lock_timeout(err: &sqlx::Error) -> bool {
    db_code(err).as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE)
}

/// A failed statement, explained: timeouts say which limit was hit, missing privileges say what
/// to grant.
pub fn query_error(target: &str, limits: Limits, what: &str, err: &sqlx::Error) -> CollectError {
    if crate::collectors::error::is_connection_lost(err) {
        return CollectError::connect(
            target,
            format!("{what}: {err}"),
            Some(crate::collectors::error::LOST_HINT),
        );
    }
    let message = match db_code(err).as_deref() {
        Some(sqlstate::QUERY_CANCELED) => format!(
            "{what}: statement timeout: cancelled after {} (statement_timeout)",
            humantime::format_duration(limits.statement)
        ),
        Some(sqlstate::LOCK_NOT_AVAILABLE) => format!(
            "{what}: statement timeout: waited {} for a lock (lock_timeout); is a migration running?",
            humantime::format_duration(limits.lock)
        ),
        Some(sqlstate::INSUFFICIENT_PRIVILEGE) => format!(
            "{what}: {err} (grant the collector's role USAGE on the schema and SELECT on the \
             table; see docs/collectors-postgres.md)"
        ),
        _ => format!("{what}: {err}"),
    };
    CollectError::query(target, message)
}

/// One typed column of a row, or a query error naming the column.
pub fn get<'r, T>(row: &'r PgRow, column: &str, target: &str) -> Result<T, CollectError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(column).map_err(|err| {
        CollectError::query(
            target,
            format!("unexpected value in column {column}: {err}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_whole_milliseconds_and_lock_waits_are_capped() {
        assert_eq!(millis(Duration::from_secs(30)), "30000ms");
        assert_eq!(millis(Duration::from_micros(10)), "1ms");
        let limits = Limits::of(&SqlOptions::default());
        assert_eq!(limits.lock, LOCK_TIMEOUT_CAP);
        let short = SqlOptions {
            statement_timeout: Duration::from_secs(1),
            ..SqlOptions::default()
        };
        assert_eq!(Limits::of(&short).lock, Duration::from_millis(500));
    }

    #[test]
    fn a_bad_url_is_a_connect_error_without_the_password() {
        let err = connect_options(
            &Secret::new("postgres://app:hunter2@db:notaport/shop"),
            Limits::of(&SqlOptions::default()),
        )
        .err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("invalid connection URL"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
