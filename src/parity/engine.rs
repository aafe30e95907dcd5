//! One read-only connection per side, answering the three questions the algorithm asks: what is
//! the table's shape, what are its buckets at a level, which keys and row hashes are in some
//! buckets. PostgreSQL and MySQL hash inside the database; SQLite has no hash function, so its
//! rows are streamed and hashed here.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use sha2::{Digest as _, Sha256};
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, Row};
use tracing::debug;

use super::sql::{mask, Dialect};
use super::{excluded, split_name, Bucket, Digest, ParityError, Shape, FIRST_BITS};
use crate::collectors::sql::{mysql, postgres};
use crate::collectors::CollectError;
use crate::config::{ChecksumSpec, SourceKind, SqlOptions};

/// Runs the statement `Dialect::X.$method(args)` on a database that hashes in SQL (PostgreSQL
/// or MySQL) and runs `$body` for each row; the body is written once for both row types.
macro_rules! in_database {
    ($engine:expr, $method:ident ( $($arg:expr),* ), |$row:ident| $body:block) => {
        match $engine {
            Engine::Postgres(conn) => {
                let sql = Dialect::Postgres.$method($($arg),*);
                for $row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(failed)? $body
            }
            Engine::Mysql(conn) => {
                let sql = Dialect::Mysql.$method($($arg),*);
                for $row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(failed)? $body
            }
            // Handled by the caller before: SQLite rows are hashed here, not in SQL.
            Engine::Sqlite(_) => {}
        }
    };
}

/// An open read-only connection to one side.
pub enum Engine {
    /// PostgreSQL (read-only session, `statement_timeout` = the checksum timeout).
    Postgres(PgConnection),
    /// MySQL or MariaDB (read-only session, statement time limit = the checksum timeout).
    Mysql(MySqlConnection),
    /// SQLite, opened read-only.
    Sqlite(SqliteConnection),
}

impl Engine {
    /// Connects to the source of `kind`; each statement may run for `timeout`.
    pub async fn open(kind: &SourceKind, timeout: Duration) -> Result<Engine, CollectError> {
        let with_timeout = |options: &SqlOptions| SqlOptions {
            statement_timeout: timeout,
            ..options.clone()
        };
        match kind {
            SourceKind::Postgres { url, options } => Ok(Engine::Postgres(
                postgres::session::connect(url, &with_timeout(options)).await?,
            )),
            SourceKind::Mysql { url, options } => Ok(Engine::Mysql(
                mysql::open_read_only_session(url, &with_timeout(options)).await?,
            )),
            SourceKind::Sqlite { path, .. } => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .create_if_missing(false);
                SqliteConnection::connect_with(&options)
                    .await
                    .map(Engine::Sqlite)
                    .map_err(|e| {
                        CollectError::connect(path.display().to_string(), e.to_string(), None)
                    })
            }
            _ => Err(CollectError::query(
                "checksums",
                "only SQL sources have table checksums",
            )),
        }
    }

    /// Names the hashing scheme; digests of different schemes are not comparable.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Engine::Postgres(_) => "postgres-hashtext/1",
            Engine::Mysql(_) => "mysql-crc32/1",
            Engine::Sqlite(_) => "sqlite-sha256/1",
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        let closed = match self {
            Engine::Postgres(c) => c.close().await,
            Engine::Mysql(c) => c.close().await,
            Engine::Sqlite(c) => c.close().await,
        };
        if let Err(error) = closed {
            debug!(error = %error, "Closing a checksum connection failed.");
        }
    }

    /// The table's shape under `spec`, then its first-level digest.
    pub async fn first_level(
        &mut self,
        table: &str,
        spec: &ChecksumSpec,
    ) -> Result<(Shape, Digest), ParityError> {
        let shape = self.shape(table, spec).await?;
        let digest = self.digest(&shape, FIRST_BITS, None).await?;
        let rows: u64 = digest.values().map(|b| b.count).sum();
        if rows > spec.max_rows {
            return Err(ParityError::TooManyRows {
                rows,
                max: spec.max_rows,
            });
        }
        Ok((shape, digest))
    }

    /// Key and hashed columns of `table`.
    pub async fn shape(&mut self, table: &str, spec: &ChecksumSpec) -> Result<Shape, ParityError> {
        let (schema, name) = split_name(table);
        // (column, position in the primary key, 0 when not in it), in table order.
        let columns: Vec<(String, i64)> = match self {
            Engine::Postgres(conn) => {
                let qualified = Dialect::Postgres.table(&Shape {
                    table: table.into(),
                    schema: schema.clone(),
                    name: name.clone(),
                    key: vec![],
                    columns: vec![],
                });
                // int2vector arrays start at 0: positions are rebased to 1.
                sqlx::query(
                    "SELECT a.attname::text AS name, \
                     COALESCE(pg_catalog.array_position(i.indkey::int2[], a.attnum) \
                     - pg_catalog.array_lower(i.indkey::int2[], 1) + 1, 0)::bigint AS key_pos \
                     FROM pg_catalog.pg_attribute a \
                     LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
                     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                     ORDER BY a.attnum",
                )
                .bind(qualified)
                .fetch_all(&mut *conn)
                .await
                .map_err(failed)?
                .iter()
                .map(name_and_key_position)
                .collect::<Result<_, _>>()?
            }
            Engine::Mysql(conn) => sqlx::query(
                "SELECT CAST(c.COLUMN_NAME AS CHAR) AS name, \
                 CAST(COALESCE(s.SEQ_IN_INDEX, 0) AS SIGNED) AS key_pos \
                 FROM information_schema.COLUMNS c \
                 LEFT JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = c.TABLE_SCHEMA \
                   AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = c.COLUMN_NAME \
                   AND s.INDEX_NAME = 'PRIMARY' \
                 WHERE c.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND c.TABLE_NAME = ? \
                 ORDER BY c.ORDINAL_POSITION",
            )
            .bind(schema.clone())
            .bind(name.clone())
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?
            .iter()
            .map(name_and_key_position)
            .collect::<Result<_, _>>()?,
            Engine::Sqlite(conn) => {
                let sql = match &schema {
                    Some(s) => format!(
                        "SELECT name, pk AS key_pos FROM pragma_table_info(?1, {}) ORDER BY cid",
                        sqlite_literal(s)
                    ),
                    None => "SELECT name, pk AS key_pos FROM pragma_table_info(?1) ORDER BY cid"
                        .to_string(),
                };
                sqlx::query(AssertSqlSafe(sql))
                    .bind(name.clone())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(failed)?
                    .iter()
                    .map(name_and_key_position)
                    .collect::<Result<_, _>>()?
            }
        };
        if columns.is_empty() {
            return Err(ParityError::NoTable);
        }
        let mut key: Vec<(i64, String)> = columns
            .iter()
            .filter(|(_, pos)| *pos > 0)
            .map(|(c, pos)| (*pos, c.clone()))
            .collect();
        if key.is_empty() {
            return Err(ParityError::NoKey);
        }
        key.sort();
        let key: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
        // Key columns always count: a row is named by them.
        let hashed = columns
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| key.contains(c) || !excluded(spec, table, c))
            .collect();
        Ok(Shape {
            table: table.to_string(),
            schema,
            name,
            key,
            columns: hashed,
        })
    }

    /// Buckets of `bits` bits (inside the given parent buckets, if any).
    pub async fn digest(
        &mut self,
        shape: &Shape,
        bits: u32,
        within: Option<(u32, &[u32])>,
    ) -> Result<Digest, ParityError> {
        let mut digest = Digest::new();
        if let Engine::Sqlite(conn) = self {
            let parents = within.map(|(parent_bits, buckets)| (mask(parent_bits), buckets));
            let mut rows = sqlx::query(AssertSqlSafe(sqlite_select(shape))).fetch(&mut *conn);
            while let Some(row) = rows.try_next().await.map_err(failed)? {
                let key: String = row.try_get(0).map_err(failed)?;
                let text: String = row.try_get(1).map_err(failed)?;
                let kh = key_hash(&key);
                if let Some((m, buckets)) = parents {
                    if !buckets.contains(&((u64::from(kh) & m) as u32)) {
                        continue;
                    }
                }
                let entry = digest
                    .entry((u64::from(kh) & mask(bits)) as u32)
                    .or_default();
                entry.count += 1;
                entry.sum += row_hash48(&text);
            }
            return Ok(digest);
        }
        in_database!(self, digest(shape, bits, within), |row| {
            let b: i64 = row.try_get("b").map_err(failed)?;
            let n: i64 = row.try_get("n").map_err(failed)?;
            let s: String = row.try_get("s").map_err(failed)?;
            digest.insert(bucket_number(b)?, bucket(n, &s)?);
        });
        Ok(digest)
    }

    /// Keys and row hashes of the rows in `buckets` (of `bits` bits).
    pub async fn rows(
        &mut self,
        shape: &Shape,
        bits: u32,
        buckets: &[u32],
    ) -> Result<BTreeMap<String, String>, ParityError> {
        let mut out = BTreeMap::new();
        if let Engine::Sqlite(conn) = self {
            let m = mask(bits);
            let mut rows = sqlx::query(AssertSqlSafe(sqlite_select(shape))).fetch(&mut *conn);
            while let Some(row) = rows.try_next().await.map_err(failed)? {
                let key: String = row.try_get(0).map_err(failed)?;
                if !buckets.contains(&((u64::from(key_hash(&key)) & m) as u32)) {
                    continue;
                }
                let text: String = row.try_get(1).map_err(failed)?;
                out.insert(key, hex::encode(&Sha256::digest(text.as_bytes())[..16]));
            }
            return Ok(out);
        }
        in_database!(self, rows(shape, bits, buckets), |row| {
            out.insert(
                row.try_get("k").map_err(failed)?,
                row.try_get("h").map_err(failed)?,
            );
        });
        Ok(out)
    }
}

/// `(name, key_pos)` of a shape query's row, on any engine.
fn name_and_key_position<R: Row>(row: &R) -> Result<(String, i64), ParityError>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    Ok((
        row.try_get("name").map_err(failed)?,
        row.try_get("key_pos").map_err(failed)?,
    ))
}

fn failed(error: sqlx::Error) -> ParityError {
    let connection_lost = crate::collectors::error::is_connection_lost(&error);
    // A lock wait or a statement killed by another session says nothing about the rows.
    let transient = if connection_lost {
        Some(error.to_string())
    } else if postgres::session::is_lock_timeout(&error) {
        Some(format!(
            "statement timeout: waited for a lock (lock_timeout); is a migration running? ({error})"
        ))
    } else if mysql::session::is_lock_timeout(&error) {
        Some(format!(
            "statement timeout: waited for a lock (lock_wait_timeout); is a migration running? ({error})"
        ))
    } else if mysql::session::is_killed(&error) {
        Some(format!("killed by another session ({error})"))
    } else {
        None
    };
    if let Some(message) = transient {
        return ParityError::Unavailable {
            connection_lost,
            message: crate::snapshot::redact::mask_for_log(&message),
        };
    }
    let timed_out = postgres::session::is_statement_timeout(&error)
        || mysql::session::is_statement_timeout(&error);
    if timed_out {
        ParityError::Cut(crate::snapshot::redact::mask_for_log(&error.to_string()))
    } else {
        ParityError::Query(crate::snapshot::redact::mask_for_log(&error.to_string()))
    }
}

fn bucket_number(b: i64) -> Result<u32, ParityError> {
    u32::try_from(b).map_err(|_| ParityError::Query(format!("bucket number {b} out of range")))
}

fn bucket(n: i64, s: &str) -> Result<Bucket, ParityError> {
    Ok(Bucket {
        count: u64::try_from(n).unwrap_or(0),
        sum: s
            .trim()
            .parse()
            .map_err(|_| ParityError::Query(format!("unreadable hash sum {s:?}")))?,
    })
}

/// A SQLite string literal.
fn sqlite_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQLite: each value as exact text (reals with 17 significant digits, so they round-trip;
/// `quote()` keeps NULL, text and blobs apart), the key readable when it is one column.
fn sqlite_select(shape: &Shape) -> String {
    let q = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let value = |c: &str| {
        let c = q(c);
        format!("(CASE typeof({c}) WHEN 'real' THEN printf('%!.17g', {c}) ELSE quote({c}) END)")
    };
    let key = match shape.key.as_slice() {
        [one] => {
            let c = q(one);
            format!(
                "(CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) WHEN 'text' THEN {c} ELSE quote({c}) END)"
            )
        }
        many => many
            .iter()
            .map(|c| value(c))
            .collect::<Vec<_>>()
            .join(" || ',' || "),
    };
    let row = shape
        .columns
        .iter()
        .map(|c| value(c))
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    let table = match &shape.schema {
        Some(s) => format!("{}.{}", q(s), q(&shape.name)),
        None => q(&shape.name),
    };
    format!("SELECT {key} AS k, {row} AS r FROM {table}")
}

/// 32 bits of the key's SHA-256.
fn key_hash(key: &str) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The low 48 bits of the row's SHA-256.
fn row_hash48(text: &str) -> i128 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes[2..].copy_from_slice(&digest[26..32]);
    i128::from(u64::from_be_bytes(bytes))
}
