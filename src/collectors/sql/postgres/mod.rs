//! PostgreSQL collector: schema, migrations, settings and row counts through a read-only
//! session (see docs/collectors-postgres.md).
//!
//! Everything is read from `pg_catalog` (not `information_schema`, whose rows depend on the
//! caller's privileges) in a fixed number of whole-database queries, one per object family,
//! inside one read-only REPEATABLE READ transaction so the families agree with each other.
//! Objects are named `schema.name`, never by OID; objects created by extensions are left to
//! the extension's entry. The tree has the same shape as the SQLite collector's.

#[macro_use]
mod sql;

mod applied;
mod constraints;
mod privileges;
mod relations;
mod routines;
mod rows;
mod schema;
pub mod session;
mod settings;
mod types;

use std::time::Instant;

use tracing::debug;

use crate::collectors::CollectError;
use crate::config::{RowCountMode, Secret, SqlOptions};
use crate::snapshot::{Node, Tree};
use schema::Schema;
use session::{Limits, Session};

/// What one collection cost, for the benchmark and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Statements sent on the catalog session (transaction control, catalog queries,
    /// migration tables): flat in the number of objects.
    pub catalog_statements: usize,
    /// `count(*)` statements of exact row counts: one per counted table.
    pub count_statements: usize,
}

/// Collects schema, migrations, settings and row counts through a read-only session.
pub async fn collect(url: &Secret, options: &SqlOptions) -> Result<Tree, CollectError> {
    collect_with_stats(url, options).await.map(|(tree, _)| tree)
}

/// [`collect`], also returning how many statements it sent.
pub async fn collect_with_stats(
    url: &Secret,
    options: &SqlOptions,
) -> Result<(Tree, Stats), CollectError> {
    let started = Instant::now();
    let target = url.redacted();
    let limits = Limits::of(options);
    let connect_options = session::connect_options(url, limits)?;
    let conn = session::connect(url, options).await?;
    let mut session = Session::new(conn, target.clone(), limits, &options.objects);
    let read = read_catalog(&mut session, options).await;
    let catalog_statements = session.statements();
    session.close().await;
    let (mut tree, tables) = read?;
    let mut stats = Stats {
        catalog_statements,
        count_statements: 0,
    };
    if options.row_counts != RowCountMode::Off {
        let (rows, statements) =
            rows::count(&connect_options, &target, limits, options, &tables).await?;
        stats.count_statements = statements;
        tree.insert("rows", rows);
    }
    debug!(
        target = %target,
        tables = tables.len(),
        leaves = tree.leaf_count(),
        catalog_statements = stats.catalog_statements,
        count_statements = stats.count_statements,
        elapsed_ms = started.elapsed().as_millis(),
        "Collected PostgreSQL database."
    );
    Ok((tree, stats))
}

/// The catalog reads, in one transaction, then the migration tables after it.
async fn read_catalog(
    session: &mut Session,
    options: &SqlOptions,
) -> Result<(Tree, Vec<relations::TableRef>), CollectError> {
    session
        .execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let mut schema = Schema::default();
    let tables = relations::read(session, &mut schema).await?;
    relations::read_columns(session, &mut schema).await?;
    constraints::read_constraints(session, &mut schema).await?;
    constraints::read_indexes(session, &mut schema).await?;
    constraints::read_triggers(session, &mut schema).await?;
    constraints::read_policies(session, &mut schema).await?;
    routines::read(session, &mut schema).await?;
    types::read_types(session, &mut schema).await?;
    types::read_schemas(session, &mut schema, !options.objects.include.is_empty()).await?;
    privileges::read(session, &mut schema).await?;
    types::read_extensions(session, &mut schema).await?;
    let settings = settings::read(session, &options.settings).await?;
    session.execute("COMMIT").await?;
    let migrations = applied::read(session).await?;

    let mut tree = Node::map();
    tree.insert("schema", schema.into_node());
    tree.insert("settings", settings);
    if let Some(migrations) = migrations {
        tree.insert("migrations", migrations);
    }
    Ok((tree, tables))
}
