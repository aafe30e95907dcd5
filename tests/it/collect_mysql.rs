//! The MySQL/MariaDB collector against the machine's real server: two databases (with
//! different names) built from one schema, one drift at a time, noise that must stay quiet,
//! read-only sessions, least privilege, hostile names and the error cases end to end.

// Test helpers are not `#[test]` functions, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use driftwarden::collectors::sql::mysql;
use driftwarden::collectors::CollectError;
use driftwarden::config::{RowCountMode, Secret, SqlOptions};
use driftwarden::diff::{diff, Change, ChangeKind};
use driftwarden::glob::NameFilter;
use driftwarden::snapshot::hash::content_hash;
use driftwarden::snapshot::{Node, Path, Tree};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection};

use crate::helpers::db::{with_database, TestDb};
use crate::helpers::driftwarden_in;

/// The shop schema, one statement per entry (routine bodies are single statements, so no
/// client-side DELIMITER is needed).
const SHOP: &[&str] = &[
    "CREATE TABLE customers (
        id INT AUTO_INCREMENT PRIMARY KEY,
        email VARCHAR(190) NOT NULL COLLATE utf8mb4_unicode_ci,
        name VARCHAR(100) NOT NULL DEFAULT '',
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        UNIQUE KEY customers_email_uq (email),
        KEY customers_name_idx (name(20))
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='people who buy'",
    "CREATE TABLE orders (
        id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
        customer_id INT NOT NULL,
        status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
        total DECIMAL(10,2) NOT NULL DEFAULT 0.00,
        total_cents BIGINT AS (total * 100) VIRTUAL,
        note TEXT,
        CONSTRAINT orders_total_positive CHECK (total >= 0),
        CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
            ON DELETE CASCADE,
        KEY orders_status_idx (status, id DESC)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    "CREATE TABLE order_items (
        order_id BIGINT UNSIGNED NOT NULL,
        line INT NOT NULL,
        sku VARCHAR(40) NOT NULL,
        qty INT NOT NULL DEFAULT 1 CHECK (qty > 0),
        PRIMARY KEY (order_id, line),
        FOREIGN KEY (order_id) REFERENCES orders (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    "CREATE TABLE audit_log (
        id INT AUTO_INCREMENT PRIMARY KEY,
        message VARCHAR(255) NOT NULL,
        FULLTEXT KEY audit_message_ft (message)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    "CREATE TABLE schema_migrations (version VARCHAR(20) PRIMARY KEY)",
    "INSERT INTO schema_migrations VALUES ('20240101'), ('20240102')",
    "INSERT INTO customers (email, name) VALUES ('a@example.com', 'Ann'), ('b@example.com', 'Bo')",
    "CREATE VIEW open_orders AS SELECT o.id, c.email FROM orders o \
        JOIN customers c ON c.id = o.customer_id WHERE o.status <> 'shipped'",
    "CREATE FUNCTION order_total(oid BIGINT UNSIGNED) RETURNS DECIMAL(10,2) \
        DETERMINISTIC READS SQL DATA RETURN (SELECT total FROM orders WHERE id = oid)",
    "CREATE PROCEDURE close_order(IN oid BIGINT UNSIGNED) MODIFIES SQL DATA \
        UPDATE orders SET status = 'shipped' WHERE id = oid",
    "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW \
        INSERT INTO audit_log (message) VALUES (CONCAT('order ', NEW.id))",
    "CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit_log WHERE id < 0",
    "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
        installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
        checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
        INSERT INTO _sqlx_migrations VALUES (20240101000000, 'create shop', DEFAULT, TRUE, \
        X'AB12', 5)",
];

/// The same schema in another statement order (foreign-key checks off so children can come
/// before their parents).
const REORDERED: &[usize] = &[12, 11, 4, 3, 2, 1, 0, 10, 9, 8, 7, 6, 5];

async fn build(order: &[usize]) -> Option<TestDb> {
    let db = TestDb::mysql().await?;
    let mut script = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
    for &i in order {
        script.push_str(SHOP[i]);
        script.push_str(";\n");
    }
    db.execute(&script).await;
    Some(db)
}

async fn shop() -> Option<TestDb> {
    build(&(0..SHOP.len()).collect::<Vec<_>>()).await
}

fn options() -> SqlOptions {
    SqlOptions {
        statement_timeout: Duration::from_secs(10),
        ..SqlOptions::default()
    }
}

async fn collect_with(db: &TestDb, options: &SqlOptions) -> Result<Tree, CollectError> {
    mysql::collect(&Secret::new(db.url.clone()), options).await
}

async fn collect(db: &TestDb) -> Tree {
    collect_with(db, &options()).await.unwrap()
}

fn at<'a>(tree: &'a Tree, path: &str) -> &'a Node {
    tree.get(&Path::parse(path).unwrap())
        .unwrap_or_else(|| panic!("no node at {path} in\n{tree}"))
}

/// Changes outside `counters/` (AUTO_INCREMENT positions: volatile, ignored by default rules).
fn changes(baseline: &Tree, candidate: &Tree) -> Vec<Change> {
    diff(baseline, candidate)
        .into_iter()
        .filter(|c| c.path.segments().first().map(String::as_str) != Some("counters"))
        .collect()
}

fn summary(changes: &[Change]) -> Vec<(String, ChangeKind)> {
    changes
        .iter()
        .map(|c| (c.path.to_string(), c.kind))
        .collect()
}

#[tokio::test]
async fn a_realistic_database_gives_the_expected_leaves() {
    let Some(db) = shop().await else { return };
    let tree = collect(&db).await;
    let customers = "schema/tables/customers";
    let orders = "schema/tables/orders";
    let expect = |path: &str, value: Node| assert_eq!(at(&tree, path), &value, "{path}");
    expect(&format!("{customers}/engine"), Node::str("InnoDB"));
    expect(&format!("{customers}/charset"), Node::str("utf8mb4"));
    expect(&format!("{customers}/comment"), Node::str("people who buy"));
    expect(&format!("{customers}/columns/id/type"), Node::str("int"));
    expect(&format!("{customers}/columns/id/primary_key"), Node::Int(1));
    expect(
        &format!("{customers}/columns/id/extra"),
        Node::str("auto_increment"),
    );
    expect(
        &format!("{customers}/columns/email/nullable"),
        Node::Bool(false),
    );
    expect(&format!("{customers}/columns/name/default"), Node::str(""));
    expect(&format!("{customers}/columns/name/position"), Node::Int(2));
    expect(
        &format!("{customers}/columns/updated_at/default"),
        Node::str("CURRENT_TIMESTAMP"),
    );
    expect(
        &format!("{customers}/columns/updated_at/extra"),
        Node::str("on update CURRENT_TIMESTAMP"),
    );
    expect(
        &format!("{orders}/columns/status/default"),
        Node::str("new"),
    );
    expect(&format!("{orders}/columns/note/default"), Node::Null);
    expect(
        &format!("{orders}/columns/total_cents/generated"),
        Node::str("virtual"),
    );
    expect(
        &format!("{orders}/columns/total_cents/generated_expression"),
        Node::str("`total` * 100"),
    );
    expect(
        &format!("{customers}/indexes/customers_name_idx/columns"),
        Node::from(vec!["name(20)"]),
    );
    expect(
        &format!("{orders}/indexes/orders_status_idx/columns"),
        Node::from(vec!["status", "id DESC"]),
    );
    expect(
        &format!("{orders}/indexes/PRIMARY/unique"),
        Node::Bool(true),
    );
    expect(
        &format!("{orders}/indexes/orders_status_idx/visible"),
        Node::Bool(true),
    );
    expect(
        "schema/tables/audit_log/indexes/audit_message_ft/type",
        Node::str("FULLTEXT"),
    );
    expect(
        &format!("{orders}/foreign_keys/(customer_id)->customers(id)/on_delete"),
        Node::str("CASCADE"),
    );
    expect(
        &format!("{orders}/foreign_keys/(customer_id)->customers(id)/name"),
        Node::str("fk_orders_customer"),
    );
    // Server-named keys and the default action (MariaDB says RESTRICT) are normalised.
    expect(
        "schema/tables/order_items/foreign_keys/(order_id)->orders(id)/name",
        Node::Null,
    );
    expect(
        "schema/tables/order_items/foreign_keys/(order_id)->orders(id)/on_update",
        Node::str("NO ACTION"),
    );
    expect(
        &format!("{orders}/checks/orders_total_positive/expression"),
        Node::str("`total` >= 0"),
    );
    let view = at(&tree, "schema/views/open_orders/definition")
        .as_str()
        .unwrap();
    assert!(
        !view.contains(&db.name),
        "the database name leaks into {view}"
    );
    assert!(view.contains("`o`.`status` <> 'shipped'"), "{view}");
    expect(
        "schema/functions/order_total/deterministic",
        Node::Bool(true),
    );
    expect(
        "schema/functions/order_total/parameters",
        Node::from(vec!["oid bigint unsigned"]),
    );
    expect(
        "schema/procedures/close_order/parameters",
        Node::from(vec!["IN oid bigint unsigned"]),
    );
    expect("schema/triggers/orders_audit/timing", Node::str("AFTER"));
    expect("schema/triggers/orders_audit/table", Node::str("orders"));
    expect(
        "schema/events/purge_audit/schedule",
        Node::str("EVERY 1 DAY"),
    );
    expect("schema/events/purge_audit/status", Node::str("DISABLED"));
    expect("rows/customers", Node::Int(2));
    expect("rows/orders", Node::Int(0));
    expect("migrations/schema_migrations/20240102", Node::Bool(true));
    expect(
        "migrations/sqlx/20240101000000_create shop/checksum",
        Node::str("ab12"),
    );
    expect(
        "migrations/sqlx/20240101000000_create shop/success",
        Node::Bool(true),
    );
    expect("settings/flavor", Node::str("mariadb"));
    assert!(at(&tree, "settings/sql_mode").as_str().is_some());
    assert!(tree
        .get(&Path::parse("settings/hostname").unwrap())
        .is_none());
    assert!(tree
        .get(&Path::parse("schema/tables/schema_migrations").unwrap())
        .is_none());
    assert!(tree
        .get(&Path::parse("schema/tables/open_orders").unwrap())
        .is_none());
}

#[tokio::test]
async fn the_number_of_statements_does_not_grow_with_the_schema() {
    let (Some(small), Some(large)) = (shop().await, shop().await) else {
        return;
    };
    let mut more = String::new();
    for i in 0..40 {
        more.push_str(&format!(
            "CREATE TABLE extra_{i} (id INT PRIMARY KEY, parent INT, KEY (parent), \
             FOREIGN KEY (parent) REFERENCES customers (id));\n\
             CREATE VIEW extra_view_{i} AS SELECT id FROM extra_{i};\n"
        ));
    }
    large.execute(&more).await;
    let options = SqlOptions {
        row_counts: RowCountMode::Estimate,
        ..options()
    };
    let count = |db: &TestDb| {
        let url = Secret::new(db.url.clone());
        let options = options.clone();
        async move {
            let (tree, stats) = mysql::collect_with_stats(&url, &options).await.unwrap();
            (tree.leaf_count(), stats.queries)
        }
    };
    let (small_leaves, small_queries) = count(&small).await;
    let (large_leaves, large_queries) = count(&large).await;
    assert!(
        large_leaves > small_leaves + 400,
        "{small_leaves} vs {large_leaves}"
    );
    assert_eq!(small_queries, large_queries);
    // 3 for the session, 13 catalog queries, one per migration table (2 here).
    assert_eq!(small_queries, 18);
}

#[tokio::test]
async fn identical_schemas_built_in_different_orders_hash_the_same() {
    let (Some(a), Some(b)) = (shop().await, build(REORDERED).await) else {
        return;
    };
    let (ta, tb) = (collect(&a).await, collect(&b).await);
    assert_eq!(summary(&diff(&ta, &tb)), vec![]);
    assert_eq!(content_hash(&ta), content_hash(&tb));
}

#[tokio::test]
async fn noise_gives_no_finding() {
    let (Some(a), Some(b)) = (shop().await, build(REORDERED).await) else {
        return;
    };
    // Statistics, AUTO_INCREMENT positions and data in a table that is not counted.
    b.execute(
        "ANALYZE TABLE customers, orders;
         INSERT INTO customers (email, name) VALUES ('tmp@example.com', 'tmp');
         DELETE FROM customers WHERE email = 'tmp@example.com';
         INSERT INTO audit_log (message) VALUES ('x'), ('y');",
    )
    .await;
    let options = SqlOptions {
        row_counts_filter: NameFilter::new(&[], &["audit_*".into()]),
        ..options()
    };
    let ta = collect_with(&a, &options).await.unwrap();
    let tb = collect_with(&b, &options).await.unwrap();
    assert_eq!(summary(&changes(&ta, &tb)), vec![]);
    assert_ne!(
        at(&ta, "counters/auto_increment/customers"),
        at(&tb, "counters/auto_increment/customers"),
        "the AUTO_INCREMENT position moved, and is reported only under counters/"
    );
}

/// One drift: SQL run on the candidate (`{db}` is its name) and the exact changes expected.
struct Case {
    sql: &'static str,
    expected: &'static [(&'static str, ChangeKind)],
}

const CHANGED: ChangeKind = ChangeKind::Changed;
const ADDED: ChangeKind = ChangeKind::Added;
const REMOVED: ChangeKind = ChangeKind::Removed;

const CASES: &[Case] = &[
    Case {
        sql: "ALTER TABLE customers MODIFY name VARCHAR(120) NOT NULL DEFAULT ''",
        expected: &[("schema/tables/customers/columns/name/type", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE orders MODIFY note TEXT NOT NULL",
        expected: &[("schema/tables/orders/columns/note/nullable", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE orders ALTER status SET DEFAULT 'paid'",
        expected: &[("schema/tables/orders/columns/status/default", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE customers ADD COLUMN phone VARCHAR(20)",
        expected: &[("schema/tables/customers/columns/phone", ADDED)],
    },
    Case {
        sql: "ALTER TABLE customers MODIFY email VARCHAR(190) NOT NULL COLLATE utf8mb4_bin",
        expected: &[("schema/tables/customers/columns/email/collation", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE customers MODIFY name VARCHAR(100) NOT NULL DEFAULT '' COMMENT 'shown'",
        expected: &[("schema/tables/customers/columns/name/comment", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE orders MODIFY total_cents BIGINT AS (total * 1000) VIRTUAL",
        expected: &[(
            "schema/tables/orders/columns/total_cents/generated_expression",
            CHANGED,
        )],
    },
    Case {
        sql: "ALTER TABLE customers MODIFY updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
        expected: &[("schema/tables/customers/columns/updated_at/extra", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE customers COMMENT = 'buyers'",
        expected: &[("schema/tables/customers/comment", CHANGED)],
    },
    Case {
        sql: "ALTER TABLE audit_log DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin",
        expected: &[("schema/tables/audit_log/collation", CHANGED)],
    },
    Case {
        sql: "DROP INDEX customers_name_idx ON customers",
        expected: &[(
            "schema/tables/customers/indexes/customers_name_idx",
            REMOVED,
        )],
    },
    Case {
        sql: "ALTER TABLE customers DROP INDEX customers_name_idx, \
              ADD INDEX customers_name_idx (name(30))",
        expected: &[(
            "schema/tables/customers/indexes/customers_name_idx/columns/0",
            CHANGED,
        )],
    },
    Case {
        sql: "ALTER TABLE customers DROP INDEX customers_name_idx, \
              ADD UNIQUE INDEX customers_name_idx (name(20))",
        expected: &[(
            "schema/tables/customers/indexes/customers_name_idx/unique",
            CHANGED,
        )],
    },
    // MariaDB 10.6+ spelling; MySQL 8 says INVISIBLE (same leaf).
    Case {
        sql: "ALTER TABLE orders ALTER INDEX orders_status_idx IGNORED",
        expected: &[(
            "schema/tables/orders/indexes/orders_status_idx/visible",
            CHANGED,
        )],
    },
    Case {
        sql: "ALTER TABLE orders DROP FOREIGN KEY fk_orders_customer; \
              ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) \
              REFERENCES customers (id) ON DELETE RESTRICT",
        expected: &[(
            "schema/tables/orders/foreign_keys/(customer_id)->customers(id)/on_delete",
            CHANGED,
        )],
    },
    Case {
        sql: "ALTER TABLE order_items DROP FOREIGN KEY order_items_ibfk_1",
        expected: &[(
            "schema/tables/order_items/foreign_keys/(order_id)->orders(id)",
            REMOVED,
        )],
    },
    Case {
        sql: "ALTER TABLE orders DROP CONSTRAINT orders_total_positive, \
              ADD CONSTRAINT orders_total_positive CHECK (total > 0)",
        expected: &[(
            "schema/tables/orders/checks/orders_total_positive/expression",
            CHANGED,
        )],
    },
    Case {
        sql: "CREATE OR REPLACE VIEW open_orders AS SELECT o.id, c.email FROM orders o \
              JOIN customers c ON c.id = o.customer_id WHERE o.status = 'new'",
        expected: &[("schema/views/open_orders/definition", CHANGED)],
    },
    Case {
        sql: "DROP FUNCTION order_total; \
              CREATE FUNCTION order_total(oid BIGINT UNSIGNED) RETURNS DECIMAL(10,2) \
              DETERMINISTIC READS SQL DATA RETURN (SELECT total * 2 FROM orders WHERE id = oid)",
        expected: &[("schema/functions/order_total/definition", CHANGED)],
    },
    Case {
        sql: "DROP PROCEDURE close_order; \
              CREATE PROCEDURE close_order(IN oid INT) MODIFIES SQL DATA \
              UPDATE orders SET status = 'shipped' WHERE id = oid",
        expected: &[("schema/procedures/close_order/parameters/0", CHANGED)],
    },
    Case {
        sql: "ALTER PROCEDURE close_order SQL SECURITY INVOKER",
        expected: &[("schema/procedures/close_order/security_type", CHANGED)],
    },
    Case {
        sql: "DROP TRIGGER orders_audit; \
              CREATE TRIGGER orders_audit BEFORE INSERT ON orders FOR EACH ROW \
              INSERT INTO audit_log (message) VALUES (CONCAT('order ', NEW.id))",
        expected: &[("schema/triggers/orders_audit/timing", CHANGED)],
    },
    Case {
        sql: "ALTER EVENT purge_audit ON SCHEDULE EVERY 2 DAY",
        expected: &[("schema/events/purge_audit/schedule", CHANGED)],
    },
    Case {
        sql: "INSERT INTO schema_migrations VALUES ('20240103')",
        expected: &[("migrations/schema_migrations/20240103", ADDED)],
    },
    Case {
        sql: "INSERT INTO customers (email, name) VALUES ('c@example.com', 'Cy')",
        expected: &[("rows/customers", CHANGED)],
    },
    Case {
        sql: "DROP TABLE audit_log",
        expected: &[
            ("rows/audit_log", REMOVED),
            ("schema/tables/audit_log", REMOVED),
        ],
    },
];

#[tokio::test]
async fn every_kind_of_drift_is_found_alone_and_named() {
    let Some(baseline) = shop().await else { return };
    let base = collect(&baseline).await;
    // Cases run concurrently, each on a database of its own.
    let mut set = tokio::task::JoinSet::new();
    for (i, case) in CASES.iter().enumerate() {
        let base = base.clone();
        set.spawn(async move {
            let db = shop().await.unwrap();
            db.execute(&case.sql.replace("{db}", &db.name)).await;
            let got = summary(&changes(&base, &collect(&db).await));
            let want: Vec<(String, ChangeKind)> = case
                .expected
                .iter()
                .map(|(p, k)| (p.to_string(), *k))
                .collect();
            (i, got, want)
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = set.join_next().await {
        let (i, got, want) = done.unwrap();
        if got != want {
            failures.push(format!("{}\n  want {want:?}\n  got  {got:?}", CASES[i].sql));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A user with a unique name, dropped when the guard goes.
struct User<'a> {
    db: &'a TestDb,
    name: String,
}

impl User<'_> {
    async fn create<'a>(db: &'a TestDb, grants: &[&str]) -> User<'a> {
        let name = format!("dwu_{}", db.name.trim_start_matches("dw_test_"));
        db.admin(&format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY 'pw-S3cret!'"
        ))
        .await;
        for grant in grants {
            db.admin(&format!("GRANT {grant} ON `{}`.* TO '{name}'@'%'", db.name))
                .await;
        }
        User { db, name }
    }

    fn url(&self) -> String {
        let base = with_database(&self.db.url, &self.db.name);
        base.replacen(
            "mysql://root@",
            &format!("mysql://{}:pw-S3cret!@", self.name),
            1,
        )
    }

    async fn drop_user(self) {
        self.db
            .admin(&format!("DROP USER IF EXISTS '{}'@'%'", self.name))
            .await;
    }
}

#[tokio::test]
async fn a_privilege_grant_is_drift_on_its_grantee() {
    let (Some(a), Some(b)) = (shop().await, shop().await) else {
        return;
    };
    let base = collect(&a).await;
    let user = User::create(&b, &["SELECT"]).await;
    b.admin(&format!(
        "GRANT INSERT ON `{}`.orders TO '{}'@'%'",
        b.name, user.name
    ))
    .await;
    let tree = collect(&b).await;
    let grantee = format!("'{}'@'%'", user.name);
    user.drop_user().await;
    let root = Path::from_segments(["schema", "privileges", grantee.as_str()]);
    assert_eq!(
        summary(&changes(&base, &tree)),
        vec![(root.to_string(), ChangeKind::Added)]
    );
    assert_eq!(
        tree.get(&root.child("database")),
        Some(&Node::from(vec!["SELECT"]))
    );
    assert_eq!(
        tree.get(&root.child("tables").child("orders")),
        Some(&Node::from(vec!["INSERT"]))
    );
}

#[tokio::test]
async fn a_least_privilege_user_collects_and_says_what_it_cannot_see() {
    let Some(db) = shop().await else { return };
    let root = collect(&db).await;
    let user = User::create(&db, &["SELECT"]).await;
    let select_only = collect_with_url(&user.url(), &options()).await;
    db.admin(&format!(
        "GRANT REFERENCES, SHOW VIEW ON `{}`.* TO '{}'@'%'",
        db.name, user.name
    ))
    .await;
    let recommended = collect_with_url(&user.url(), &options()).await;
    user.drop_user().await;

    // SELECT alone: columns, indexes, rows and migrations as root sees them; what the server
    // hides is named as such rather than missing.
    let tree = select_only.unwrap();
    for table in ["customers", "orders", "order_items", "audit_log"] {
        for part in ["columns", "indexes", "checks"] {
            let path = format!("schema/tables/{table}/{part}");
            assert_eq!(at(&tree, &path), at(&root, &path), "{path}");
        }
    }
    assert_eq!(at(&tree, "rows"), at(&root, "rows"));
    assert_eq!(at(&tree, "migrations"), at(&root, "migrations"));
    let fk = "schema/tables/orders/foreign_keys/(customer_id)->customers(id)";
    let on_delete = at(&tree, &format!("{fk}/on_delete")).as_str().unwrap();
    assert!(on_delete.contains("REFERENCES privilege"), "{on_delete}");
    let view = at(&tree, "schema/views/open_orders/definition")
        .as_str()
        .unwrap();
    assert!(view.contains("SHOW VIEW privilege"), "{view}");

    // SELECT, REFERENCES, SHOW VIEW (the documented minimum): tables and views as root's.
    let tree = recommended.unwrap();
    assert_eq!(at(&tree, "schema/tables"), at(&root, "schema/tables"));
    assert_eq!(at(&tree, "schema/views"), at(&root, "schema/views"));
}

async fn collect_with_url(url: &str, options: &SqlOptions) -> Result<Tree, CollectError> {
    mysql::collect(&Secret::new(url.to_string()), options).await
}

#[tokio::test]
async fn the_collector_session_is_read_only() {
    let Some(db) = shop().await else { return };
    let mut conn = mysql::open_read_only_session(&Secret::new(db.url.clone()), &options())
        .await
        .unwrap();
    // MySQL 8 renamed the variable; MariaDB 10.11 knows only the old name.
    let mut read_only = None;
    for sql in ["SELECT @@transaction_read_only", "SELECT @@tx_read_only"] {
        if let Ok(value) = sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut conn).await {
            read_only = Some(value);
            break;
        }
    }
    let read_only = read_only.unwrap();
    assert_eq!(read_only, 1);
    // Lock waits end before the statement timeout (10 s here), so they are told apart.
    let lock_wait: i64 = sqlx::query_scalar("SELECT CAST(@@lock_wait_timeout AS SIGNED)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(lock_wait, 5);
    for write in [
        "INSERT INTO schema_migrations VALUES ('x')",
        "DELETE FROM customers",
        "CREATE TABLE intruder (id INT)",
    ] {
        let err = sqlx::raw_sql(AssertSqlSafe(write.to_string()))
            .execute(&mut conn)
            .await
            .expect_err(write);
        assert!(err.to_string().contains("READ ONLY"), "{write}: {err}");
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn hostile_identifiers_round_trip_into_paths() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let names = [
        "with space",
        "quote'd",
        "double\"quote",
        "back`tick",
        "slash/name",
        "dot.name",
        "ünïcødé_表",
        "select",
        "x`; DROP TABLE y; --",
    ];
    let mut script = String::new();
    for name in names {
        let q = format!("`{}`", name.replace('`', "``"));
        script.push_str(&format!(
            "CREATE TABLE {q} ({q} INT PRIMARY KEY, KEY {q} ({q}));\n\
             INSERT INTO {q} VALUES (1);\n"
        ));
    }
    script.push_str("CREATE VIEW `view/with.dots` AS SELECT `select` FROM `select`;\n");
    db.execute(&script).await;
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        ..options()
    };
    let tree = collect_with(&db, &options).await.unwrap();
    for name in names {
        let table = Path::from_segments(["schema", "tables", name]);
        let column = table.child("columns").child(name).child("type");
        assert_eq!(
            tree.get(&column),
            Some(&Node::str("int")),
            "{name} → {column}"
        );
        let index = table.child("indexes").child(name).child("columns");
        assert_eq!(tree.get(&index), Some(&Node::from(vec![name])), "{index}");
        // The path prints and parses back to itself.
        assert_eq!(Path::parse(&column.to_string()).unwrap(), column);
        let rows = Path::from_segments(["rows", name]);
        assert_eq!(tree.get(&rows), Some(&Node::Int(1)), "{rows}");
    }
    assert!(tree
        .get(&Path::from_segments([
            "schema",
            "views",
            "view/with.dots",
            "definition"
        ]))
        .is_some());
}

#[tokio::test]
async fn filters_and_row_count_modes_apply() {
    let Some(db) = shop().await else { return };
    let options = SqlOptions {
        objects: NameFilter::new(&["*order*".into()], &["order_items".into()]),
        settings: NameFilter::new(&["sql_mode".into()], &[]),
        row_counts: RowCountMode::Estimate,
        ..options()
    };
    let tree = collect_with(&db, &options).await.unwrap();
    let keys = |path: &str| match at(&tree, path) {
        Node::Map(map) => map.keys().cloned().collect::<Vec<_>>(),
        other => panic!("{path} is {other}"),
    };
    assert_eq!(keys("schema/tables"), ["orders"]);
    assert_eq!(keys("schema/views"), ["open_orders"]);
    assert_eq!(keys("schema/functions"), ["order_total"]);
    assert_eq!(keys("schema/procedures"), ["close_order"]);
    assert_eq!(keys("schema/triggers"), ["orders_audit"]);
    assert_eq!(keys("settings"), ["flavor", "sql_mode", "version"]);
    assert!(matches!(at(&tree, "rows/orders"), Node::Int(_)));
    // The migration table is read whatever the objects filter says.
    assert_eq!(
        keys("migrations/schema_migrations"),
        ["20240101", "20240102"]
    );
    let off = SqlOptions {
        row_counts: RowCountMode::Off,
        ..SqlOptions::default()
    };
    let tree = collect_with(&db, &off).await.unwrap();
    assert!(tree.get(&Path::parse("rows").unwrap()).is_none());
}

/// Holds `LOCK TABLES … WRITE` on a table from another session until dropped, so any read of
/// it waits for the metadata lock.
async fn lock_table(db: &TestDb, table: &str) -> sqlx::MySqlConnection {
    let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("LOCK TABLES `{table}` WRITE")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[tokio::test]
async fn a_count_waiting_for_a_lock_fails_the_collection_never_a_value() {
    let Some(db) = shop().await else { return };
    let lock = lock_table(&db, "customers").await;
    // lock_wait_timeout is 2 s, the statement timeout 4 s: the lock wait ends first.
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        statement_timeout: Duration::from_secs(4),
        ..SqlOptions::default()
    };
    let result = collect_with(&db, &options).await;
    drop(lock);
    // A lock says nothing about the table and goes away by itself: recording a value would
    // report a drift that then resolves, so the collection fails and its pair is unknown.
    let err = result.unwrap_err();
    assert_eq!(err.reason(), "query", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("counting the rows of `customers`")
            && text.contains("waited for a lock (lock_wait_timeout)"),
        "{text}"
    );
    // The same table in a batch with others is counted again alone, so the error is its own.
    assert!(!text.contains("orders"), "{text}");
    let tree = collect_with(&db, &options).await.unwrap();
    assert_eq!(at(&tree, "rows/customers"), &Node::Int(2));
    assert_eq!(at(&tree, "rows/orders"), &Node::Int(0));
}

// ---- error cases through the binary: exit 2, no findings, a clear reason, no password ----

/// Runs `driftwarden check --format json` on a config comparing `production_url` (baseline)
/// with `staging_url`, both `kind = "mysql"`.
fn check_pair(production_url: &str, staging_url: &str, timeout: &str) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[pairs]]\nname = \"staging-vs-production\"\nbaseline = \"production\"\n\
         candidate = \"staging\"\n\n\
         [environments.production.sources.db]\nkind = \"mysql\"\nurl = \"{production_url}\"\n\
         statement_timeout = \"{timeout}\"\n\n\
         [environments.staging.sources.db]\nkind = \"mysql\"\nurl = \"{staging_url}\"\n\
         statement_timeout = \"{timeout}\"\n"
    );
    std::fs::write(dir.path().join("driftwarden.toml"), config).unwrap();
    let run = driftwarden_in(
        dir.path(),
        &["check", "--config", "driftwarden.toml", "--format", "json"],
    );
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.all()));
    (run.code, json, run.all())
}

fn assert_unknown(result: &(i32, Value, String), reason: &str, needle: &str) {
    let (code, json, all) = result;
    assert_eq!(*code, 2, "{all}");
    let pair = &json["pairs"][0];
    assert_eq!(pair["status"], "unknown", "{all}");
    assert_eq!(pair["findings"].as_array().map_or(0, Vec::len), 0, "{all}");
    let error = &pair["errors"][0];
    assert_eq!(error["reason"], reason, "{all}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    assert!(
        !all.contains("pw-S3cret!") && !all.contains("wrong-Pa55"),
        "{all}"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_a_connect_error() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = format!("mysql://root:wrong-Pa55@127.0.0.1:{port}/{}", db.name);
    let result = tokio::task::spawn_blocking({
        let url = db.url.clone();
        move || check_pair(&url, &down, "5s")
    })
    .await
    .unwrap();
    assert_unknown(&result, "connect", "is the server up");
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let user = User::create(&db, &["SELECT"]).await;
    let wrong = user.url().replace("pw-S3cret!", "wrong-Pa55");
    let url = db.url.clone();
    let result = tokio::task::spawn_blocking(move || check_pair(&url, &wrong, "5s"))
        .await
        .unwrap();
    user.drop_user().await;
    assert_unknown(&result, "auth", "Access denied");
}

#[tokio::test]
async fn a_missing_database_is_a_connect_error() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let missing = with_database(&db.url, &format!("{}_missing", db.name));
    let url = db.url.clone();
    let result = tokio::task::spawn_blocking(move || check_pair(&url, &missing, "5s"))
        .await
        .unwrap();
    assert_unknown(&result, "connect", "does not exist");
}

#[tokio::test]
async fn a_statement_timeout_is_a_query_error() {
    let Some(db) = shop().await else { return };
    // The migration table is read with a plain SELECT, which waits on the lock until cut.
    let lock = lock_table(&db, "schema_migrations").await;
    let url = db.url.clone();
    let result = tokio::task::spawn_blocking(move || check_pair(&url, &url, "1s"))
        .await
        .unwrap();
    drop(lock);
    assert_unknown(&result, "query", "statement timeout");
}
