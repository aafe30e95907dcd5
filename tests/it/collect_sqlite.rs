//! The SQLite collector against real database files built with sqlx in a temporary directory.

// Test helpers are not `#[test]` functions, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path as FsPath, PathBuf};

use driftwarden::collectors::sql::sqlite;
use driftwarden::collectors::CollectError;
use driftwarden::config::SqlOptions;
use driftwarden::diff::{diff, Change, ChangeKind};
use driftwarden::snapshot::hash::content_hash;
use driftwarden::snapshot::{Node, Path, Tree};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

const SHOP: &str = include_str!("../fixtures/sql/sqlite/shop.sql");
const SHOP_REORDERED: &str = include_str!("../fixtures/sql/sqlite/shop_reordered.sql");

/// Creates `dir/name` and runs `sql` in it. Foreign keys are off while loading, so rows can
/// be inserted in any order.
async fn build(dir: &TempDir, name: &str, sql: &str) -> PathBuf {
    let path = dir.path().join(name);
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(false);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|err| panic!("building {name}: {err}"));
    conn.close().await.unwrap();
    path
}

async fn shop(dir: &TempDir, name: &str) -> PathBuf {
    build(dir, name, SHOP).await
}

fn at<'a>(tree: &'a Tree, path: &str) -> &'a Node {
    tree.get(&Path::parse(path).unwrap())
        .unwrap_or_else(|| panic!("no node at {path} in\n{tree}"))
}

fn has(tree: &Tree, path: &str) -> bool {
    tree.get(&Path::parse(path).unwrap()).is_some()
}

/// Changes outside `stats/` (page counts are volatile by design and ignored by default rules).
fn changes(baseline: &Tree, candidate: &Tree) -> Vec<Change> {
    diff(baseline, candidate)
        .into_iter()
        .filter(|c| c.path.segments().first().map(String::as_str) != Some("stats"))
        .collect()
}

fn summary(changes: &[Change]) -> Vec<(String, ChangeKind)> {
    changes
        .iter()
        .map(|c| (c.path.to_string(), c.kind))
        .collect()
}

fn files_in(dir: &FsPath) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The collector with default options.
async fn collect(path: &FsPath) -> Result<Tree, CollectError> {
    sqlite::collect(path, &SqlOptions::default()).await
}

#[tokio::test]
async fn a_realistic_database_gives_the_expected_schema_leaves() {
    let dir = TempDir::new().unwrap();
    let tree = collect(&shop(&dir, "shop.db").await).await.unwrap();

    let customers = "schema/tables/main.customers";
    let orders = "schema/tables/main.orders";
    assert_eq!(
        at(&tree, &format!("{customers}/columns/id/type")),
        &Node::str("INTEGER")
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/id/primary_key")),
        &Node::Int(1)
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/id/position")),
        &Node::Int(0)
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/email/nullable")),
        &Node::Bool(false)
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/email/collation")),
        &Node::str("NOCASE")
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/email/primary_key")),
        &Node::Int(0)
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/name/type")),
        &Node::str("VARCHAR(255)")
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/name/collation")),
        &Node::str("BINARY")
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/name/default")),
        &Node::str("'anonymous'")
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/created_at/default")),
        &Node::str("datetime('now')")
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/created_at/position")),
        &Node::Int(3)
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/id/default")),
        &Node::Null
    );
    assert_eq!(
        at(&tree, &format!("{customers}/columns/id/generated")),
        &Node::Null
    );
    assert_eq!(
        at(&tree, &format!("{customers}/autoincrement")),
        &Node::Bool(false)
    );

    // Generated columns, long and short form.
    assert_eq!(
        at(&tree, &format!("{orders}/columns/total_cents/generated")),
        &Node::str("stored")
    );
    assert_eq!(
        at(
            &tree,
            &format!("{orders}/columns/total_cents/generated_expression")
        ),
        &Node::str("quantity * unit_price_cents")
    );
    assert_eq!(
        at(&tree, &format!("{orders}/columns/note/generated")),
        &Node::str("virtual")
    );
    assert_eq!(
        at(
            &tree,
            &format!("{orders}/columns/note/generated_expression")
        ),
        &Node::str("status || ', ' || quantity")
    );
    assert_eq!(
        at(&tree, &format!("{orders}/columns/note/type")),
        &Node::str("TEXT")
    );
    assert_eq!(
        at(
            &tree,
            &format!("{orders}/columns/quantity/generated_expression")
        ),
        &Node::Null
    );
    assert_eq!(
        at(&tree, &format!("{orders}/autoincrement")),
        &Node::Bool(true)
    );
    assert_eq!(
        at(&tree, &format!("{orders}/without_rowid")),
        &Node::Bool(false)
    );
    assert_eq!(at(&tree, &format!("{orders}/strict")), &Node::Bool(false));

    // Foreign keys: identity from columns and target, actions as leaves.
    let fk = format!("{orders}/foreign_keys/(customer_id)->main.customers(id)");
    assert_eq!(at(&tree, &format!("{fk}/on_delete")), &Node::str("CASCADE"));
    assert_eq!(
        at(&tree, &format!("{fk}/on_update")),
        &Node::str("NO ACTION")
    );
    assert_eq!(at(&tree, &format!("{fk}/match")), &Node::str("NONE"));
    let shipments = "schema/tables/main.shipments";
    assert_eq!(
        at(
            &tree,
            &format!("{shipments}/foreign_keys/(order_id)->main.orders(id)/on_update")
        ),
        &Node::str("CASCADE")
    );
    // `REFERENCES customers` without columns targets the parent's primary key.
    assert_eq!(
        at(
            &tree,
            &format!("{shipments}/foreign_keys/(customer_id)->main.customers(id)/on_delete")
        ),
        &Node::str("SET NULL")
    );
    assert_eq!(at(&tree, &format!("{shipments}/strict")), &Node::Bool(true));
    assert_eq!(
        at(&tree, &format!("{shipments}/without_rowid")),
        &Node::Bool(true)
    );

    // Indexes: unique, partial, expression, and constraint indexes keyed by what they cover.
    let ix = format!("{customers}/indexes/customers_name_email");
    assert_eq!(
        at(&tree, &format!("{ix}/columns")),
        &Node::from(vec!["name", "email COLLATE NOCASE"])
    );
    assert_eq!(at(&tree, &format!("{ix}/unique")), &Node::Bool(true));
    assert_eq!(at(&tree, &format!("{ix}/partial")), &Node::Null);
    assert_eq!(at(&tree, &format!("{ix}/origin")), &Node::str("c"));
    let ix = format!("{orders}/indexes/orders_open");
    assert_eq!(
        at(&tree, &format!("{ix}/columns")),
        &Node::from(vec!["customer_id", "status DESC"])
    );
    assert_eq!(at(&tree, &format!("{ix}/unique")), &Node::Bool(false));
    assert_eq!(
        at(&tree, &format!("{ix}/partial")),
        &Node::str("status <> 'shipped'")
    );
    let ix = format!("{customers}/indexes/customers_email_lower");
    assert_eq!(
        at(&tree, &format!("{ix}/columns")),
        &Node::from(vec!["lower(email)", "name DESC"])
    );
    let ix = format!("{customers}/indexes/unique(email COLLATE NOCASE)");
    assert_eq!(at(&tree, &format!("{ix}/origin")), &Node::str("u"));
    assert_eq!(at(&tree, &format!("{ix}/unique")), &Node::Bool(true));
    assert_eq!(
        at(
            &tree,
            &format!("{shipments}/indexes/primary_key(order_id,carrier)/origin")
        ),
        &Node::str("pk")
    );
    assert!(has(&tree, &format!("{shipments}/indexes/unique(tracking)")));
    assert!(has(
        &tree,
        &format!("{shipments}/indexes/unique(carrier,tracking)")
    ));
    assert!(!tree.to_string().contains("sqlite_autoindex"), "{tree}");

    // Views and triggers keep their text, normalised for line diffs.
    assert_eq!(
        at(&tree, "schema/views/main.customer_totals/definition"),
        &Node::str(
            "CREATE VIEW customer_totals AS\n\
             SELECT c.id, c.email, sum(o.total_cents) AS total_cents\n\
             FROM customers AS c\n\
             JOIN orders AS o ON o.customer_id = c.id\n\
             GROUP BY c.id\n"
        )
    );
    assert_eq!(
        at(&tree, "schema/triggers/main.orders_status_log/table"),
        &Node::str("main.orders")
    );
    let trigger = at(&tree, "schema/triggers/main.orders_status_log/definition");
    assert!(trigger
        .as_str()
        .unwrap()
        .starts_with("CREATE TRIGGER orders_status_log AFTER UPDATE"));
    assert!(trigger.as_str().unwrap().ends_with("END\n"), "{trigger}");

    // Rows, settings, volatile stats and counters.
    assert_eq!(at(&tree, "rows/main.customers"), &Node::Int(3));
    assert_eq!(at(&tree, "rows/main.orders"), &Node::Int(4));
    assert_eq!(at(&tree, "rows/main.order_events"), &Node::Int(0));
    assert_eq!(at(&tree, "settings/user_version"), &Node::Int(7));
    assert_eq!(
        at(&tree, "settings/application_id"),
        &Node::Int(1_684_107_895)
    );
    assert_eq!(at(&tree, "settings/encoding"), &Node::str("UTF-8"));
    assert_eq!(at(&tree, "settings/journal_mode"), &Node::str("delete"));
    assert_eq!(at(&tree, "settings/auto_vacuum"), &Node::str("none"));
    assert!(matches!(at(&tree, "settings/page_size"), Node::Int(n) if *n >= 512));
    assert!(matches!(at(&tree, "stats/page_count"), Node::Int(n) if *n > 0));
    assert_eq!(at(&tree, "stats/freelist_count"), &Node::Int(0));
    assert_eq!(
        at(&tree, "counters/autoincrement/main.orders"),
        &Node::Int(5)
    );

    // Internal tables stay out; no migrations table, no migrations subtree.
    let leaves: Vec<String> = tree.leaves().iter().map(|(p, _)| p.to_string()).collect();
    assert!(
        leaves.iter().all(|p| !p.contains("main.sqlite_")),
        "{leaves:#?}"
    );
    assert!(!has(&tree, "migrations"));
    let tables = at(&tree, "schema/tables");
    let Node::Map(tables) = tables else {
        panic!("schema/tables is not a map")
    };
    assert_eq!(
        tables.keys().collect::<Vec<_>>(),
        [
            "main.customers",
            "main.order_events",
            "main.orders",
            "main.shipments"
        ]
    );
}

#[tokio::test]
async fn the_same_schema_built_in_another_order_gives_an_equal_tree_and_hash() {
    let dir = TempDir::new().unwrap();
    let a = collect(&shop(&dir, "a.db").await).await.unwrap();
    let b = collect(&build(&dir, "b.db", SHOP_REORDERED).await)
        .await
        .unwrap();
    assert_eq!(summary(&diff(&a, &b)), []);
    assert_eq!(a, b);
    assert_eq!(content_hash(&a), content_hash(&b));
}

#[tokio::test]
async fn a_dropped_index_is_reported_as_removed() {
    let dir = TempDir::new().unwrap();
    let baseline = collect(&shop(&dir, "a.db").await).await.unwrap();
    let path = shop(&dir, "b.db").await;
    crate::helpers::sqlite_exec(&path, "DROP INDEX orders_open;").await;
    let candidate = collect(&path).await.unwrap();
    assert_eq!(
        summary(&changes(&baseline, &candidate)),
        [(
            "schema/tables/main.orders/indexes/orders_open".to_string(),
            ChangeKind::Removed
        )]
    );
}

#[tokio::test]
async fn a_changed_column_type_is_reported_as_changed() {
    let dir = TempDir::new().unwrap();
    let baseline = collect(&shop(&dir, "a.db").await).await.unwrap();
    let sql = SHOP.replace("name VARCHAR(255)", "name VARCHAR(320)");
    let candidate = collect(&build(&dir, "b.db", &sql).await).await.unwrap();
    let found = changes(&baseline, &candidate);
    assert_eq!(
        summary(&found),
        [(
            "schema/tables/main.customers/columns/name/type".to_string(),
            ChangeKind::Changed
        )]
    );
    assert_eq!(found[0].baseline, Some(Node::str("VARCHAR(255)")));
    assert_eq!(found[0].candidate, Some(Node::str("VARCHAR(320)")));
}

#[tokio::test]
async fn an_extra_column_is_reported_as_added() {
    let dir = TempDir::new().unwrap();
    let baseline = collect(&shop(&dir, "a.db").await).await.unwrap();
    let path = shop(&dir, "b.db").await;
    crate::helpers::sqlite_exec(
        &path,
        "ALTER TABLE customers ADD COLUMN phone TEXT DEFAULT NULL;",
    )
    .await;
    let candidate = collect(&path).await.unwrap();
    let found = changes(&baseline, &candidate);
    assert_eq!(
        summary(&found),
        [(
            "schema/tables/main.customers/columns/phone".to_string(),
            ChangeKind::Added
        )]
    );
    let added = found[0].candidate.as_ref().unwrap();
    assert_eq!(
        added.get(&Path::parse("position").unwrap()),
        Some(&Node::Int(4))
    );
    assert_eq!(
        added.get(&Path::parse("nullable").unwrap()),
        Some(&Node::Bool(true))
    );
    assert_eq!(
        added.get(&Path::parse("default").unwrap()),
        Some(&Node::str("NULL"))
    );
}

#[tokio::test]
async fn a_changed_view_body_is_reported_as_changed_with_a_line_diff() {
    let dir = TempDir::new().unwrap();
    let baseline = collect(&shop(&dir, "a.db").await).await.unwrap();
    let path = shop(&dir, "b.db").await;
    crate::helpers::sqlite_exec(
        &path,
        "DROP VIEW customer_totals;\n\
         CREATE VIEW customer_totals AS\r\n\
         SELECT c.id, c.email, sum(o.total_cents) AS total_cents   \r\n\
         FROM customers AS c\r\n\
         LEFT JOIN orders AS o ON o.customer_id = c.id\r\n\
         GROUP BY c.id;",
    )
    .await;
    let candidate = collect(&path).await.unwrap();
    let found = changes(&baseline, &candidate);
    assert_eq!(
        summary(&found),
        [(
            "schema/views/main.customer_totals/definition".to_string(),
            ChangeKind::Changed
        )]
    );
    let text = found[0]
        .text_diff()
        .expect("multi-line definitions get a text diff");
    assert!(text.contains("-JOIN orders AS o"), "{text}");
    assert!(text.contains("+LEFT JOIN orders AS o"), "{text}");
    assert!(
        !text.contains("+SELECT"),
        "CRLF and trailing blanks are normalised: {text}"
    );
}

#[tokio::test]
async fn a_missing_file_is_a_connect_error_and_is_not_created() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("missing.db");
    let err = collect(&path).await.unwrap_err();
    assert_eq!(err.reason(), "connect");
    let text = err.to_string();
    assert!(text.contains("database file does not exist"), "{text}");
    assert!(text.contains("never creates target databases"), "{text}");
    assert!(!path.exists());
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_directory_is_a_connect_error() {
    let dir = TempDir::new().unwrap();
    let err = collect(dir.path()).await.unwrap_err();
    assert_eq!(err.reason(), "connect");
    assert!(err.to_string().contains("directory"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_error_not_an_empty_tree() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("notes.db");
    let content = "these are notes, not a database\n".repeat(200);
    std::fs::write(&path, &content).unwrap();
    let err = collect(&path).await.unwrap_err();
    assert_eq!(err.reason(), "connect");
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
    assert_eq!(files_in(dir.path()), ["notes.db"]);
}

#[tokio::test]
async fn collecting_leaves_the_database_file_untouched() {
    let dir = TempDir::new().unwrap();
    let path = shop(&dir, "shop.db").await;
    let before = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let listing = files_in(dir.path());
    for _ in 0..2 {
        collect(&path).await.unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(files_in(dir.path()), listing);
}

#[tokio::test]
async fn a_wal_mode_database_is_read_and_reports_its_journal_mode() {
    let dir = TempDir::new().unwrap();
    let path = build(
        &dir,
        "wal.db",
        "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES;",
    )
    .await;
    let before = std::fs::read(&path).unwrap();
    let tree = collect(&path).await.unwrap();
    assert_eq!(at(&tree, "settings/journal_mode"), &Node::str("wal"));
    assert_eq!(at(&tree, "rows/main.t"), &Node::Int(1));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn row_counts_are_exact() {
    let dir = TempDir::new().unwrap();
    let path = build(
        &dir,
        "counts.db",
        "CREATE TABLE big (n INTEGER);\n\
         WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 12345)\n\
         INSERT INTO big SELECT n FROM seq;\n\
         DELETE FROM big WHERE n % 1000 = 0;\n\
         CREATE TABLE empty (n INTEGER);\n\
         CREATE TABLE \"we\"\"ird/name\" (n INTEGER);\n\
         INSERT INTO \"we\"\"ird/name\" VALUES (1), (2);",
    )
    .await;
    let tree = collect(&path).await.unwrap();
    assert_eq!(at(&tree, "rows/main.big"), &Node::Int(12345 - 12));
    assert_eq!(at(&tree, "rows/main.empty"), &Node::Int(0));
    let weird = Path::from_segments(["rows", "main.we\"ird/name"]);
    assert_eq!(tree.get(&weird), Some(&Node::Int(2)));
    let column = Path::from_segments([
        "schema",
        "tables",
        "main.we\"ird/name",
        "columns",
        "n",
        "type",
    ]);
    assert_eq!(tree.get(&column), Some(&Node::str("INTEGER")));
}

#[tokio::test]
async fn sqlx_migrations_are_reported_under_migrations_and_not_as_a_table() {
    let dir = TempDir::new().unwrap();
    let path = build(&dir, "app.db", "CREATE TABLE notes (body TEXT);").await;
    let migrations =
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sql/sqlite/migrations");
    let migrator = sqlx::migrate::Migrator::new(migrations.as_path())
        .await
        .unwrap();
    let options = SqliteConnectOptions::new().filename(&path);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let tree = collect(&path).await.unwrap();
    let first = Path::from_segments(["migrations", "sqlx", "20240101000000_create users"]);
    let second = Path::from_segments(["migrations", "sqlx", "20240102000000_add user names"]);
    for migration in [&first, &second] {
        let node = tree
            .get(migration)
            .unwrap_or_else(|| panic!("no {migration} in {tree}"));
        assert_eq!(
            node.get(&Path::parse("success").unwrap()),
            Some(&Node::Bool(true))
        );
        let checksum = node
            .get(&Path::parse("checksum").unwrap())
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(checksum.len(), 96, "SHA-384 as hex: {checksum}");
        assert!(checksum.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert!(has(&tree, "schema/tables/main.users/columns/name"));
    assert!(has(&tree, "schema/tables/main.notes"));
    assert!(!has(&tree, "schema/tables/main._sqlx_migrations"));
    assert!(!has(&tree, "rows/main._sqlx_migrations"));
    assert_eq!(at(&tree, "rows/main.users"), &Node::Int(0));
}

#[tokio::test]
async fn an_autoincrement_table_that_never_issued_an_id_counts_zero() {
    let dir = TempDir::new().unwrap();
    let path = build(
        &dir,
        "seq.db",
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT);\n\
         CREATE TABLE b (id INTEGER PRIMARY KEY AUTOINCREMENT);\n\
         INSERT INTO b (id) VALUES (41), (42);\n\
         CREATE TABLE c (id INTEGER PRIMARY KEY);",
    )
    .await;
    let tree = collect(&path).await.unwrap();
    assert_eq!(at(&tree, "counters/autoincrement/main.a"), &Node::Int(0));
    assert_eq!(at(&tree, "counters/autoincrement/main.b"), &Node::Int(42));
    assert!(!has(&tree, "counters/autoincrement/main.c"));
    assert!(!has(&tree, "schema/tables/main.sqlite_sequence"));
    assert!(!has(&tree, "rows/main.sqlite_sequence"));
}

#[tokio::test]
async fn virtual_tables_are_reported_by_definition_and_their_internals_are_left_out() {
    let dir = TempDir::new().unwrap();
    let path = build(
        &dir,
        "fts.db",
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);\n\
         CREATE INDEX docs_body ON docs (body);\n\
         CREATE VIRTUAL TABLE docs_fts USING fts5(body);\n\
         INSERT INTO docs (body) VALUES ('a'), ('b');\n\
         CREATE TABLE gone (x);\n\
         CREATE VIEW broken AS SELECT x FROM gone;\n\
         DROP TABLE gone;\n\
         ANALYZE;",
    )
    .await;
    let tree = collect(&path).await.unwrap();
    assert_eq!(
        at(&tree, "schema/virtual_tables/main.docs_fts/definition"),
        &Node::str("CREATE VIRTUAL TABLE docs_fts USING fts5(body)\n")
    );
    let Node::Map(tables) = at(&tree, "schema/tables") else {
        panic!("schema/tables is not a map")
    };
    assert_eq!(tables.keys().collect::<Vec<_>>(), ["main.docs"]);
    let Node::Map(rows) = at(&tree, "rows") else {
        panic!("rows is not a map")
    };
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["main.docs"]);
    // A view whose table is gone does not stop the collection.
    assert!(has(&tree, "schema/views/main.broken"));
}

#[tokio::test]
async fn other_tools_migration_tables_are_read_the_same_way() {
    let dir = TempDir::new().unwrap();
    let path = build(
        &dir,
        "app.db",
        "CREATE TABLE flyway_schema_history (installed_rank INTEGER PRIMARY KEY, version TEXT, \
         description TEXT, script TEXT NOT NULL, checksum INTEGER, success INTEGER NOT NULL);
         INSERT INTO flyway_schema_history VALUES (1, '1', 'init', 'V1__init.sql', -12345, 1);
         INSERT INTO flyway_schema_history VALUES (2, '2', 'orders', 'V2__orders.sql', 777, 0);
         CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT);
         INSERT INTO django_migrations VALUES (1, 'shop', '0001_initial', '2026-01-01');",
    )
    .await;
    let tree = collect(&path).await.unwrap();
    let flyway = Path::from_segments(["migrations", "flyway", "V2__orders.sql"]);
    assert_eq!(
        tree.get(&flyway).map(ToString::to_string).as_deref(),
        Some(r#"{"checksum":"777","success":false}"#)
    );
    let django = Path::from_segments(["migrations", "django", "shop_0001_initial"]);
    assert_eq!(tree.get(&django), Some(&Node::Bool(true)));
    assert!(!has(&tree, "schema/tables/main.flyway_schema_history"));
    assert!(!has(&tree, "rows/main.django_migrations"));
}

#[tokio::test]
async fn row_count_modes_and_object_filters_are_honoured() {
    use driftwarden::config::RowCountMode;
    use driftwarden::glob::NameFilter;
    let dir = TempDir::new().unwrap();
    let path = build(
        &dir,
        "app.db",
        "CREATE TABLE keep (id INTEGER); CREATE TABLE tmp_scratch (id INTEGER);
         CREATE TABLE audit (id INTEGER); INSERT INTO keep VALUES (1), (2);",
    )
    .await;
    let options = SqlOptions {
        objects: NameFilter::new(&[], &["main.tmp_*".into()]),
        row_counts_filter: NameFilter::new(&[], &["main.audit".into()]),
        ..SqlOptions::default()
    };
    let tree = sqlite::collect(&path, &options).await.unwrap();
    assert!(has(&tree, "schema/tables/main.keep"));
    assert!(!has(&tree, "schema/tables/main.tmp_scratch"));
    assert_eq!(
        tree.get(&Path::parse("rows/main.keep").unwrap()),
        Some(&Node::Int(2))
    );
    assert!(!has(&tree, "rows/main.audit"));
    assert!(has(&tree, "schema/tables/main.audit"));
    let off = SqlOptions {
        row_counts: RowCountMode::Off,
        ..SqlOptions::default()
    };
    let tree = sqlite::collect(&path, &off).await.unwrap();
    assert!(!has(&tree, "rows"));
}
