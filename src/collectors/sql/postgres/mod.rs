//! PostgreSQL collector: schema, migrations, settings and row counts through a read-only
//! session (see docs/collectors-postgres.md).
//!
//! Everything is read from `pg_catalog` (not `information_schema`, whose rows depend on the
//! caller's privileges) in a fixed number of whole-database queries, one per object family,
//! all in one snapshot (a read-only REPEATABLE READ transaction, exported to up to three more
//! sessions that take the queries from one queue) so the families agree with each other. Each
//! family's rows are applied to the tree as they arrive, while the other queries still run.
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
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
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

/// Every catalog query, in the order sessions take them: heaviest first (the main session starts
/// before the others have connected), relations early since every sub-object hangs on them.
/// The columns are read in two halves.
const FAMILIES: [(Family, Query); 13] = [
    (
        Family::Columns,
        query(
            relations::COLUMNS_EVEN,
            "reading columns (pg_attribute, even table oids)",
            true,
        ),
    ),
    (
        Family::Relations,
        query(relations::RELATIONS, "reading relations (pg_class)", true),
    ),
    (
        Family::Columns,
        query(
            relations::COLUMNS_ODD,
            "reading columns (pg_attribute, odd table oids)",
            true,
        ),
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

/// Query `index` of [`FAMILIES`] for a server of `version` (`server_version_num`).
fn query_for(index: usize, version: u32) -> Fetch {
    let (family, query) = FAMILIES[index % FAMILIES.len()];
    let query = match family {
        Family::Indexes if version < indexes::NULLS_NOT_DISTINCT_SINCE => Query {
            sql: indexes::INDEXES_BEFORE_15,
            ..query
        },
        _ => query,
    };
    (family, query)
}

/// A family and the query reading it (or part of it).
type Fetch = (Family, Query);

/// How many queries read `family`.
fn parts(family: Family) -> usize {
    FAMILIES.iter().filter(|(f, _)| *f == family).count()
}

/// The queries not yet run (indexes into [`FAMILIES`]), taken by whichever session is free: a
/// session that finishes early takes the next one rather than sit idle while another has three.
struct Queue(std::sync::Mutex<std::collections::VecDeque<usize>>);

impl Queue {
    fn new() -> Self {
        Queue(std::sync::Mutex::new((0..FAMILIES.len()).collect()))
    }

    /// The next query to run; `None` when all are taken.
    fn next(&self) -> Option<usize> {
        // A poisoned lock means a reader panicked: its task error is the one reported.
        self.0.lock().ok().and_then(|mut queue| queue.pop_front())
    }
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
    let wanted = options.count_concurrency.clamp(1, MAX_CATALOG_SESSIONS);
    let queue = Arc::new(Queue::new());
    let (sender, receiver) = mpsc::unbounded_channel();
    // Applying rows is client CPU work (half a million leaves on big schemas): done while the
    // slower queries still run rather than after the last one. JoinSets, so an early return
    // on error aborts the tasks.
    let mut builder = JoinSet::new();
    builder.spawn(build(
        receiver,
        options.settings.clone(),
        !options.objects.include.is_empty(),
        session.target().to_string(),
    ));
    // The helpers connect while the main session begins and exports its snapshot (each
    // connection costs a few round trips), then import it and take queries from the queue.
    let (snapshot, snapshot_id) = watch::channel(None);
    let (imported, mut imports) = mpsc::unbounded_channel();
    let mut helpers = JoinSet::new();
    for _ in 1..wanted {
        helpers.spawn(helper(Helper {
            target: session.target().to_string(),
            limits: session.limits(),
            connect_options: connect_options.clone(),
            objects: options.objects.clone(),
            snapshot: snapshot_id.clone(),
            imported: imported.clone(),
            queue: Arc::clone(&queue),
            sender: sender.clone(),
        }));
    }
    drop((snapshot_id, imported));
    session.begin().await?;
    let id = if wanted > 1 {
        session.export_snapshot().await?
    } else {
        None
    };
    if snapshot.send(Some(id.clone())).is_err() {
        // Receivers are gone only if every helper already ended (failed to connect): their
        // errors are reported below.
        debug!("No helper session is waiting for the snapshot.");
    }
    let version = session.server_version();
    fetch_lane(session, &queue, version, &sender).await?;
    // The builder learns that nothing more comes once the helpers' senders are gone too.
    drop(sender);
    // The exporting transaction must stay open until every helper has imported its snapshot
    // (a helper that failed drops its notifier; its error is reported below).
    if id.is_some() {
        for _ in 1..wanted {
            if imports.recv().await.is_none() {
                break;
            }
        }
    }
    session.execute("COMMIT").await?;
    let mut helper_statements = 0;
    while let Some(joined) = helpers.join_next().await {
        helper_statements += joined.map_err(|err| {
            CollectError::query(session.target(), format!("a catalog task failed: {err}"))
        })??;
    }
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
        while let Some(ready) = pending.iter().position(|(family, _)| {
            family.after().iter().all(|needed| {
                applied.iter().filter(|done| *done == needed).count() == parts(*needed)
            })
        }) {
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

/// What a helper session needs.
struct Helper {
    target: String,
    limits: Limits,
    connect_options: PgConnectOptions,
    objects: crate::glob::NameFilter,
    /// The exported snapshot: unset until the main session has exported it, `Some(None)` if
    /// the server refused (the main session then reads alone).
    snapshot: watch::Receiver<Option<Option<String>>>,
    /// Told once the snapshot is imported.
    imported: mpsc::UnboundedSender<()>,
    queue: Arc<Queue>,
    sender: mpsc::UnboundedSender<Fetched>,
}

/// Another session: connects, joins the exported snapshot, reads families from the queue until
/// it is empty, ends its transaction. Returns its statement count.
async fn helper(mut helper: Helper) -> Result<usize, CollectError> {
    let conn = PgConnection::connect_with(&helper.connect_options)
        .await
        .map_err(|err| session::connect_error(&helper.target, &err))?;
    let mut session = Session::new(conn, helper.target, helper.limits, &helper.objects);
    let id = match helper.snapshot.wait_for(Option::is_some).await {
        Ok(id) => id.clone().flatten(),
        // The main session gave up before exporting: its error is the one reported.
        Err(_) => None,
    };
    let Some(id) = id else {
        session.close().await;
        return Ok(0);
    };
    session.begin().await?;
    session.import_snapshot(&id).await?;
    // The main session waits for this before it commits; if it is gone, it has failed and
    // its error is the one reported.
    if helper.imported.send(()).is_err() {
        debug!("The main catalog session ended before this one imported its snapshot.");
    }
    drop(helper.imported);
    let version = session.server_version();
    let fetched = fetch_lane(&mut session, &helper.queue, version, &helper.sender).await;
    let ended = session.execute("COMMIT").await;
    let statements = session.statements();
    session.close().await;
    fetched.and(ended).map(|()| statements)
}

/// Reads families from `queue` until it is empty, sending each one's rows to the builder as
/// soon as they are read.
async fn fetch_lane(
    session: &mut Session,
    queue: &Queue,
    version: u32,
    sender: &mpsc::UnboundedSender<Fetched>,
) -> Result<(), CollectError> {
    while let Some(index) = queue.next() {
        let (family, query) = query_for(index, version);
        let rows = session.fetch(query).await?;
        // The builder only stops early when it failed; that error is reported, not this.
        if sender.send((family, rows)).is_err() {
            break;
        }
    }
    Ok(())
}
