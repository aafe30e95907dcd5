//! PostgreSQL collector: schema, migrations, settings and row counts through a read-only
//! session (see docs/collectors-postgres.md).
//!
//! Everything is read from `pg_catalog` (not `information_schema`, whose rows depend on the
//! caller's privileges) in a fixed number of whole-database queries, one per object family,
//! all in one snapshot (a read-only REPEATABLE READ transaction, exported to up to three more
//! sessions that share the queries) so the families agree with each other.
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

use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::Connection;
use tokio::task::JoinSet;
use tracing::debug;

use crate::collectors::CollectError;
use crate::config::{RowCountMode, Secret, SqlOptions};
use crate::snapshot::{Node, Tree};
use schema::Schema;
use session::{Limits, Query, Session};

/// What one collection cost, for the benchmark and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Statements sent on the catalog sessions (transaction control, snapshot export and
    /// import, catalog queries, migration tables): flat in the number of objects.
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
    let read = read_catalog(&mut session, &connect_options, options).await;
    let main_statements = session.statements();
    session.close().await;
    let (mut tree, tables, helper_statements) = read?;
    let catalog_statements = main_statements + helper_statements;
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

/// The object families, in the order their rows are applied to the tree (sub-objects after
/// the relations they hang on; schemas after everything that can live in them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Relations,
    Columns,
    Constraints,
    Indexes,
    Triggers,
    Policies,
    Functions,
    Types,
    Schemas,
    Privileges,
    Extensions,
    Settings,
}

const fn query(sql: &'static str, what: &'static str, filtered: bool) -> Query {
    Query {
        sql,
        what,
        filtered,
    }
}

/// Every catalog query, heaviest first so that spreading them over sessions balances.
const FAMILIES: [(Family, Query); 12] = [
    (
        Family::Relations,
        query(relations::RELATIONS, "reading relations (pg_class)", true),
    ),
    (
        Family::Columns,
        query(relations::COLUMNS, "reading columns (pg_attribute)", true),
    ),
    (
        Family::Indexes,
        query(constraints::INDEXES, "reading indexes (pg_index)", true),
    ),
    (
        Family::Constraints,
        query(
            constraints::CONSTRAINTS,
            "reading constraints (pg_constraint)",
            true,
        ),
    ),
    (
        Family::Functions,
        query(routines::FUNCTIONS, "reading functions (pg_proc)", true),
    ),
    (
        Family::Privileges,
        query(
            privileges::PRIVILEGES,
            "reading privileges (aclexplode)",
            true,
        ),
    ),
    (
        Family::Settings,
        query(settings::SETTINGS, "reading settings (pg_settings)", false),
    ),
    (
        Family::Types,
        query(types::TYPES, "reading types (pg_type)", true),
    ),
    (
        Family::Triggers,
        query(constraints::TRIGGERS, "reading triggers (pg_trigger)", true),
    ),
    (
        Family::Policies,
        query(constraints::POLICIES, "reading policies (pg_policy)", true),
    ),
    (
        Family::Schemas,
        query(types::SCHEMAS, "reading schemas (pg_namespace)", false),
    ),
    (
        Family::Extensions,
        query(
            types::EXTENSIONS,
            "reading extensions (pg_extension)",
            false,
        ),
    ),
];

/// Most sessions the catalog is read on at once.
const MAX_CATALOG_SESSIONS: usize = 4;

/// The catalog reads, in one snapshot (spread over up to `count_concurrency` sessions, capped
/// at four), then the migration tables after it on the main session.
async fn read_catalog(
    session: &mut Session,
    connect_options: &PgConnectOptions,
    options: &SqlOptions,
) -> Result<(Tree, Vec<relations::TableRef>, usize), CollectError> {
    session.begin().await?;
    let wanted = options.count_concurrency.clamp(1, MAX_CATALOG_SESSIONS);
    let mut helpers = Vec::new();
    if wanted > 1 {
        if let Some(id) = session.export_snapshot().await? {
            // Connect the helpers at once: each connection costs a round trip or three.
            let mut set = JoinSet::new();
            for _ in 1..wanted {
                let (connect, objects, id) =
                    (connect_options.clone(), options.objects.clone(), id.clone());
                let (target, limits) = (session.target().to_string(), session.limits());
                set.spawn(async move { helper(target, limits, &connect, &objects, &id).await });
            }
            while let Some(joined) = set.join_next().await {
                helpers.push(joined.map_err(|err| {
                    CollectError::query(session.target(), format!("a catalog task failed: {err}"))
                })??);
            }
        }
    }
    let (mut fetched, helper_statements) = fetch_all(session, helpers).await?;
    // Apply in family order, whichever session fetched them.
    fetched.sort_by_key(|(family, _)| order(*family));
    let target = session.target().to_string();
    let target = target.as_str();
    let mut schema = Schema::default();
    let mut tables = Vec::new();
    let mut settings = Node::map();
    let filtered = !options.objects.include.is_empty();
    for (family, rows) in &fetched {
        debug!(family = ?family, rows = rows.len(), "Applying catalog rows.");
        match family {
            Family::Relations => tables = relations::apply(rows, &mut schema, target)?,
            Family::Columns => relations::apply_columns(rows, &mut schema, target)?,
            Family::Constraints => constraints::apply_constraints(rows, &mut schema, target)?,
            Family::Indexes => constraints::apply_indexes(rows, &mut schema, target)?,
            Family::Triggers => constraints::apply_triggers(rows, &mut schema, target)?,
            Family::Policies => constraints::apply_policies(rows, &mut schema, target)?,
            Family::Functions => routines::apply(rows, &mut schema, target)?,
            Family::Types => types::apply_types(rows, &mut schema, target)?,
            Family::Schemas => types::apply_schemas(rows, &mut schema, filtered, target)?,
            Family::Privileges => privileges::apply(rows, &mut schema, target)?,
            Family::Extensions => types::apply_extensions(rows, &mut schema, target)?,
            Family::Settings => settings = settings::apply(rows, &options.settings, target)?,
        }
    }
    let migrations = applied::read(session).await?;

    let mut tree = Node::map();
    tree.insert("schema", schema.into_node());
    tree.insert("settings", settings);
    if let Some(migrations) = migrations {
        tree.insert("migrations", migrations);
    }
    Ok((tree, tables, helper_statements))
}

fn order(family: Family) -> u8 {
    family as u8
}

/// Another session reading the exported `snapshot`.
async fn helper(
    target: String,
    limits: Limits,
    connect_options: &PgConnectOptions,
    objects: &crate::glob::NameFilter,
    snapshot: &str,
) -> Result<Session, CollectError> {
    let conn = PgConnection::connect_with(connect_options)
        .await
        .map_err(|err| session::connect_error(&target, &err))?;
    let mut helper = Session::new(conn, target, limits, objects);
    helper.begin().await?;
    helper.import_snapshot(snapshot).await?;
    Ok(helper)
}

/// Runs every catalog query, spread round-robin over the main session and the helpers, and
/// closes the helpers. Returns the rows per family and the helpers' statement count.
async fn fetch_all(
    main: &mut Session,
    helpers: Vec<Session>,
) -> Result<(Vec<(Family, Vec<PgRow>)>, usize), CollectError> {
    let lanes = helpers.len() + 1;
    let share = |lane: usize| -> Vec<(Family, Query)> {
        FAMILIES
            .iter()
            .enumerate()
            .filter(|(i, _)| i % lanes == lane)
            .map(|(_, f)| *f)
            .collect()
    };
    let mut set = JoinSet::new();
    for (lane, mut helper) in helpers.into_iter().enumerate() {
        let work = share(lane + 1);
        set.spawn(async move {
            let fetched = fetch_lane(&mut helper, &work).await;
            let ended = helper.execute("COMMIT").await;
            let statements = helper.statements();
            helper.close().await;
            fetched.and_then(|rows| ended.map(|()| (rows, statements)))
        });
    }
    let mut fetched = fetch_lane(main, &share(0)).await?;
    // The helpers imported the snapshot when they connected: the main transaction can end
    // now rather than sit idle while they finish.
    main.execute("COMMIT").await?;
    let mut statements = 0;
    while let Some(joined) = set.join_next().await {
        let (rows, count) = joined.map_err(|err| {
            CollectError::query(main.target(), format!("a catalog task failed: {err}"))
        })??;
        fetched.extend(rows);
        statements += count;
    }
    Ok((fetched, statements))
}

async fn fetch_lane(
    session: &mut Session,
    work: &[(Family, Query)],
) -> Result<Vec<(Family, Vec<PgRow>)>, CollectError> {
    let mut out = Vec::with_capacity(work.len());
    for (family, query) in work {
        out.push((*family, session.fetch(*query).await?));
    }
    Ok(out)
}
