//! Opening a store: create the SQLite file if needed, refuse anything that is not ours, migrate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};
use tracing::{debug, info};

use super::{Store, StoreError};
use crate::snapshot::redact::mask_for_log;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// SQLite's result code for "file is not a database".
const SQLITE_NOTADB: &str = "26";

/// The backends a store can live on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens (creating a SQLite file when missing) and migrates the store at `url`.
    ///
    /// A file that is not a SQLite database, or a database holding tables that are not a
    /// driftwarden store's, is refused and left untouched: a mistyped URL must never turn
    /// someone's production database into our store.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let target = mask_for_log(url);
        let (backend, connect_url) = if let Some(path) = url.strip_prefix("sqlite://") {
            prepare_sqlite_file(&target, path)?;
            // rwc: create the file when missing; the checks below guard an existing one.
            let separator = if path.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("{url}{separator}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::Open {
                target,
                message: "unsupported store URL".into(),
                hint: Some("use sqlite://PATH or postgres://USER@HOST/DB".into()),
            });
        };
        let pool = AnyPoolOptions::new()
            // SQLite takes one writer anyway; a few readers serve the API meanwhile.
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .connect(&connect_url)
            .await
            .map_err(|e| open_error(&target, backend, &e))?;
        guard_foreign(&pool, &target, backend).await?;
        if backend == Backend::Sqlite {
            // WAL lets the API read while a collection writes; it persists in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await
                .map_err(|e| open_error(&target, backend, &e))?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|e| {
            StoreError::Migrate(format!(
                "{target}: {e} (hint: a store written by a newer driftwarden cannot be opened by an older one)"
            ))
        })?;
        info!(store = %target, "Store ready.");
        Ok(Store {
            pool,
            target,
            write: Arc::new(tokio::sync::Mutex::new(())),
            shared_outbox: backend == Backend::Postgres,
        })
    }
}

/// Creates the parent folder of a new store file; refuses a folder in place of the file.
fn prepare_sqlite_file(target: &str, path: &str) -> Result<(), StoreError> {
    let path = Path::new(path.split('?').next().unwrap_or(path));
    if path.is_dir() {
        return Err(StoreError::Open {
            target: target.into(),
            message: "the path is a folder".into(),
            hint: Some("point the store URL at a file, e.g. sqlite://.driftwarden/store.db".into()),
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
            target: target.into(),
            message: format!("cannot create {}: {e}", parent.display()),
            hint: Some("check permissions, or set [store] url".into()),
        })?;
    }
    Ok(())
}

fn open_error(target: &str, backend: Backend, error: &sqlx::Error) -> StoreError {
    let code = error.as_database_error().and_then(|d| d.code());
    if backend == Backend::Sqlite && code.as_deref() == Some(SQLITE_NOTADB) {
        return StoreError::Corrupt {
            target: target.into(),
            message: "the file is not a SQLite database".into(),
        };
    }
    let hint = match backend {
        Backend::Sqlite => "check that the folder is writable",
        Backend::Postgres => "check the server, database name and credentials in [store] url",
    };
    StoreError::Open {
        target: target.into(),
        message: mask_for_log(&error.to_string()),
        hint: Some(hint.into()),
    }
}

/// Refuses a database that holds tables but is not a driftwarden store.
async fn guard_foreign(pool: &AnyPool, target: &str, backend: Backend) -> Result<(), StoreError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY 1"
        }
    };
    let rows = sqlx::query(sql)
        .fetch_all(pool)
        .await
        .map_err(|e| open_error(target, backend, &e))?;
    let tables: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>("name").ok())
        .collect();
    debug!(store = %target, tables = tables.len(), "Inspected the store.");
    // sqlx creates its bookkeeping table before the first migration commits (our tables and
    // the marker come in one transaction): seen alone, another replica is migrating right now.
    let ours_in_progress = tables.iter().all(|t| t == "_sqlx_migrations");
    if ours_in_progress || tables.iter().any(|t| t == "driftwarden_store") {
        return Ok(());
    }
    let mut shown: Vec<&str> = tables.iter().map(String::as_str).take(5).collect();
    if tables.len() > 5 {
        shown.push("…");
    }
    Err(StoreError::Corrupt {
        target: target.into(),
        message: format!(
            "the database holds other tables ({}) and no driftwarden_store marker",
            shown.join(", ")
        ),
    })
}
