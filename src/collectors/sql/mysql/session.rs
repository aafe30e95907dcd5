//! The collector's connection: URL parsing, a read-only session with a statement timeout, the
//! server flavour, a query counter, and errors that name what failed without any password.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{AssertSqlSafe, Connection, Row};
use tracing::debug;

use crate::collectors::CollectError;
use crate::config::{Secret, SqlOptions};

/// `ER_ACCESS_DENIED_ERROR`: wrong user or password.
const ER_ACCESS_DENIED: u16 = 1045;
/// `ER_DBACCESS_DENIED_ERROR`: the user may not use this database.
const ER_DB_ACCESS_DENIED: u16 = 1044;
/// `ER_BAD_DB_ERROR`: unknown database.
const ER_BAD_DB: u16 = 1049;
/// MariaDB's `ER_STATEMENT_TIMEOUT` (`max_statement_time` exceeded).
const ER_STATEMENT_TIMEOUT: u16 = 1969;
/// MySQL's `ER_QUERY_TIMEOUT` (`max_execution_time` exceeded).
const ER_QUERY_TIMEOUT: u16 = 3024;
/// `ER_LOCK_WAIT_TIMEOUT`: `lock_wait_timeout` (metadata locks) or `innodb_lock_wait_timeout`.
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// `ER_QUERY_INTERRUPTED`: the statement was killed (`KILL QUERY`, a query killer).
const ER_QUERY_INTERRUPTED: u16 = 1317;
/// `ER_CONNECTION_KILLED`: the session was killed (`KILL CONNECTION`, a proxy or a failover).
const ER_CONNECTION_KILLED: u16 = 1927;
/// Longest wait for a table another session holds (a migration, `LOCK TABLES`): a collector
/// that waits longer only queues others behind it.
const LOCK_WAIT_CAP: u64 = 5;

/// `lock_wait_timeout` in whole seconds (the server takes no fraction): half the statement
/// timeout, 1 to 5 s, so a statement stuck behind a lock fails as a lock wait, not a timeout.
pub fn lock_wait_seconds(statement_timeout: Duration) -> u64 {
    (statement_timeout.as_secs() / 2).clamp(1, LOCK_WAIT_CAP)
}

/// Which server family answered: they differ in catalog columns and variable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Oracle MySQL (and compatible forks such as Percona Server).
    Mysql,
    /// MariaDB.
    Mariadb,
}

impl Flavor {
    /// The name used in `settings/flavor`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Mysql => "mysql",
            Flavor::Mariadb => "mariadb",
        }
    }
}

/// A server version as `(major, minor, patch)`, compared to guard version-specific columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The leading `x.y.z` of a `VERSION()` string such as `10.11.19-MariaDB-0+deb12u1`.
    pub fn parse(text: &str) -> Version {
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|p| p.parse().unwrap_or(0));
        Version(
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Parses the URL, keeping the TLS parameters (`ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key`) it
/// carries; sqlx's own session tweaks to `sql_mode` are turned off since we set our own.
pub fn connect_options(url: &Secret) -> Result<MySqlConnectOptions, CollectError> {
    let target = url.redacted();
    let options: MySqlConnectOptions = url.expose().parse().map_err(|err| {
        CollectError::connect(
            &target,
            format!("invalid MySQL URL: {err}"),
            Some("expected mysql://user:password@host:3306/database?ssl-mode=REQUIRED"),
        )
    })?;
    if options.get_database().is_none_or(str::is_empty) {
        return Err(CollectError::connect(
            &target,
            "the URL names no database",
            Some("the collector inspects the database named in the URL: mysql://…/DATABASE"),
        ));
    }
    Ok(options.pipes_as_concat(false).no_engine_substitution(false))
}

/// Opens one read-only session: `SET SESSION TRANSACTION READ ONLY`, the per-statement timeout
/// (`max_statement_time` on MariaDB, `max_execution_time` on MySQL) and a plain `sql_mode`, so
/// `\` is the `LIKE` escape and backticks quote identifiers whatever the server default is.
///
/// MySQL has no `application_name`; sqlx 0.9 sends no connect attributes (`program_name`), so
/// the session is not tagged beyond its user.
pub async fn open_session(
    options: &MySqlConnectOptions,
    target: &str,
    statement_timeout: Duration,
    queries: &AtomicU64,
) -> Result<(MySqlConnection, Flavor, String), CollectError> {
    let mut conn = MySqlConnection::connect_with(options)
        .await
        .map_err(|err| connect_error(target, options, err))?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await
        .map_err(|err| query_error(target, "reading the server version", err))?;
    queries.fetch_add(1, Ordering::Relaxed);
    let flavor = if version.to_ascii_lowercase().contains("mariadb") {
        Flavor::Mariadb
    } else {
        Flavor::Mysql
    };
    let timeout = match flavor {
        Flavor::Mariadb => format!(
            "max_statement_time = {:.3}",
            statement_timeout.as_secs_f64()
        ),
        Flavor::Mysql => format!(
            "max_execution_time = {}",
            statement_timeout.as_millis().min(u128::from(u32::MAX))
        ),
    };
    // MySQL 8 caches TABLE_ROWS and AUTO_INCREMENT in information_schema for a day by default.
    let stats_expiry = if flavor == Flavor::Mysql && Version::parse(&version) >= Version(8, 0, 3) {
        ", information_schema_stats_expiry = 0"
    } else {
        ""
    };
    for sql in [
        "SET SESSION TRANSACTION READ ONLY".to_string(),
        format!(
            "SET SESSION sql_mode = '', {timeout}, lock_wait_timeout = {}{stats_expiry}",
            lock_wait_seconds(statement_timeout)
        ),
    ] {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|err| query_error(target, "setting up the read-only session", err))?;
        queries.fetch_add(1, Ordering::Relaxed);
    }
    debug!(target, %version, flavor = flavor.name(), "Opened a read-only MySQL session.");
    Ok((conn, flavor, version))
}

/// An open session plus what the catalog queries need to know about it.
pub struct Session {
    conn: MySqlConnection,
    /// The redacted URL, for messages.
    pub target: String,
    /// The database inspected (the URL's).
    pub schema: String,
    /// Server family.
    pub flavor: Flavor,
    /// Server version.
    pub version: Version,
    /// `VERSION()` as the server reports it.
    pub version_text: String,
    /// Connection settings, reused by the row-count workers.
    pub options: MySqlConnectOptions,
    /// Per-statement timeout.
    pub statement_timeout: Duration,
    /// Statements sent so far, by this session and its helpers.
    pub queries: Arc<AtomicU64>,
}

impl Session {
    /// Connects with the URL and sets up the read-only session.
    pub async fn open(url: &Secret, sql_options: &SqlOptions) -> Result<Session, CollectError> {
        let target = url.redacted();
        let options = connect_options(url)?;
        let schema = options.get_database().unwrap_or_default().to_string();
        let queries = Arc::new(AtomicU64::new(0));
        let (conn, flavor, version_text) =
            open_session(&options, &target, sql_options.statement_timeout, &queries).await?;
        Ok(Session {
            conn,
            target,
            schema,
            flavor,
            version: Version::parse(&version_text),
            version_text,
            options,
            statement_timeout: sql_options.statement_timeout,
            queries,
        })
    }

    /// Runs one catalog query with string parameters; `what` names it in errors and logs.
    pub async fn fetch(
        &mut self,
        what: &str,
        sql: String,
        binds: &[String],
    ) -> Result<Vec<MySqlRow>, CollectError> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value.clone());
        }
        let rows = query
            .fetch_all(&mut self.conn)
            .await
            .map_err(|err| query_error(&self.target, what, err))?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        debug!(what, rows = rows.len(), "Ran a MySQL catalog query.");
        Ok(rows)
    }

    /// Closes the connection, logging (not failing on) a close error.
    pub async fn close(self) {
        if let Err(err) = self.conn.close().await {
            debug!(target = %self.target, error = %err, "Closing the MySQL connection failed.");
        }
    }
}

fn server_error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()
        .and_then(|db| db.try_downcast_ref::<MySqlDatabaseError>())
        .map(MySqlDatabaseError::number)
}

/// Whether the server cut a statement at the session's statement timeout.
pub fn is_statement_timeout(err: &sqlx::Error) -> bool {
    matches!(
        server_error_number(err),
        Some(ER_STATEMENT_TIMEOUT | ER_QUERY_TIMEOUT)
    )
}

/// Whether a statement gave up waiting for a lock another session holds.
pub fn is_lock_timeout(err: &sqlx::Error) -> bool {
    server_error_number(err) == Some(ER_LOCK_WAIT_TIMEOUT)
}

/// Whether another session killed the statement (`KILL QUERY`) or the session itself: an
/// interruption that says nothing about what was being read.
pub fn is_killed(err: &sqlx::Error) -> bool {
    matches!(
        server_error_number(err),
        Some(ER_QUERY_INTERRUPTED | ER_CONNECTION_KILLED)
    )
}

/// A connection failure, classified: refused/unreachable, bad credentials, missing database.
pub fn connect_error(
    target: &str,
    options: &MySqlConnectOptions,
    err: sqlx::Error,
) -> CollectError {
    match server_error_number(&err) {
        Some(ER_ACCESS_DENIED) => CollectError::auth(target, err.to_string()),
        Some(ER_DB_ACCESS_DENIED) => CollectError::auth(
            target,
            format!("{err} (grant the collector SELECT on the database)"),
        ),
        Some(ER_BAD_DB) => CollectError::connect(
            target,
            format!(
                "database {:?} does not exist",
                options.get_database().unwrap_or_default()
            ),
            Some("check the database name in the URL; driftwarden never creates it"),
        ),
        _ => match &err {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
                let hint = format!(
                    "is the server up and reachable at {}:{}?",
                    options.get_host(),
                    options.get_port()
                );
                CollectError::connect(target, err.to_string(), Some(&hint))
            }
            _ => CollectError::connect(target, err.to_string(), None),
        },
    }
}

/// A failed statement; a statement timeout says so plainly, and a connection lost mid-way is
/// a `connect` failure (the server went away), not a query one.
pub fn query_error(target: &str, what: &str, err: sqlx::Error) -> CollectError {
    if crate::collectors::error::is_connection_lost(&err)
        || server_error_number(&err) == Some(ER_CONNECTION_KILLED)
    {
        return CollectError::connect(
            target,
            format!("{what}: {err}"),
            Some(crate::collectors::error::LOST_HINT),
        );
    }
    if is_statement_timeout(&err) {
        return CollectError::query(
            target,
            format!("statement timeout: {what} ran past statement_timeout ({err})"),
        );
    }
    if server_error_number(&err) == Some(ER_QUERY_INTERRUPTED) {
        return CollectError::query(
            target,
            format!("{what}: interrupted by another session (KILL QUERY or a query killer): {err}"),
        );
    }
    if is_lock_timeout(&err) {
        return CollectError::query(
            target,
            format!(
                "{what}: statement timeout: waited for a lock (lock_wait_timeout); \
                 is a migration running? ({err})"
            ),
        );
    }
    CollectError::query(target, format!("{what}: {err}"))
}

/// Text of a column, accepting binary-collated catalog columns (MySQL 8 has some) as UTF-8.
pub fn text(row: &MySqlRow, column: &str, target: &str) -> Result<Option<String>, CollectError> {
    match row.try_get::<Option<String>, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(column)
            .map(|bytes| bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .map_err(|err| unexpected(target, column, &err)),
    }
}

/// Text of a column; NULL reads as the empty string.
pub fn text_or_empty(row: &MySqlRow, column: &str, target: &str) -> Result<String, CollectError> {
    Ok(text(row, column, target)?.unwrap_or_default())
}

/// An integer column of any width or signedness (catalogs differ between servers).
pub fn int(row: &MySqlRow, column: &str, target: &str) -> Result<Option<i64>, CollectError> {
    if let Ok(value) = row.try_get::<Option<i64>, _>(column) {
        return Ok(value);
    }
    if let Ok(value) = row.try_get::<Option<u64>, _>(column) {
        return Ok(value.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
    }
    if let Ok(value) = row.try_get::<Option<i32>, _>(column) {
        return Ok(value.map(i64::from));
    }
    if let Ok(value) = row.try_get::<Option<u32>, _>(column) {
        return Ok(value.map(i64::from));
    }
    let value = text(row, column, target)?;
    value
        .map(|v| {
            v.trim().parse::<i64>().map_err(|err| {
                CollectError::query(
                    target,
                    format!("unexpected value in column {column}: {err}"),
                )
            })
        })
        .transpose()
}

fn unexpected(target: &str, column: &str, err: &sqlx::Error) -> CollectError {
    CollectError::query(
        target,
        format!("unexpected value in column {column}: {err}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_server_strings() {
        assert_eq!(
            Version::parse("10.11.19-MariaDB-0+deb12u1"),
            Version(10, 11, 19)
        );
        assert_eq!(Version::parse("8.0.36"), Version(8, 0, 36));
        assert_eq!(Version::parse("8.4"), Version(8, 4, 0));
        assert!(Version::parse("8.0.16") >= Version(8, 0, 16));
        assert_eq!(Version(8, 0, 3).to_string(), "8.0.3");
    }

    #[test]
    fn lock_waits_are_whole_seconds_below_the_statement_timeout_and_capped() {
        assert_eq!(lock_wait_seconds(Duration::from_secs(30)), 5);
        assert_eq!(lock_wait_seconds(Duration::from_secs(4)), 2);
        assert_eq!(lock_wait_seconds(Duration::from_millis(1500)), 1);
        assert_eq!(lock_wait_seconds(Duration::from_secs(3600)), 5);
    }

    #[test]
    fn urls_without_a_database_or_unparseable_are_refused_without_the_password() {
        let err = connect_options(&Secret::new("mysql://u:hunter2@localhost:3306")).unwrap_err();
        assert!(err.to_string().contains("names no database"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = connect_options(&Secret::new("mysql://u:hunter2@[bad/x")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let ok = connect_options(&Secret::new(
            "mysql://u:p@db:3307/shop?ssl-mode=required&ssl-ca=/etc/ca.pem",
        ))
        .unwrap();
        assert_eq!(ok.get_database(), Some("shop"));
        assert_eq!(ok.get_port(), 3307);
    }
}
