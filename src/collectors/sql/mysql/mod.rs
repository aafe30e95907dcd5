//! MySQL/MariaDB collector: the database named in the URL, read through one read-only session
//! with a fixed, small number of bulk `information_schema` queries (no query per table), plus
//! one query per migration-tool table found and, for exact row counts, one `COUNT(*)` per table
//! on a few extra read-only sessions.
//!
//! The tree has the shape of the SQLite collector's (see docs/collectors-mysql.md). Objects are
//! keyed by bare name: the database is the scope, and its name usually differs between
//! environments, so it appears in no path and is stripped from stored view text.

mod catalog;
mod normalize;
mod objects;
mod rows;
pub mod session;
mod settings;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use sqlx::mysql::MySqlConnection;
use sqlx::Row;
use tracing::debug;

pub use session::{Flavor, Version};

use self::session::Session;
use super::migrations;
use crate::collectors::CollectError;
use crate::config::{RowCountMode, Secret, SqlOptions};
use crate::snapshot::{Node, Tree};

/// What a collection cost, for benchmarks and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectStats {
    /// Statements sent to the server, session set-up and row counts included.
    pub queries: u64,
}

/// Collects schema, migrations, settings and row counts through a read-only session.
pub async fn collect(url: &Secret, options: &SqlOptions) -> Result<Tree, CollectError> {
    collect_with_stats(url, options).await.map(|(tree, _)| tree)
}

/// [`collect`], also reporting how many statements it sent.
pub async fn collect_with_stats(
    url: &Secret,
    options: &SqlOptions,
) -> Result<(Tree, CollectStats), CollectError> {
    let mut session = Session::open(url, options).await?;
    let result = read(&mut session, options).await;
    let stats = CollectStats {
        queries: session.queries.load(Ordering::Relaxed),
    };
    session.close().await;
    let tree = result?;
    debug!(
        queries = stats.queries,
        leaves = tree.leaf_count(),
        "Collected MySQL database."
    );
    Ok((tree, stats))
}

/// Opens a session exactly as the collector does (read-only, statement timeout): for checking
/// what a session may do, e.g. that it refuses writes.
pub async fn open_read_only_session(
    url: &Secret,
    options: &SqlOptions,
) -> Result<MySqlConnection, CollectError> {
    let connect = session::connect_options(url)?;
    let counter = std::sync::atomic::AtomicU64::new(0);
    let (conn, _, _) = session::open_session(
        &connect,
        &url.redacted(),
        options.statement_timeout,
        &counter,
    )
    .await?;
    Ok(conn)
}

async fn read(session: &mut Session, options: &SqlOptions) -> Result<Tree, CollectError> {
    let objects = &options.objects;
    let (tables, tool_tables) = catalog::tables(session, objects).await?;
    let names: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    let indexes = catalog::indexes(session, &names, objects).await?;
    let mut columns = catalog::columns(session, &names, objects, &indexes.primary_key).await?;
    let mut index_nodes = indexes.nodes;
    let mut foreign_keys = catalog::foreign_keys(session, &names, objects).await?;
    let mut checks = catalog::checks(session, &names, objects).await?;

    let mut tables_node = Node::map();
    let mut counters = Node::map();
    for table in &tables {
        let mut node = catalog::table_node(table);
        let take = |map: &mut catalog::PerTable| map.remove(&table.name).unwrap_or_default();
        node.insert("columns", take(&mut columns));
        node.insert("indexes", take(&mut index_nodes));
        node.insert("foreign_keys", take(&mut foreign_keys));
        node.insert("checks", take(&mut checks));
        tables_node.insert(table.name.clone(), node);
        if let Some(next) = table.auto_increment {
            counters
                .entry("auto_increment")
                .insert(table.name.clone(), next);
        }
    }

    let mut schema = Node::map();
    schema.insert("tables", tables_node);
    schema.insert("views", objects::views(session, objects).await?);
    let (functions, procedures) = objects::routines(session, objects).await?;
    schema.insert("functions", functions);
    schema.insert("procedures", procedures);
    schema.insert("triggers", objects::triggers(session, objects).await?);
    schema.insert("events", objects::events(session, objects).await?);
    schema.insert("privileges", objects::privileges(session, objects).await?);

    let mut tree = Tree::map();
    tree.insert("schema", schema);
    if options.row_counts != RowCountMode::Off {
        tree.insert("rows", rows::row_counts(session, &tables, options).await?);
    }
    tree.insert(
        "settings",
        settings::settings(session, &options.settings).await?,
    );
    tree.insert("counters", counters);
    let applied = applied_migrations(session, &tool_tables).await?;
    if matches!(&applied, Node::Map(tools) if !tools.is_empty()) {
        tree.insert("migrations", applied);
    }
    debug!(
        target = %session.target,
        tables = tables.len(),
        flavor = session.flavor.name(),
        version = %session.version_text,
        "Read MySQL schema."
    );
    Ok(tree)
}

/// `migrations/<tool>/…` for every migration-tool table present, through the shared module.
async fn applied_migrations(
    session: &mut Session,
    tool_tables: &[String],
) -> Result<Node, CollectError> {
    let mut node = Node::map();
    for table in tool_tables {
        let Some(tool) = migrations::find(table) else {
            continue;
        };
        let as_text = |column: &str, binary: bool| {
            if binary {
                format!("LOWER(HEX({column}))")
            } else {
                format!("CAST({column} AS CHAR)")
            }
        };
        let qualified = format!("{}.{}", rows::quote(&session.schema), rows::quote(table));
        let sql = migrations::select_sql(tool, &qualified, &rows::quote, &as_text);
        let what = format!("reading migration table {table}");
        let found = session.fetch(&what, sql, &[]).await?;
        let width = migrations::columns(tool).len();
        let mut values = Vec::with_capacity(found.len());
        for row in &found {
            let mut row_values = Vec::with_capacity(width);
            for i in 0..width {
                row_values.push(cell_text(row, i).map_err(|err| {
                    CollectError::query(&session.target, format!("{what}: {err}"))
                })?);
            }
            values.push(row_values);
        }
        node.insert(tool.name, migrations::build(tool, values));
    }
    Ok(node)
}

fn cell_text(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<Option<String>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(value) => Ok(value),
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned())),
    }
}
