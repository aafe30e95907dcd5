//! SQLite collector: schema, row counts, settings and sqlx migrations of a database file.
//!
//! The file is opened read-only and never created. Everything is read through `sqlite_schema`
//! and the pragma table-valued functions (names are bound as parameters, never spliced into
//! SQL); what the pragmas do not report (collations, generation expressions, index expressions
//! and predicates) comes from the stored DDL via [`super::sqlite_ddl`]. The tree holds no
//! rowids, page numbers or statement-order artefacts, so equal schemas give equal trees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Decode, Row, Sqlite, Type};
use tracing::debug;

use super::sqlite_ddl::{self, TableDdl};
use super::{migrations, normalize_definition};
use crate::collectors::CollectError;
use crate::config::{RowCountMode, SqlOptions};
use crate::snapshot::{Node, Tree};

/// How long a statement waits on a lock held by a writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's extended result code for "file is not a database".
const SQLITE_NOTADB: &str = "26";

/// Collects schema, row counts, settings and migrations of a SQLite file, opened read-only.
pub async fn collect(path: &Path, options: &SqlOptions) -> Result<Tree, CollectError> {
    let target = path.display().to_string();
    match tokio::fs::metadata(path).await {
        Ok(meta) if meta.is_dir() => {
            return Err(CollectError::connect(
                &target,
                "path is a directory, not a database file",
                Some("point `path` at the SQLite database file"),
            ))
        }
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectError::connect(
                &target,
                "database file does not exist",
                Some("check the path; driftwarden never creates target databases"),
            ))
        }
        Err(err) => {
            return Err(CollectError::connect(
                &target,
                format!("cannot read the database file: {err}"),
                None,
            ))
        }
    }
    // create_if_missing(false) also covers a file deleted between the check above and here.
    let connect_options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = SqliteConnection::connect_with(&connect_options)
        .await
        .map_err(|err| open_error(&target, err))?;
    debug!(path = %target, "Opened SQLite database read-only.");
    let result = read(&mut conn, &target, options).await;
    if let Err(err) = conn.close().await {
        debug!(path = %target, error = %err, "Closing the SQLite connection failed.");
    }
    result
}

fn is_not_a_database(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == SQLITE_NOTADB)
}

fn not_a_database(target: &str) -> CollectError {
    CollectError::connect(
        target,
        "file is not a SQLite database",
        Some("check that the path points at a SQLite database file"),
    )
}

fn open_error(target: &str, err: sqlx::Error) -> CollectError {
    if is_not_a_database(&err) {
        return not_a_database(target);
    }
    CollectError::connect(
        target,
        format!("cannot open the database read-only: {err}"),
        None,
    )
}

fn query_error(target: &str, what: &str, err: sqlx::Error) -> CollectError {
    if is_not_a_database(&err) {
        return not_a_database(target);
    }
    CollectError::query(target, format!("{what}: {err}"))
}

/// One typed column of a result row, or a query error naming the column.
fn get<'r, T>(row: &'r SqliteRow, column: &str, target: &str) -> Result<T, CollectError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(column).map_err(|err| {
        CollectError::query(
            target,
            format!("unexpected value in column {column}: {err}"),
        )
    })
}

/// The schema-qualified key of an object: `main.<name>`.
fn qualified(name: &str) -> String {
    format!("main.{name}")
}

/// A row of `sqlite_schema`.
struct SchemaObject {
    kind: String,
    name: String,
    table: String,
    sql: Option<String>,
}

/// An ordinary table, as `pragma_table_list` describes it.
struct TableInfo {
    name: String,
    without_rowid: bool,
    strict: bool,
}

/// A row of `pragma_table_xinfo`.
struct Column {
    name: String,
    decl_type: String,
    notnull: bool,
    default: Option<String>,
    pk: i64,
    hidden: i64,
}

async fn read(
    conn: &mut SqliteConnection,
    target: &str,
    options: &SqlOptions,
) -> Result<Tree, CollectError> {
    let mut objects = schema_objects(conn, target).await?;
    let all_tables: Vec<String> = objects
        .iter()
        .filter(|o| o.kind == "table")
        .map(|o| o.name.clone())
        .collect();
    // The objects filter applies to tables, views and triggers alike, by qualified name.
    objects.retain(|o| o.kind == "index" || options.objects.allows(&qualified(&o.name)));
    let sql_of = |kind: &str, name: &str| {
        objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
            .and_then(|o| o.sql.as_deref())
    };
    let (mut tables, mut virtual_tables) = table_list(conn, target).await?;
    tables.retain(|t| options.objects.allows(&qualified(&t.name)));
    virtual_tables.retain(|t| options.objects.allows(&qualified(t)));

    let mut columns_of: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for table in &tables {
        columns_of.insert(
            table.name.clone(),
            columns(conn, target, &table.name).await?,
        );
    }

    let index_sql: BTreeMap<&str, &str> = objects
        .iter()
        .filter(|o| o.kind == "index")
        .filter_map(|o| Some((o.name.as_str(), o.sql.as_deref()?)))
        .collect();
    let mut tables_node = Node::map();
    let mut rows_node = Node::map();
    let mut autoincrement_tables = Vec::new();
    for table in &tables {
        let ddl = sqlite_ddl::parse_create_table(sql_of("table", &table.name).unwrap_or(""));
        let cols = columns_of.get(&table.name).map_or(&[][..], Vec::as_slice);
        let mut node = Node::map();
        node.insert("columns", columns_node(cols, &ddl));
        node.insert("without_rowid", table.without_rowid);
        node.insert("strict", table.strict);
        node.insert("autoincrement", ddl.autoincrement);
        let indexes = indexes(conn, target, &table.name, &index_sql).await?;
        node.insert("indexes", indexes);
        let foreign_keys = foreign_keys(conn, target, &table.name, &columns_of).await?;
        node.insert("foreign_keys", foreign_keys);
        debug!(
            table = %table.name,
            columns = cols.len(),
            autoincrement = ddl.autoincrement,
            "Read SQLite table schema."
        );
        tables_node.insert(qualified(&table.name), node);
        // SQLite keeps no row statistics to estimate from, so every mode but `off` counts.
        if options.row_counts != RowCountMode::Off
            && options.row_counts_filter.allows(&qualified(&table.name))
        {
            rows_node.insert(
                qualified(&table.name),
                row_count(conn, target, &table.name).await?,
            );
        }
        if ddl.autoincrement {
            autoincrement_tables.push(table.name.clone());
        }
    }

    let mut views = Node::map();
    let mut triggers = Node::map();
    for object in objects.iter().filter(|o| !is_internal(&o.name)) {
        let definition = normalize_definition(object.sql.as_deref().unwrap_or(""));
        match object.kind.as_str() {
            "view" => {
                let mut node = Node::map();
                node.insert("definition", definition);
                views.insert(qualified(&object.name), node);
            }
            "trigger" => {
                let mut node = Node::map();
                node.insert("table", qualified(&object.table));
                node.insert("definition", definition);
                triggers.insert(qualified(&object.name), node);
            }
            _ => {}
        }
    }
    let mut virtuals = Node::map();
    for name in &virtual_tables {
        let mut node = Node::map();
        node.insert(
            "definition",
            normalize_definition(sql_of("table", name).unwrap_or("")),
        );
        virtuals.insert(qualified(name), node);
    }

    let mut schema = Node::map();
    schema.insert("tables", tables_node);
    schema.insert("views", views);
    schema.insert("triggers", triggers);
    schema.insert("virtual_tables", virtuals);

    let mut tree = Tree::map();
    tree.insert("schema", schema);
    if options.row_counts != RowCountMode::Off {
        tree.insert("rows", rows_node);
    }
    tree.insert("settings", settings(conn, target).await?);
    tree.insert("stats", stats(conn, target).await?);
    let has_table = |name: &str| objects.iter().any(|o| o.kind == "table" && o.name == name);
    let mut counters = Node::map();
    let sequences = if has_table("sqlite_sequence") {
        sequences(conn, target, &tables, &autoincrement_tables).await?
    } else {
        zero_sequences(&autoincrement_tables)
    };
    counters.insert("autoincrement", sequences);
    tree.insert("counters", counters);
    let mut applied = Node::map();
    for table in &all_tables {
        if let Some(tool) = migrations::find(table) {
            applied.insert(
                tool.name,
                applied_migrations(conn, target, tool, table).await?,
            );
        }
    }
    if matches!(&applied, Node::Map(tools) if !tools.is_empty()) {
        tree.insert("migrations", applied);
    }
    debug!(
        path = %target,
        tables = tables.len(),
        views = objects.iter().filter(|o| o.kind == "view").count(),
        triggers = objects.iter().filter(|o| o.kind == "trigger").count(),
        leaves = tree.leaf_count(),
        "Collected SQLite database."
    );
    Ok(tree)
}

/// SQLite's own tables (`sqlite_sequence`, `sqlite_stat1`, …): never part of the schema.
fn is_internal(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("sqlite_"))
}

async fn schema_objects(
    conn: &mut SqliteConnection,
    target: &str,
) -> Result<Vec<SchemaObject>, CollectError> {
    let rows = sqlx::query("SELECT type, name, tbl_name, sql FROM main.sqlite_schema")
        .fetch_all(&mut *conn)
        .await
        .map_err(|err| query_error(target, "reading sqlite_schema", err))?;
    rows.iter()
        .map(|row| {
            Ok(SchemaObject {
                kind: get(row, "type", target)?,
                name: get(row, "name", target)?,
                table: get(row, "tbl_name", target)?,
                sql: get(row, "sql", target)?,
            })
        })
        .collect()
}

/// Ordinary user tables (sorted by name) and virtual tables; internal, shadow and migration
/// tables are left out.
async fn table_list(
    conn: &mut SqliteConnection,
    target: &str,
) -> Result<(Vec<TableInfo>, Vec<String>), CollectError> {
    let rows = sqlx::query(
        "SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|err| query_error(target, "listing tables", err))?;
    let mut tables = Vec::new();
    let mut virtuals = Vec::new();
    for row in &rows {
        let name: String = get(row, "name", target)?;
        let kind: String = get(row, "type", target)?;
        if is_internal(&name) || migrations::is_migration_table(&name) {
            continue;
        }
        match kind.as_str() {
            "table" => tables.push(TableInfo {
                name,
                without_rowid: get::<i64>(row, "wr", target)? != 0,
                strict: get::<i64>(row, "strict", target)? != 0,
            }),
            "virtual" => virtuals.push(name),
            _ => {}
        }
    }
    Ok((tables, virtuals))
}

async fn columns(
    conn: &mut SqliteConnection,
    target: &str,
    table: &str,
) -> Result<Vec<Column>, CollectError> {
    let rows = sqlx::query(
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
         FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
    )
    .bind(table.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(|err| query_error(target, &format!("reading the columns of {table}"), err))?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in &rows {
        let column = Column {
            name: get(row, "name", target)?,
            decl_type: get::<Option<String>>(row, "type", target)?.unwrap_or_default(),
            notnull: get::<i64>(row, "notnull", target)? != 0,
            default: get(row, "dflt_value", target)?,
            pk: get(row, "pk", target)?,
            hidden: get(row, "hidden", target)?,
        };
        // hidden = 1 marks the hidden columns of virtual tables, not ordinary ones.
        if column.hidden != 1 {
            columns.push(column);
        }
    }
    Ok(columns)
}

fn columns_node(columns: &[Column], ddl: &TableDdl) -> Node {
    let mut node = Node::map();
    for (position, column) in columns.iter().enumerate() {
        let parsed = ddl.column(&column.name);
        let generated = match column.hidden {
            2 => Some("virtual"),
            3 => Some("stored"),
            _ => None,
        };
        let mut leaf = Node::map();
        leaf.insert("type", column.decl_type.clone());
        leaf.insert("nullable", !column.notnull);
        leaf.insert("default", column.default.clone());
        leaf.insert("primary_key", column.pk);
        leaf.insert(
            "collation",
            parsed
                .and_then(|c| c.collation.clone())
                .unwrap_or_else(|| "BINARY".to_string()),
        );
        leaf.insert("generated", generated);
        leaf.insert(
            "generated_expression",
            parsed
                .filter(|_| generated.is_some())
                .and_then(|c| c.generated_expression.clone()),
        );
        leaf.insert("position", i64::try_from(position).unwrap_or(i64::MAX));
        node.insert(column.name.clone(), leaf);
    }
    node
}

async fn indexes(
    conn: &mut SqliteConnection,
    target: &str,
    table: &str,
    index_sql: &BTreeMap<&str, &str>,
) -> Result<Node, CollectError> {
    let rows = sqlx::query(
        "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main') ORDER BY name",
    )
    .bind(table.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(|err| query_error(target, &format!("listing the indexes of {table}"), err))?;
    let mut node = Node::map();
    for row in &rows {
        let name: String = get(row, "name", target)?;
        let origin: String = get(row, "origin", target)?;
        let unique = get::<i64>(row, "unique", target)? != 0;
        let partial = get::<i64>(row, "partial", target)? != 0;
        let ddl = index_sql
            .get(name.as_str())
            .map(|sql| sqlite_ddl::parse_create_index(sql))
            .unwrap_or_default();
        let columns = index_columns(conn, target, &name, &ddl.terms).await?;
        // Constraint indexes are named sqlite_autoindex_<table>_<n>, numbered in constraint
        // order: key them by what they cover instead, so reordering constraints is no drift.
        let key = match origin.as_str() {
            "pk" => format!("primary_key({})", columns.join(",")),
            "u" if is_internal(&name) => format!("unique({})", columns.join(",")),
            _ => name.clone(),
        };
        let key = if matches!(&node, Node::Map(map) if map.contains_key(&key)) {
            name
        } else {
            key
        };
        let mut leaf = Node::map();
        leaf.insert("columns", columns);
        leaf.insert("unique", unique);
        leaf.insert("partial", ddl.predicate.filter(|_| partial));
        leaf.insert("origin", origin);
        node.insert(key, leaf);
    }
    Ok(node)
}

/// One text per key column: `name`, `name DESC`, `name COLLATE NOCASE`, or the expression.
async fn index_columns(
    conn: &mut SqliteConnection,
    target: &str,
    index: &str,
    terms: &[String],
) -> Result<Vec<String>, CollectError> {
    let rows = sqlx::query(
        "SELECT cid, name, \"desc\", coll FROM pragma_index_xinfo(?1, 'main') \
         WHERE \"key\" = 1 ORDER BY seqno",
    )
    .bind(index.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(|err| {
        query_error(
            target,
            &format!("reading the columns of index {index}"),
            err,
        )
    })?;
    let mut columns = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let cid: i64 = get(row, "cid", target)?;
        let name: Option<String> = get(row, "name", target)?;
        let desc = get::<i64>(row, "desc", target)? != 0;
        let collation = get::<Option<String>>(row, "coll", target)?
            .unwrap_or_default()
            .to_ascii_uppercase();
        let mut text = match (cid, name) {
            (-2, _) => terms
                .get(i)
                .cloned()
                .unwrap_or_else(|| "<expression>".to_string()),
            (-1, _) => "rowid".to_string(),
            (_, name) => name.unwrap_or_default(),
        };
        if !collation.is_empty() && collation != "BINARY" {
            text.push_str(" COLLATE ");
            text.push_str(&collation);
        }
        if desc {
            text.push_str(" DESC");
        }
        columns.push(text);
    }
    Ok(columns)
}

/// One foreign key: the child's columns, the parent table and columns, and its actions.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    identity: String,
    on_update: String,
    on_delete: String,
    match_: String,
}

async fn foreign_keys(
    conn: &mut SqliteConnection,
    target: &str,
    table: &str,
    columns_of: &BTreeMap<String, Vec<Column>>,
) -> Result<Node, CollectError> {
    let rows = sqlx::query(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete, \"match\" \
         FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq",
    )
    .bind(table.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(|err| query_error(target, &format!("reading the foreign keys of {table}"), err))?;

    // Group the per-column rows by constraint id; the id itself (statement order) is dropped.
    struct Raw {
        parent: String,
        from: Vec<String>,
        to: Vec<Option<String>>,
        on_update: String,
        on_delete: String,
        match_: String,
    }
    let mut grouped: BTreeMap<i64, Raw> = BTreeMap::new();
    for row in &rows {
        let id: i64 = get(row, "id", target)?;
        let from: String = get(row, "from", target)?;
        let to: Option<String> = get(row, "to", target)?;
        if let Some(raw) = grouped.get_mut(&id) {
            raw.from.push(from);
            raw.to.push(to);
            continue;
        }
        grouped.insert(
            id,
            Raw {
                parent: get(row, "table", target)?,
                from: vec![from],
                to: vec![to],
                on_update: get(row, "on_update", target)?,
                on_delete: get(row, "on_delete", target)?,
                match_: get(row, "match", target)?,
            },
        );
    }

    let mut keys: Vec<ForeignKey> = grouped
        .into_values()
        .map(|raw| {
            // SQLite resolves the parent by case-insensitive name; report its real spelling.
            let parent = columns_of
                .keys()
                .find(|name| **name == raw.parent)
                .or_else(|| {
                    columns_of
                        .keys()
                        .find(|name| name.eq_ignore_ascii_case(&raw.parent))
                })
                .cloned()
                .unwrap_or(raw.parent);
            // `REFERENCES parent` without columns means the parent's primary key.
            let to: Vec<String> = if raw.to.iter().all(Option::is_none) {
                primary_key(columns_of.get(&parent).map_or(&[][..], Vec::as_slice))
            } else {
                raw.to.into_iter().map(Option::unwrap_or_default).collect()
            };
            ForeignKey {
                identity: format!(
                    "({})->{}({})",
                    raw.from.join(","),
                    qualified(&parent),
                    to.join(",")
                ),
                on_update: raw.on_update,
                on_delete: raw.on_delete,
                match_: raw.match_,
            }
        })
        .collect();
    keys.sort();

    let mut node = Node::map();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        let count = seen.entry(key.identity.clone()).or_insert(0);
        *count += 1;
        let identity = if *count == 1 {
            key.identity
        } else {
            format!("{} #{count}", key.identity)
        };
        let mut leaf = Node::map();
        leaf.insert("on_update", key.on_update);
        leaf.insert("on_delete", key.on_delete);
        leaf.insert("match", key.match_);
        node.insert(identity, leaf);
    }
    Ok(node)
}

/// The primary-key columns of a table, in key order.
fn primary_key(columns: &[Column]) -> Vec<String> {
    let mut key: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    key.sort_by_key(|c| c.pk);
    key.into_iter().map(|c| c.name.clone()).collect()
}

async fn row_count(
    conn: &mut SqliteConnection,
    target: &str,
    table: &str,
) -> Result<i64, CollectError> {
    // Identifiers cannot be bound; doubling `"` makes any name a safe quoted identifier.
    let sql = format!(
        "SELECT count(*) FROM main.\"{}\"",
        table.replace('"', "\"\"")
    );
    sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| query_error(target, &format!("counting the rows of {table}"), err))
}

async fn pragma_int(
    conn: &mut SqliteConnection,
    target: &str,
    sql: &'static str,
) -> Result<i64, CollectError> {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| query_error(target, sql, err))
}

async fn pragma_text(
    conn: &mut SqliteConnection,
    target: &str,
    sql: &'static str,
) -> Result<String, CollectError> {
    sqlx::query_scalar::<_, String>(sql)
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| query_error(target, sql, err))
}

async fn settings(conn: &mut SqliteConnection, target: &str) -> Result<Node, CollectError> {
    let mut node = Node::map();
    node.insert(
        "user_version",
        pragma_int(conn, target, "PRAGMA user_version").await?,
    );
    node.insert(
        "application_id",
        pragma_int(conn, target, "PRAGMA application_id").await?,
    );
    node.insert(
        "encoding",
        pragma_text(conn, target, "PRAGMA encoding").await?,
    );
    node.insert(
        "page_size",
        pragma_int(conn, target, "PRAGMA page_size").await?,
    );
    let auto_vacuum = match pragma_int(conn, target, "PRAGMA auto_vacuum").await? {
        0 => "none".to_string(),
        1 => "full".to_string(),
        2 => "incremental".to_string(),
        other => other.to_string(),
    };
    node.insert("auto_vacuum", auto_vacuum);
    node.insert(
        "journal_mode",
        pragma_text(conn, target, "PRAGMA journal_mode").await?,
    );
    Ok(node)
}

async fn stats(conn: &mut SqliteConnection, target: &str) -> Result<Node, CollectError> {
    let mut node = Node::map();
    node.insert(
        "page_count",
        pragma_int(conn, target, "PRAGMA page_count").await?,
    );
    node.insert(
        "freelist_count",
        pragma_int(conn, target, "PRAGMA freelist_count").await?,
    );
    Ok(node)
}

/// `sqlite_sequence` values of collected tables; AUTOINCREMENT tables that never issued an id
/// have no row there and count as 0.
async fn sequences(
    conn: &mut SqliteConnection,
    target: &str,
    tables: &[TableInfo],
    autoincrement_tables: &[String],
) -> Result<Node, CollectError> {
    let rows = sqlx::query("SELECT name, seq FROM main.sqlite_sequence")
        .fetch_all(&mut *conn)
        .await
        .map_err(|err| query_error(target, "reading sqlite_sequence", err))?;
    let known: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut node = zero_sequences(autoincrement_tables);
    for row in &rows {
        // sqlite_sequence is an ordinary, writable table: skip rows of unexpected shape.
        let (Ok(Some(name)), Ok(Some(seq))) = (
            row.try_get::<Option<String>, _>("name"),
            row.try_get::<Option<i64>, _>("seq"),
        ) else {
            continue;
        };
        if known.contains(name.as_str()) {
            node.insert(qualified(&name), seq);
        }
    }
    Ok(node)
}

fn zero_sequences(autoincrement_tables: &[String]) -> Node {
    let mut node = Node::map();
    for table in autoincrement_tables {
        node.insert(qualified(table), 0i64);
    }
    node
}

async fn applied_migrations(
    conn: &mut SqliteConnection,
    target: &str,
    tool: &migrations::Tool,
    table: &str,
) -> Result<Node, CollectError> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let as_text = |column: &str, binary: bool| {
        if binary {
            format!("lower(hex({column}))")
        } else {
            format!("CAST({column} AS TEXT)")
        }
    };
    let sql = migrations::select_sql(tool, &format!("main.{}", quote(table)), &quote, &as_text);
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .map_err(|err| query_error(target, &format!("reading {table}"), err))?;
    let width = migrations::columns(tool).len();
    let mut values = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut row_values = Vec::with_capacity(width);
        for i in 0..width {
            let value: Option<String> = row
                .try_get(i)
                .map_err(|err| query_error(target, &format!("reading {table}"), err))?;
            row_values.push(value);
        }
        values.push(row_values);
    }
    Ok(migrations::build(tool, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_get_unix_newlines_no_trailing_blanks_and_one_final_newline() {
        assert_eq!(
            normalize_definition("CREATE VIEW v AS  \r\nSELECT 1\t\r\n\r\n"),
            "CREATE VIEW v AS\nSELECT 1\n"
        );
        assert_eq!(
            normalize_definition("CREATE VIEW v AS SELECT 1"),
            "CREATE VIEW v AS SELECT 1\n"
        );
        assert_eq!(normalize_definition("a\rb"), "a\nb\n");
        assert_eq!(normalize_definition(""), "\n");
    }

    #[test]
    fn internal_names_are_recognised_case_insensitively() {
        assert!(is_internal("sqlite_sequence"));
        assert!(is_internal("SQLITE_stat1"));
        assert!(!is_internal("sqlite"));
        assert!(!is_internal("my_sqlite_table"));
        assert!(!is_internal("é"));
    }
}
