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
mod indexes;
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
use tokio::sync::mpsc;
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

/// The object families, one catalog query each.
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

impl Family {
    /// The families whose rows must be in the tree before this one's are applied: sub-objects
    /// hang on their relations; primary-key positions and index collations are set on columns;
    /// schemas are kept when anything collected lives in them, and get their privileges after.
    fn after(self) -> &'static [Family] {
        use Family::*;
        match self {
            Relations | Functions | Types | Extensions | Settings => &[],
            Columns | Triggers | Policies => &[Relations],
            Constraints | Indexes => &[Relations, Columns],
            Schemas => &[Relations, Functions, Types],
            Privileges => &[Relations, Schemas],
        }
    }
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
        query(indexes::INDEXES, "reading indexes (pg_index)", true),
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

/// The catalog queries for a server of `version` (`server_version_num`).
fn families(version: u32) -> Vec<(Family, Query)> {
    FAMILIES
        .iter()
        .map(|&(family, query)| match family {
            Family::Indexes if version < indexes::NULLS_NOT_DISTINCT_SINCE => (
                family,
                Query {
                    sql: indexes::INDEXES_BEFORE_15,
                    ..query
                },
            ),
            _ => (family, query),
        })
        .collect()
}

/// Most sessions the catalog is read on at once.
const MAX_CATALOG_SESSIONS: usize = 4;

/// Rows of one family, from whichever session read them.
type Fetched = (Family, Vec<PgRow>);

/// The catalog reads, in one snapshot (spread over up to `count_concurrency` sessions, capped
/// at four), then the migration tables after it on the main session. The tree is built on a
/// task of its own while the queries still run.
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
    let work = families(session.server_version());
    let (sender, receiver) = mpsc::unbounded_channel();
    // Applying rows is client CPU work (half a million leaves on big schemas): done while the
    // slower queries still run rather than after the last one. A JoinSet, so an early return
    // on error aborts it.
    let mut builder = JoinSet::new();
    builder.spawn(build(
        receiver,
        options.settings.clone(),
        !options.objects.include.is_empty(),
        session.target().to_string(),
    ));
    let helper_statements = fetch_all(session, helpers, &work, sender).await?;
    let migrations = applied::read(session).await?;
    let built = builder
        .join_next()
        .await
        .ok_or_else(|| CollectError::query(session.target(), "the tree builder did not run"))?
        .map_err(|err| {
            CollectError::query(session.target(), format!("a catalog task failed: {err}"))
        })??;
    let mut tree = Node::map();
    tree.insert("schema", built.schema.into_node());
    tree.insert("settings", built.settings);
    if let Some(migrations) = migrations {
        tree.insert("migrations", migrations);
    }
    Ok((tree, built.tables, helper_statements))
}

/// What the builder made of the catalog rows.
struct Built {
    schema: Schema,
    tables: Vec<relations::TableRef>,
    settings: Node,
}

/// Applies each family's rows as they arrive, once the families it hangs on are applied
/// ([`Family::after`]); the tree does not depend on the order rows arrive in.
async fn build(
    mut receiver: mpsc::UnboundedReceiver<Fetched>,
    settings_filter: crate::glob::NameFilter,
    filtered: bool,
    target: String,
) -> Result<Built, CollectError> {
    let target = target.as_str();
    let mut built = Built {
        schema: Schema::default(),
        tables: Vec::new(),
        settings: Node::map(),
    };
    let mut pending: Vec<Fetched> = Vec::new();
    let mut applied: Vec<Family> = Vec::with_capacity(FAMILIES.len());
    while let Some(fetched) = receiver.recv().await {
        pending.push(fetched);
        while let Some(ready) = pending
            .iter()
            .position(|(family, _)| family.after().iter().all(|needed| applied.contains(needed)))
        {
            let (family, rows) = pending.swap_remove(ready);
            apply(
                family,
                &rows,
                &mut built,
                &settings_filter,
                filtered,
                target,
            )?;
            applied.push(family);
        }
    }
    // A lane that failed sent nothing more; its error is the one reported (see fetch_all).
    if applied.len() != FAMILIES.len() {
        return Err(CollectError::query(
            target,
            format!(
                "catalog families left unread: {pending_families:?}",
                pending_families = pending.iter().map(|(f, _)| *f).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(built)
}

/// Applies one family's rows to the tree under construction.
fn apply(
    family: Family,
    rows: &[PgRow],
    built: &mut Built,
    settings_filter: &crate::glob::NameFilter,
    filtered: bool,
    target: &str,
) -> Result<(), CollectError> {
    debug!(family = ?family, rows = rows.len(), "Applying catalog rows.");
    let schema = &mut built.schema;
    match family {
        Family::Relations => built.tables = relations::apply(rows, schema, target)?,
        Family::Columns => relations::apply_columns(rows, schema, target)?,
        Family::Constraints => constraints::apply_constraints(rows, schema, target)?,
        Family::Indexes => indexes::apply_indexes(rows, schema, target)?,
        Family::Triggers => constraints::apply_triggers(rows, schema, target)?,
        Family::Policies => constraints::apply_policies(rows, schema, target)?,
        Family::Functions => routines::apply(rows, schema, target)?,
        Family::Types => types::apply_types(rows, schema, target)?,
        Family::Schemas => types::apply_schemas(rows, schema, filtered, target)?,
        Family::Privileges => privileges::apply(rows, schema, target)?,
        Family::Extensions => types::apply_extensions(rows, schema, target)?,
        Family::Settings => built.settings = settings::apply(rows, settings_filter, target)?,
    }
    Ok(())
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

/// Runs every catalog query, spread round-robin over the main session and the helpers, sending
/// each family's rows to `sender` as soon as they are read; ends the main transaction and
/// closes the helpers. Returns the helpers' statement count.
async fn fetch_all(
    main: &mut Session,
    helpers: Vec<Session>,
    work: &[(Family, Query)],
    sender: mpsc::UnboundedSender<Fetched>,
) -> Result<usize, CollectError> {
    let lanes = helpers.len() + 1;
    let share = |lane: usize| -> Vec<(Family, Query)> {
        work.iter()
            .enumerate()
            .filter(|(i, _)| i % lanes == lane)
            .map(|(_, f)| *f)
            .collect()
    };
    let mut set = JoinSet::new();
    for (lane, mut helper) in helpers.into_iter().enumerate() {
        let (work, sender) = (share(lane + 1), sender.clone());
        set.spawn(async move {
            let fetched = fetch_lane(&mut helper, &work, &sender).await;
            let ended = helper.execute("COMMIT").await;
            let statements = helper.statements();
            helper.close().await;
            fetched.and(ended).map(|()| statements)
        });
    }
    fetch_lane(main, &share(0), &sender).await?;
    // The builder learns that nothing more comes once the helpers' senders are gone too.
    drop(sender);
    // The helpers imported the snapshot when they connected: the main transaction can end
    // now rather than sit idle while they finish.
    main.execute("COMMIT").await?;
    let mut statements = 0;
    while let Some(joined) = set.join_next().await {
        statements += joined.map_err(|err| {
            CollectError::query(main.target(), format!("a catalog task failed: {err}"))
        })??;
    }
    Ok(statements)
}

async fn fetch_lane(
    session: &mut Session,
    work: &[(Family, Query)],
    sender: &mpsc::UnboundedSender<Fetched>,
) -> Result<(), CollectError> {
    for (family, query) in work {
        let rows = session.fetch(*query).await?;
        // The builder only stops early when it failed; that error is reported, not this.
        if sender.send((*family, rows)).is_err() {
            break;
        }
    }
    Ok(())
}
