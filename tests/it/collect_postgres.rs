//! See main.rs.
//! The PostgreSQL collector against the machine's server: a realistic schema built twice, one
//! drift at a time for every object kind, noise that must stay silent, statement order,
//! the read-only session, a least-privilege role, hostile identifiers and connection errors.

// Test helpers are not `#[test]` functions, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use driftwarden::collectors::sql::postgres::{self, session};
use driftwarden::collectors::CollectError;
use driftwarden::config::{RowCountMode, Secret, SqlOptions};
use driftwarden::diff::{diff, ChangeKind};
use driftwarden::glob::NameFilter;
use driftwarden::snapshot::hash::content_hash;
use driftwarden::snapshot::{Node, Path, Tree};
use serde_json::Value;
use sqlx::{Connection, Row};

use crate::helpers::db::{with_database, TestDb};
use crate::helpers::driftwarden_in;

/// A small shop using every object kind the collector reads.
const SHOP: &str = r#"
CREATE EXTENSION citext;
CREATE SCHEMA shop;
COMMENT ON SCHEMA shop IS 'the shop';
CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN shop.email AS citext NOT NULL CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');
CREATE TYPE shop.money_pair AS (amount numeric(12,2), currency char(3));
CREATE TYPE shop.price_range AS RANGE (subtype = numeric);
CREATE SEQUENCE shop.invoice_no AS integer INCREMENT BY 10 MINVALUE 100 MAXVALUE 1000000;
CREATE TABLE shop.customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email shop.email UNIQUE,
  name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.customers IS 'people who buy';
COMMENT ON COLUMN shop.customers.email IS 'login';
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers(id) ON DELETE CASCADE,
  status shop.order_status NOT NULL DEFAULT 'new',
  total numeric(12,2) NOT NULL CONSTRAINT orders_total_check CHECK (total >= 0),
  total_with_tax numeric(12,2) GENERATED ALWAYS AS (total * 1.2) STORED,
  invoice integer DEFAULT nextval('shop.invoice_no'),
  during tstzrange,
  hint text,
  EXCLUDE USING gist (during WITH &&) WHERE (status <> 'shipped')
);
CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total) WHERE status <> 'shipped';
CREATE INDEX orders_hint_idx ON shop.orders (status DESC, lower(hint));
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON shop.orders FOR SELECT TO PUBLIC USING (customer_id > 0);
CREATE UNLOGGED TABLE shop.cart (id int PRIMARY KEY, body jsonb, label text) WITH (fillfactor = 70);
CREATE INDEX cart_label_idx ON shop.cart (label);
CREATE TABLE shop.events (id bigint NOT NULL, at date NOT NULL, kind text) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.order_lines (
  order_id bigint REFERENCES shop.orders(id) ON UPDATE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  line int,
  qty int NOT NULL,
  PRIMARY KEY (order_id, line)
);
CREATE VIEW shop.open_orders AS SELECT o.id, o.total FROM shop.orders o WHERE o.status <> 'shipped';
CREATE VIEW shop.customer_names AS SELECT id, name FROM shop.customers;
CREATE MATERIALIZED VIEW shop.order_sums AS SELECT customer_id, sum(total) AS total FROM shop.orders GROUP BY 1;
CREATE INDEX order_sums_customer ON shop.order_sums (customer_id);
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE FUNCTION shop.order_total(p_order bigint) RETURNS numeric LANGUAGE sql STABLE
  AS $$ SELECT total FROM shop.orders WHERE id = p_order $$;
CREATE FUNCTION shop.order_total(p_order bigint, p_tax numeric) RETURNS numeric LANGUAGE sql STABLE
  AS $$ SELECT total * p_tax FROM shop.orders WHERE id = p_order $$;
CREATE PROCEDURE shop.archive(days int) LANGUAGE sql AS $$ DELETE FROM shop.cart WHERE id < days $$;
CREATE AGGREGATE shop.total_sum(numeric) (sfunc = numeric_add, stype = numeric, initcond = '0');
CREATE TRIGGER customers_touch BEFORE UPDATE ON shop.customers FOR EACH ROW EXECUTE FUNCTION shop.touch();
GRANT USAGE ON SCHEMA shop TO PUBLIC;
GRANT SELECT ON shop.orders TO PUBLIC;
CREATE TABLE public._sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL,
  installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, checksum bytea NOT NULL,
  execution_time bigint NOT NULL);
INSERT INTO public._sqlx_migrations (version, description, success, checksum, execution_time)
  VALUES (20240101000000, 'create shop', true, '\xab12', 5);
INSERT INTO shop.customers (email, name) VALUES ('a@x.io', 'Ann'), ('b@x.io', 'Bob');
INSERT INTO shop.orders (customer_id, total) SELECT id, 10 FROM shop.customers;
"#;

/// The same schema in another statement order, with FKs added afterwards and a table created
/// and dropped first (so OIDs differ too).
const SHOP_REORDERED: &str = r#"
CREATE TABLE public.scratch (id int);
DROP TABLE public.scratch;
CREATE SCHEMA shop;
CREATE EXTENSION citext;
CREATE TYPE shop.price_range AS RANGE (subtype = numeric);
CREATE TYPE shop.money_pair AS (amount numeric(12,2), currency char(3));
CREATE DOMAIN shop.email AS citext NOT NULL CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');
CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped');
COMMENT ON SCHEMA shop IS 'the shop';
CREATE TABLE public._sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL,
  installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, checksum bytea NOT NULL,
  execution_time bigint NOT NULL);
CREATE TABLE shop.events (id bigint NOT NULL, at date NOT NULL, kind text) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE UNLOGGED TABLE shop.cart (id int PRIMARY KEY, body jsonb, label text) WITH (fillfactor = 70);
CREATE INDEX cart_label_idx ON shop.cart (label);
CREATE SEQUENCE shop.invoice_no AS integer INCREMENT BY 10 MINVALUE 100 MAXVALUE 1000000;
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL,
  status shop.order_status NOT NULL DEFAULT 'new',
  total numeric(12,2) NOT NULL,
  total_with_tax numeric(12,2) GENERATED ALWAYS AS (total * 1.2) STORED,
  invoice integer DEFAULT nextval('shop.invoice_no'),
  during tstzrange,
  hint text
);
CREATE TABLE shop.customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email shop.email,
  name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE shop.customers ADD UNIQUE (email);
COMMENT ON COLUMN shop.customers.email IS 'login';
COMMENT ON TABLE shop.customers IS 'people who buy';
CREATE TABLE public.order_lines (
  order_id bigint,
  line int,
  qty int NOT NULL,
  PRIMARY KEY (order_id, line)
);
ALTER TABLE public.order_lines ADD FOREIGN KEY (order_id) REFERENCES shop.orders(id)
  ON UPDATE RESTRICT DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE shop.orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);
ALTER TABLE shop.orders ADD EXCLUDE USING gist (during WITH &&) WHERE (status <> 'shipped');
ALTER TABLE shop.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers(id) ON DELETE CASCADE;
CREATE INDEX orders_hint_idx ON shop.orders (status DESC, lower(hint));
CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total) WHERE status <> 'shipped';
CREATE AGGREGATE shop.total_sum(numeric) (sfunc = numeric_add, stype = numeric, initcond = '0');
CREATE PROCEDURE shop.archive(days int) LANGUAGE sql AS $$ DELETE FROM shop.cart WHERE id < days $$;
CREATE FUNCTION shop.order_total(p_order bigint, p_tax numeric) RETURNS numeric LANGUAGE sql STABLE
  AS $$ SELECT total * p_tax FROM shop.orders WHERE id = p_order $$;
CREATE FUNCTION shop.order_total(p_order bigint) RETURNS numeric LANGUAGE sql STABLE
  AS $$ SELECT total FROM shop.orders WHERE id = p_order $$;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER customers_touch BEFORE UPDATE ON shop.customers FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE MATERIALIZED VIEW shop.order_sums AS SELECT customer_id, sum(total) AS total FROM shop.orders GROUP BY 1;
CREATE INDEX order_sums_customer ON shop.order_sums (customer_id);
CREATE VIEW shop.customer_names AS SELECT id, name FROM shop.customers;
CREATE VIEW shop.open_orders AS SELECT o.id, o.total FROM shop.orders o WHERE o.status <> 'shipped';
CREATE POLICY own_orders ON shop.orders FOR SELECT TO PUBLIC USING (customer_id > 0);
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON shop.orders TO PUBLIC;
GRANT USAGE ON SCHEMA shop TO PUBLIC;
INSERT INTO public._sqlx_migrations (version, description, success, checksum, execution_time)
  VALUES (20240101000000, 'create shop', true, '\xab12', 5);
INSERT INTO shop.customers (email, name) VALUES ('a@x.io', 'Ann'), ('b@x.io', 'Bob');
INSERT INTO shop.orders (customer_id, total) SELECT id, 10 FROM shop.customers;
"#;

async fn shop() -> Option<TestDb> {
    let db = TestDb::postgres().await?;
    db.execute(SHOP).await;
    Some(db)
}

fn no_counts() -> SqlOptions {
    SqlOptions {
        row_counts: RowCountMode::Off,
        ..SqlOptions::default()
    }
}

async fn collect_with(url: &str, options: &SqlOptions) -> Result<Tree, CollectError> {
    postgres::collect(&Secret::new(url), options).await
}

async fn collect(url: &str) -> Tree {
    collect_with(url, &SqlOptions::default())
        .await
        .unwrap_or_else(|e| panic!("collecting {url}: {e}"))
}

fn at<'a>(tree: &'a Tree, path: &str) -> &'a Node {
    tree.get(&Path::parse(path).unwrap())
        .unwrap_or_else(|| panic!("no node at {path} in\n{tree}"))
}

fn summary(baseline: &Tree, candidate: &Tree) -> Vec<(String, ChangeKind)> {
    diff(baseline, candidate)
        .into_iter()
        .map(|c| (c.path.to_string(), c.kind))
        .collect()
}

#[tokio::test]
async fn collect_postgres_a_realistic_schema_gives_the_expected_leaves() {
    let Some(db) = shop().await else { return };
    db.execute("ANALYZE").await;
    let tree = collect(&db.url).await;
    let orders = "schema/tables/shop.orders";
    let customers = "schema/tables/shop.customers";
    let expect = [
        (
            format!("{customers}/columns/id/identity"),
            Node::str("always"),
        ),
        (format!("{customers}/columns/id/primary_key"), Node::Int(1)),
        (
            format!("{customers}/columns/email/type"),
            Node::str("shop.email"),
        ),
        (
            format!("{customers}/columns/email/comment"),
            Node::str("login"),
        ),
        (
            format!("{customers}/columns/name/default"),
            Node::str("''::text"),
        ),
        (format!("{customers}/columns/name/position"), Node::Int(2)),
        (format!("{customers}/comment"), Node::str("people who buy")),
        (
            format!("{orders}/columns/total/type"),
            Node::str("numeric(12,2)"),
        ),
        (
            format!("{orders}/columns/total_with_tax/generated"),
            Node::str("stored"),
        ),
        (
            format!("{orders}/columns/total_with_tax/generated_expression"),
            Node::str("(total * 1.2)"),
        ),
        (
            format!("{orders}/columns/invoice/default"),
            Node::str("nextval('shop.invoice_no'::regclass)"),
        ),
        (
            format!("{orders}/foreign_keys/(customer_id)->shop.customers(id)/on_delete"),
            Node::str("CASCADE"),
        ),
        (
            format!("{orders}/indexes/orders_open_idx/partial"),
            Node::str("(status <> 'shipped'::shop.order_status)"),
        ),
        (
            format!("{orders}/indexes/orders_open_idx/include"),
            Node::from(vec!["total"]),
        ),
        (
            format!("{orders}/indexes/orders_hint_idx/columns"),
            Node::from(vec!["status", "lower(hint)"]),
        ),
        (
            format!("{orders}/indexes/orders_pkey/origin"),
            Node::str("pk"),
        ),
        (
            format!("{orders}/constraints/orders_during_excl/type"),
            Node::str("exclusion"),
        ),
        (
            format!("{orders}/constraints/orders_total_check/definition"),
            Node::str("CHECK (total >= 0::numeric)"),
        ),
        (
            format!("{orders}/row_level_security/enabled"),
            Node::Bool(true),
        ),
        (
            format!("{orders}/policies/own_orders/command"),
            Node::str("SELECT"),
        ),
        (
            format!("{orders}/privileges/PUBLIC/SELECT"),
            Node::Bool(false),
        ),
        (
            "schema/tables/public.order_lines/foreign_keys/(order_id)->shop.orders(id)/on_update"
                .into(),
            Node::str("RESTRICT"),
        ),
        ("schema/tables/shop.cart/unlogged".into(), Node::Bool(true)),
        (
            "schema/tables/shop.cart/options/fillfactor".into(),
            Node::str("70"),
        ),
        (
            "schema/tables/shop.events/partition_key".into(),
            Node::str("RANGE (at)"),
        ),
        (
            "schema/tables/shop.events_2024/partition_of".into(),
            Node::str("shop.events"),
        ),
        (
            "schema/tables/shop.events_2024/partition_bound".into(),
            Node::str("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"),
        ),
        (
            "schema/types/shop.order_status/labels".into(),
            Node::from(vec!["new", "paid", "shipped"]),
        ),
        (
            "schema/types/shop.email/base_type".into(),
            Node::str("public.citext"),
        ),
        (
            "schema/types/shop.price_range/subtype".into(),
            Node::str("numeric"),
        ),
        (
            "schema/sequences/shop.invoice_no/increment".into(),
            Node::Int(10),
        ),
        (
            "schema/sequences/shop.orders_id_seq/owned_by".into(),
            Node::str("shop.orders.id"),
        ),
        (
            "schema/functions/shop.total_sum(numeric)/kind".into(),
            Node::str("aggregate"),
        ),
        (
            "schema/functions/shop.archive(IN days integer)/kind".into(),
            Node::str("procedure"),
        ),
        (
            "schema/triggers/shop.customers.customers_touch/table".into(),
            Node::str("shop.customers"),
        ),
        (
            "schema/extensions/citext/schema".into(),
            Node::str("public"),
        ),
        ("schema/schemas/shop/comment".into(), Node::str("the shop")),
        (
            "schema/schemas/shop/privileges/PUBLIC/USAGE".into(),
            Node::Bool(false),
        ),
        ("rows/shop.customers".into(), Node::Int(2)),
        ("rows/shop.orders".into(), Node::Int(2)),
        (
            "migrations/sqlx/20240101000000_create shop/checksum".into(),
            Node::str("ab12"),
        ),
    ];
    for (path, value) in &expect {
        assert_eq!(at(&tree, path), value, "{path}");
    }
    let functions = at(
        &tree,
        "schema/functions/shop.order_total(p_order bigint)/definition",
    );
    assert!(functions
        .as_str()
        .unwrap()
        .contains("SELECT total FROM shop.orders"));
    let view = at(&tree, "schema/views/shop.open_orders/definition");
    assert!(
        view.as_str().unwrap().contains("FROM shop.orders o"),
        "{view}"
    );
    assert!(view.as_str().unwrap().ends_with(";\n"), "{view}");
    let version = at(&tree, "settings/server_version").as_str().unwrap();
    assert!(version.split('.').count() >= 2, "{version}");
    let text = tree.to_string();
    // Migration tables are not schema; extension objects and session settings are not collected.
    assert!(
        !text.contains("_sqlx_migrations"),
        "migration table leaked into the schema"
    );
    assert!(
        !text.contains("citext_eq"),
        "extension functions must not be listed"
    );
    assert!(
        !text.contains("price_multirange"),
        "generated constructors must not be listed"
    );
    for noise in [
        "settings/application_name",
        "settings/default_transaction_read_only",
        "settings/statement_timeout",
        "settings/port",
        "settings/data_directory",
        "schema/sequences/shop.customers_id_seq",
    ] {
        assert!(
            tree.get(&Path::parse(noise).unwrap()).is_none(),
            "{noise} collected"
        );
    }
}

/// One drift: statements applied to the candidate, the statements undoing them, and exactly
/// the changes expected.
struct Drift {
    apply: &'static str,
    undo: &'static str,
    expect: &'static [(&'static str, ChangeKind)],
}

const fn drift(
    apply: &'static str,
    undo: &'static str,
    expect: &'static [(&'static str, ChangeKind)],
) -> Drift {
    Drift {
        apply,
        undo,
        expect,
    }
}

use ChangeKind::{Added, Changed, Removed};

const DRIFTS: &[Drift] = &[
    // A column type under a dependent view: the view's text is the same, so only the column.
    drift(
        "DROP VIEW shop.customer_names; ALTER TABLE shop.customers ALTER name TYPE varchar(200);
         CREATE VIEW shop.customer_names AS SELECT id, name FROM shop.customers;",
        "DROP VIEW shop.customer_names; ALTER TABLE shop.customers ALTER name TYPE text;
         CREATE VIEW shop.customer_names AS SELECT id, name FROM shop.customers;",
        &[(
            "schema/tables/shop.customers/columns/name/type",
            Changed,
        )],
    ),
    drift(
        "ALTER TABLE shop.cart ADD COLUMN note text",
        "ALTER TABLE shop.cart DROP COLUMN note",
        &[("schema/tables/shop.cart/columns/note", Added)],
    ),
    drift(
        "ALTER TABLE shop.orders ALTER invoice SET NOT NULL",
        "ALTER TABLE shop.orders ALTER invoice DROP NOT NULL",
        &[("schema/tables/shop.orders/columns/invoice/nullable", Changed)],
    ),
    drift(
        "ALTER TABLE shop.cart ALTER body SET DEFAULT '{}'",
        "ALTER TABLE shop.cart ALTER body DROP DEFAULT",
        &[("schema/tables/shop.cart/columns/body/default", Changed)],
    ),
    drift(
        "ALTER TABLE shop.customers ALTER id SET GENERATED BY DEFAULT",
        "ALTER TABLE shop.customers ALTER id SET GENERATED ALWAYS",
        &[("schema/tables/shop.customers/columns/id/identity", Changed)],
    ),
    drift(
        "ALTER TABLE shop.cart ALTER label TYPE text COLLATE \"C\"",
        "ALTER TABLE shop.cart ALTER label TYPE text COLLATE \"default\"",
        &[("schema/tables/shop.cart/columns/label/collation", Changed)],
    ),
    drift(
        "COMMENT ON COLUMN shop.customers.email IS 'sign-in'",
        "COMMENT ON COLUMN shop.customers.email IS 'login'",
        &[("schema/tables/shop.customers/columns/email/comment", Changed)],
    ),
    drift(
        "COMMENT ON TABLE shop.cart IS 'baskets'",
        "COMMENT ON TABLE shop.cart IS NULL",
        &[("schema/tables/shop.cart/comment", Changed)],
    ),
    drift(
        "DROP INDEX shop.orders_open_idx",
        "CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total) WHERE status <> 'shipped'",
        &[("schema/tables/shop.orders/indexes/orders_open_idx", Removed)],
    ),
    drift(
        "DROP INDEX shop.orders_hint_idx; CREATE INDEX orders_hint_idx ON shop.orders (status, lower(hint))",
        "DROP INDEX shop.orders_hint_idx; CREATE INDEX orders_hint_idx ON shop.orders (status DESC, lower(hint))",
        &[("schema/tables/shop.orders/indexes/orders_hint_idx/definition", Changed)],
    ),
    // Index properties: the client composes the definition of plain btree/hash indexes (sort
    // order, NULLS, UNIQUE, INCLUDE, predicate, method); the server deparses the others
    // (operator class, collation, storage parameters). Each change must be a finding.
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label DESC NULLS LAST)",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed)],
    ),
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label NULLS FIRST)",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed)],
    ),
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label text_pattern_ops)",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed)],
    ),
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label COLLATE \"C\")",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed)],
    ),
    // The column's collation changes and the index keeps the default one: both are findings.
    drift(
        "DROP INDEX shop.cart_label_idx; ALTER TABLE shop.cart ALTER label TYPE text COLLATE \"C\";
         CREATE INDEX cart_label_idx ON shop.cart (label COLLATE \"default\")",
        "DROP INDEX shop.cart_label_idx; ALTER TABLE shop.cart ALTER label TYPE text COLLATE \"default\";
         CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[
            ("schema/tables/shop.cart/columns/label/collation", Changed),
            ("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed),
        ],
    ),
    drift(
        "ALTER INDEX shop.cart_label_idx SET (fillfactor = 50)",
        "ALTER INDEX shop.cart_label_idx RESET (fillfactor)",
        &[("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed)],
    ),
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE UNIQUE INDEX cart_label_idx ON shop.cart (label)",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[
            ("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed),
            ("schema/tables/shop.cart/indexes/cart_label_idx/unique", Changed),
        ],
    ),
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart USING hash (label)",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[
            ("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed),
            ("schema/tables/shop.cart/indexes/cart_label_idx/method", Changed),
        ],
    ),
    drift(
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label, id)",
        "DROP INDEX shop.cart_label_idx; CREATE INDEX cart_label_idx ON shop.cart (label)",
        &[
            ("schema/tables/shop.cart/indexes/cart_label_idx/columns/1", Added),
            ("schema/tables/shop.cart/indexes/cart_label_idx/definition", Changed),
        ],
    ),
    drift(
        "DROP INDEX shop.orders_open_idx;
         CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total, hint) WHERE status <> 'shipped'",
        "DROP INDEX shop.orders_open_idx;
         CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total) WHERE status <> 'shipped'",
        &[
            ("schema/tables/shop.orders/indexes/orders_open_idx/definition", Changed),
            ("schema/tables/shop.orders/indexes/orders_open_idx/include/1", Added),
        ],
    ),
    drift(
        "DROP INDEX shop.orders_open_idx;
         CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total) WHERE status = 'new'",
        "DROP INDEX shop.orders_open_idx;
         CREATE INDEX orders_open_idx ON shop.orders (customer_id) INCLUDE (total) WHERE status <> 'shipped'",
        &[
            ("schema/tables/shop.orders/indexes/orders_open_idx/definition", Changed),
            ("schema/tables/shop.orders/indexes/orders_open_idx/partial", Changed),
        ],
    ),
    drift(
        "ALTER TABLE shop.cart ADD CONSTRAINT cart_label_key UNIQUE (label)",
        "ALTER TABLE shop.cart DROP CONSTRAINT cart_label_key",
        &[
            ("schema/tables/shop.cart/constraints/cart_label_key", Added),
            ("schema/tables/shop.cart/indexes/cart_label_key", Added),
        ],
    ),
    drift(
        "ALTER TABLE shop.orders DROP CONSTRAINT orders_total_check;
         ALTER TABLE shop.orders ADD CONSTRAINT orders_total_check CHECK (total > 0)",
        "ALTER TABLE shop.orders DROP CONSTRAINT orders_total_check;
         ALTER TABLE shop.orders ADD CONSTRAINT orders_total_check CHECK (total >= 0)",
        &[(
            "schema/tables/shop.orders/constraints/orders_total_check/definition",
            Changed,
        )],
    ),
    drift(
        "ALTER TABLE shop.orders DROP CONSTRAINT orders_during_excl",
        "ALTER TABLE shop.orders ADD EXCLUDE USING gist (during WITH &&) WHERE (status <> 'shipped')",
        &[
            ("schema/tables/shop.orders/constraints/orders_during_excl", Removed),
            ("schema/tables/shop.orders/indexes/orders_during_excl", Removed),
        ],
    ),
    drift(
        "ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_id_fkey;
         ALTER TABLE shop.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers(id) ON DELETE RESTRICT",
        "ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_id_fkey;
         ALTER TABLE shop.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers(id) ON DELETE CASCADE",
        &[(
            "schema/tables/shop.orders/foreign_keys/(customer_id)->shop.customers(id)/on_delete",
            Changed,
        )],
    ),
    drift(
        "ALTER TABLE public.order_lines ALTER CONSTRAINT order_lines_order_id_fkey NOT DEFERRABLE",
        "ALTER TABLE public.order_lines ALTER CONSTRAINT order_lines_order_id_fkey DEFERRABLE INITIALLY DEFERRED",
        &[
            (
                "schema/tables/public.order_lines/foreign_keys/(order_id)->shop.orders(id)/deferrable",
                Changed,
            ),
            (
                "schema/tables/public.order_lines/foreign_keys/(order_id)->shop.orders(id)/initially_deferred",
                Changed,
            ),
        ],
    ),
    drift(
        "CREATE OR REPLACE VIEW shop.open_orders AS SELECT o.id, o.total FROM shop.orders o WHERE o.status = 'new'",
        "CREATE OR REPLACE VIEW shop.open_orders AS SELECT o.id, o.total FROM shop.orders o WHERE o.status <> 'shipped'",
        &[("schema/views/shop.open_orders/definition", Changed)],
    ),
    drift(
        "DROP INDEX shop.order_sums_customer",
        "CREATE INDEX order_sums_customer ON shop.order_sums (customer_id)",
        &[(
            "schema/materialized_views/shop.order_sums/indexes/order_sums_customer",
            Removed,
        )],
    ),
    drift(
        "CREATE OR REPLACE FUNCTION shop.order_total(p_order bigint) RETURNS numeric LANGUAGE sql STABLE
           AS $$ SELECT total + 1 FROM shop.orders WHERE id = p_order $$",
        "CREATE OR REPLACE FUNCTION shop.order_total(p_order bigint) RETURNS numeric LANGUAGE sql STABLE
           AS $$ SELECT total FROM shop.orders WHERE id = p_order $$",
        &[(
            "schema/functions/shop.order_total(p_order bigint)/definition",
            Changed,
        )],
    ),
    drift(
        "DROP PROCEDURE shop.archive(int)",
        "CREATE PROCEDURE shop.archive(days int) LANGUAGE sql AS $$ DELETE FROM shop.cart WHERE id < days $$",
        &[("schema/functions/shop.archive(IN days integer)", Removed)],
    ),
    drift(
        "ALTER TABLE shop.customers DISABLE TRIGGER customers_touch",
        "ALTER TABLE shop.customers ENABLE TRIGGER customers_touch",
        &[(
            "schema/triggers/shop.customers.customers_touch/enabled",
            Changed,
        )],
    ),
    drift(
        "ALTER SEQUENCE shop.invoice_no INCREMENT BY 5",
        "ALTER SEQUENCE shop.invoice_no INCREMENT BY 10",
        &[("schema/sequences/shop.invoice_no/increment", Changed)],
    ),
    drift(
        "ALTER TYPE shop.money_pair ADD ATTRIBUTE note text",
        "ALTER TYPE shop.money_pair DROP ATTRIBUTE note",
        &[("schema/types/shop.money_pair/attributes/note", Added)],
    ),
    drift(
        "ALTER DOMAIN shop.email DROP CONSTRAINT email_has_at",
        "ALTER DOMAIN shop.email ADD CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%')",
        &[("schema/types/shop.email/checks/email_has_at", Removed)],
    ),
    drift(
        "CREATE EXTENSION hstore",
        "DROP EXTENSION hstore",
        &[("schema/extensions/hstore", Added)],
    ),
    drift(
        "ALTER TABLE shop.orders FORCE ROW LEVEL SECURITY",
        "ALTER TABLE shop.orders NO FORCE ROW LEVEL SECURITY",
        &[("schema/tables/shop.orders/row_level_security/forced", Changed)],
    ),
    drift(
        "ALTER POLICY own_orders ON shop.orders USING (customer_id > 1)",
        "ALTER POLICY own_orders ON shop.orders USING (customer_id > 0)",
        &[("schema/tables/shop.orders/policies/own_orders/using", Changed)],
    ),
    drift(
        "GRANT INSERT ON shop.orders TO PUBLIC",
        "REVOKE INSERT ON shop.orders FROM PUBLIC",
        &[("schema/tables/shop.orders/privileges/PUBLIC/INSERT", Added)],
    ),
    drift(
        "REVOKE USAGE ON SCHEMA shop FROM PUBLIC",
        "GRANT USAGE ON SCHEMA shop TO PUBLIC",
        &[("schema/schemas/shop/privileges/PUBLIC", Removed)],
    ),
    drift(
        "CREATE SCHEMA audit",
        "DROP SCHEMA audit",
        &[("schema/schemas/audit", Added)],
    ),
    drift(
        "ALTER TABLE shop.events DETACH PARTITION shop.events_2025",
        "ALTER TABLE shop.events ATTACH PARTITION shop.events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
        &[
            ("schema/tables/shop.events_2025/partition_bound", Removed),
            ("schema/tables/shop.events_2025/partition_of", Removed),
        ],
    ),
    drift(
        "ALTER TABLE shop.cart SET LOGGED",
        "ALTER TABLE shop.cart SET UNLOGGED",
        &[("schema/tables/shop.cart/unlogged", Changed)],
    ),
    drift(
        "ALTER TABLE shop.cart SET (fillfactor = 80)",
        "ALTER TABLE shop.cart SET (fillfactor = 70)",
        &[("schema/tables/shop.cart/options/fillfactor", Changed)],
    ),
    drift(
        "DROP TABLE public.order_lines",
        "CREATE TABLE public.order_lines (order_id bigint REFERENCES shop.orders(id) ON UPDATE RESTRICT
           DEFERRABLE INITIALLY DEFERRED, line int, qty int NOT NULL, PRIMARY KEY (order_id, line))",
        &[("schema/tables/public.order_lines", Removed)],
    ),
    drift(
        "INSERT INTO public._sqlx_migrations (version, description, success, checksum, execution_time)
           VALUES (20240201000000, 'add carts', true, '\\xcd34', 3)",
        "DELETE FROM public._sqlx_migrations WHERE version = 20240201000000",
        &[("migrations/sqlx/20240201000000_add carts", Added)],
    ),
    drift(
        "UPDATE public._sqlx_migrations SET checksum = '\\xffff'",
        "UPDATE public._sqlx_migrations SET checksum = '\\xab12'",
        &[(
            "migrations/sqlx/20240101000000_create shop/checksum",
            Changed,
        )],
    ),
];

#[tokio::test]
async fn collect_postgres_finds_exactly_each_drift_naming_the_object() {
    let Some(baseline) = shop().await else { return };
    let before = collect_with(&baseline.url, &no_counts()).await.unwrap();
    // Three candidates take a third of the drifts each, concurrently: the server works while
    // the collector waits.
    let third = DRIFTS.len().div_ceil(3);
    let (a, b, c) = tokio::join!(
        drifts_against(&before, &DRIFTS[..third]),
        drifts_against(&before, &DRIFTS[third..2 * third]),
        drifts_against(&before, &DRIFTS[2 * third..]),
    );
    let failures: Vec<String> = [a, b, c].concat();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Applies each drift to a fresh candidate, compares with `before`, undoes it; returns the
/// mismatches.
async fn drifts_against(before: &Tree, drifts: &[Drift]) -> Vec<String> {
    let Some(candidate) = shop().await else {
        return Vec::new();
    };
    let options = no_counts();
    let same = collect_with(&candidate.url, &options).await.unwrap();
    assert_eq!(summary(before, &same), vec![], "the two builds differ");
    // One fixture connection for every apply and undo: connecting dominates small DDL.
    let mut fixture = sqlx::PgConnection::connect(&candidate.url).await.unwrap();
    let mut run = async |sql: &str| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut fixture)
            .await
            .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{sql}"));
    };
    run("SET synchronous_commit = off").await;
    let mut failures = Vec::new();
    for drift in drifts {
        run(drift.apply).await;
        let after = collect_with(&candidate.url, &options).await.unwrap();
        let found = summary(before, &after);
        let expected: Vec<(String, ChangeKind)> = drift
            .expect
            .iter()
            .map(|(p, k)| (Path::parse(p).unwrap().to_string(), *k))
            .collect();
        if found != expected {
            failures.push(format!(
                "{}\n  expected {expected:?}\n  found    {found:?}",
                drift.apply
            ));
        }
        run(drift.undo).await;
    }
    let settled = collect_with(&candidate.url, &options).await.unwrap();
    assert_eq!(summary(before, &settled), vec![], "an undo is incomplete");
    failures
}

#[tokio::test]
async fn collect_postgres_database_settings_and_row_counts_are_drift() {
    let (Some(baseline), Some(candidate)) = (shop().await, shop().await) else {
        return;
    };
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        ..SqlOptions::default()
    };
    candidate
        .admin(&format!(
            "ALTER DATABASE {} SET work_mem = '7MB'",
            candidate.name
        ))
        .await;
    // The collector's own transaction sets jit and work_mem (SET LOCAL): the database's
    // values must still be what is read.
    candidate
        .admin(&format!("ALTER DATABASE {} SET jit = off", candidate.name))
        .await;
    candidate
        .execute("INSERT INTO shop.cart (id) SELECT generate_series(1, 5)")
        .await;
    let a = collect_with(&baseline.url, &options).await.unwrap();
    let b = collect_with(&candidate.url, &options).await.unwrap();
    assert_eq!(
        summary(&a, &b),
        vec![
            ("rows/shop.cart".to_string(), Changed),
            ("settings/jit".to_string(), Changed),
            ("settings/work_mem".to_string(), Changed),
        ]
    );
    assert_eq!(at(&b, "settings/work_mem"), &Node::str("7168kB"));
    // The baseline shows the server's own values, whatever this server is configured with.
    let server: (String, String) = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&baseline.url).await.unwrap();
        sqlx::query_as(
            "SELECT (SELECT setting || unit FROM pg_settings WHERE name = 'work_mem'), \
                    (SELECT setting FROM pg_settings WHERE name = 'jit')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    };
    assert_eq!(at(&a, "settings/work_mem"), &Node::str(server.0.as_str()));
    assert_eq!(at(&a, "settings/jit"), &Node::str(server.1.as_str()));
    assert_eq!(at(&b, "settings/jit"), &Node::str("off"));
    assert_eq!(at(&b, "rows/shop.cart"), &Node::Int(5));
}

#[tokio::test]
async fn collect_postgres_noise_gives_no_change() {
    let (Some(baseline), Some(candidate)) = (shop().await, shop().await) else {
        return;
    };
    // Row counts of the data tables are filtered out: their data differs on purpose.
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        row_counts_filter: NameFilter::new(&[], &["shop.customers".into(), "shop.orders".into()]),
        ..SqlOptions::default()
    };
    candidate
        .execute(
            "INSERT INTO shop.customers (email, name) SELECT 'u' || i || '@x.io', 'u' FROM generate_series(1, 50) i;
             SELECT nextval('shop.invoice_no') FROM generate_series(1, 7);
             CREATE TABLE public.tmp (id int); DROP TABLE public.tmp;
             ANALYZE; REFRESH MATERIALIZED VIEW shop.order_sums;",
        )
        .await;
    let a = collect_with(&baseline.url, &options).await.unwrap();
    let b = collect_with(&candidate.url, &options).await.unwrap();
    assert_eq!(summary(&a, &b), vec![]);
    assert_eq!(content_hash(&a), content_hash(&b));
}

#[tokio::test]
async fn collect_postgres_the_same_schema_in_another_order_hashes_the_same() {
    let Some(a) = shop().await else { return };
    let Some(b) = TestDb::postgres().await else {
        return;
    };
    b.execute(SHOP_REORDERED).await;
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        ..SqlOptions::default()
    };
    let ta = collect_with(&a.url, &options).await.unwrap();
    let tb = collect_with(&b.url, &options).await.unwrap();
    assert_eq!(summary(&ta, &tb), vec![]);
    assert_eq!(content_hash(&ta), content_hash(&tb));
}

#[tokio::test]
async fn collect_postgres_session_is_read_only_and_named() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute("CREATE TABLE public.t (id int)").await;
    let options = SqlOptions::default();
    let mut conn = session::connect(&Secret::new(db.url.clone()), &options)
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT current_setting('transaction_read_only') AS ro, \
         current_setting('application_name') AS app, current_setting('lock_timeout') AS lock",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("ro"), "on");
    assert_eq!(row.get::<String, _>("app"), "driftwarden");
    assert_eq!(row.get::<String, _>("lock"), "5s");
    for write in [
        "INSERT INTO public.t VALUES (1)",
        "CREATE TABLE public.u (id int)",
    ] {
        let err = sqlx::query(write).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("read-only transaction"), "{err}");
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn collect_postgres_a_least_privilege_role_can_collect() {
    let Some(db) = shop().await else { return };
    let (role, url) = db.login_role("ro").await;
    db.execute(&format!(
        "GRANT USAGE ON SCHEMA shop, public TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA shop, public TO {role};"
    ))
    .await;
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        ..SqlOptions::default()
    };
    let as_role = collect_with(&url, &options).await;
    let as_admin = collect_with(&db.url, &options).await;
    // Clean up before asserting, so a failure leaves no role behind.
    db.drop_role(&role).await;
    let (as_role, as_admin) = (as_role.unwrap(), as_admin.unwrap());
    for part in ["schema", "rows", "migrations"] {
        assert_eq!(at(&as_role, part), at(&as_admin, part), "{part} differs");
    }
}

#[tokio::test]
async fn collect_postgres_hostile_identifiers_round_trip_into_paths() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let schema = "we\"ird schema";
    let tables = [
        "order items",
        "x\"; DROP TABLE t; --",
        "a/b",
        "dots.in.name",
        "ünïcødé表",
        "select",
        "%_\\",
    ];
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut sql = format!("CREATE SCHEMA {};\n", quote(schema));
    for (i, table) in tables.iter().enumerate() {
        sql.push_str(&format!(
            "CREATE TABLE {}.{} ({} int PRIMARY KEY, \"from\" text);\n\
             INSERT INTO {}.{} SELECT generate_series(1, {});\n",
            quote(schema),
            quote(table),
            quote(table),
            quote(schema),
            quote(table),
            i + 1
        ));
    }
    db.execute(&sql).await;
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        ..SqlOptions::default()
    };
    let tree = collect_with(&db.url, &options).await.unwrap();
    for (i, table) in tables.iter().enumerate() {
        let key = format!("{schema}.{table}");
        let path = Path::from_segments(["rows", key.as_str()]);
        assert_eq!(Path::parse(&path.to_string()).unwrap(), path);
        assert_eq!(
            tree.get(&path),
            Some(&Node::Int(i64::try_from(i + 1).unwrap())),
            "{path}"
        );
        let column =
            Path::from_segments(["schema", "tables", key.as_str(), "columns", table, "type"]);
        assert_eq!(tree.get(&column), Some(&Node::str("integer")), "{column}");
    }
    // The objects filter is pushed into SQL as LIKE patterns with `%`, `_` and `\` escaped.
    let only = SqlOptions {
        objects: NameFilter::new(&[format!("{schema}.%_\\")], &[]),
        row_counts: RowCountMode::Off,
        ..SqlOptions::default()
    };
    let tree = collect_with(&db.url, &only).await.unwrap();
    let Node::Map(collected) = at(&tree, "schema/tables") else {
        panic!("tables is not a map")
    };
    assert_eq!(
        collected.keys().collect::<Vec<_>>(),
        vec![&format!("{schema}.%_\\")]
    );
    assert!(tree
        .get(&Path::from_segments(["schema", "schemas", schema]))
        .is_some());
    assert!(tree
        .get(&Path::from_segments(["schema", "schemas", "public"]))
        .is_none());
}

#[tokio::test]
async fn collect_postgres_a_count_waiting_for_a_lock_fails_the_collection_never_a_value() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute(
        "CREATE TABLE busy (id int); CREATE TABLE calm (id int); INSERT INTO calm VALUES (1)",
    )
    .await;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        statement_timeout: Duration::from_millis(300),
        ..SqlOptions::default()
    };
    let result = collect_with(&db.url, &options).await;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    // A lock says nothing about the table and goes away: the collection fails (its pair is
    // unknown) rather than record a count that would read as drift, then resolve.
    let err = result.unwrap_err();
    assert_eq!(err.reason(), "query", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("counting the rows of public.busy")
            && text.contains("waited 150ms for a lock (lock_timeout)"),
        "{text}"
    );
    let tree = collect_with(&db.url, &options).await.unwrap();
    assert_eq!(at(&tree, "rows/public.busy"), &Node::Int(0));
    assert_eq!(at(&tree, "rows/public.calm"), &Node::Int(1));
}

/// A table too slow to count quickly, without any lock: a row-level security policy that
/// sleeps 100 ms per row of 20, applied to a role of its own (which does not own the table).
/// Gives that role's name and URL.
async fn slow_table_role(db: &TestDb) -> (String, String) {
    let (role, url) = db.login_role("slow").await;
    db.execute(&format!(
        "CREATE TABLE slow (id int); INSERT INTO slow SELECT generate_series(1, 20);
         ALTER TABLE slow ENABLE ROW LEVEL SECURITY;
         CREATE POLICY crawl ON slow USING (pg_sleep(0.1) IS NOT NULL);
         CREATE TABLE calm (id int); INSERT INTO calm VALUES (1);
         GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON slow, calm TO {role};"
    ))
    .await;
    (role, url)
}

#[tokio::test]
async fn collect_postgres_a_count_cut_by_the_statement_timeout_is_a_value_for_that_table() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (role, url) = slow_table_role(&db).await;
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        statement_timeout: Duration::from_millis(500),
        ..SqlOptions::default()
    };
    let result = collect_with(&url, &options).await;
    db.drop_role(&role).await;
    // The table is simply too big for the timeout: that is the table's own state, reported as
    // an error text on its leaf (never 0), and the rest of the collection stands.
    let tree = result.unwrap();
    assert_eq!(
        at(&tree, "rows/public.slow"),
        &Node::str("error: count timed out after 500ms")
    );
    assert_eq!(at(&tree, "rows/public.calm"), &Node::Int(1));
}

#[tokio::test]
async fn collect_postgres_a_count_cancelled_by_another_session_fails_the_collection() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (role, url) = slow_table_role(&db).await;
    let options = SqlOptions {
        row_counts: RowCountMode::Exact,
        statement_timeout: Duration::from_secs(30),
        ..SqlOptions::default()
    };
    let collection = tokio::spawn({
        let (url, options) = (url.clone(), options.clone());
        async move { collect_with(&url, &options).await }
    });
    // An administrator (or a query killer) cancels the count: same SQLSTATE as a statement
    // timeout, but it says nothing about the table.
    db.cancel_when_running("%count(*)%slow%").await;
    let result = collection.await.unwrap();
    db.drop_role(&role).await;
    let err = match result {
        Ok(tree) => panic!(
            "the collection succeeded with rows/public.slow = {:?}",
            at(&tree, "rows/public.slow")
        ),
        Err(err) => err,
    };
    assert_eq!(err.reason(), "query", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("counting the rows of public.slow: cancelled by another session"),
        "{text}"
    );
}

// ---- errors: each is a clear CollectError; through `check`, exit 2 and no findings ----

#[tokio::test]
async fn collect_postgres_connection_errors_are_classified_without_the_password() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let down = "postgres://app:hunter2@127.0.0.1:1/shop";
    let err = collect_with(down, &no_counts()).await.unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
    assert!(err.to_string().contains("is the server running"), "{err}");

    let nobody = with_database(
        "postgres://no_such_role_dw:hunter2@127.0.0.1:5432/x",
        &db.name,
    );
    let err = collect_with(&nobody, &no_counts()).await.unwrap_err();
    assert_eq!(err.reason(), "auth", "{err}");

    let missing = with_database(&db.url, "no_such_database_dw");
    let err = collect_with(&missing, &no_counts()).await.unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    for err in [
        collect_with(down, &no_counts()).await.unwrap_err(),
        collect_with(&nobody, &no_counts()).await.unwrap_err(),
    ] {
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

/// A config comparing `baseline` with `candidate` (with `extra` TOML on both sources).
fn check_config(dir: &std::path::Path, baseline: &str, candidate: &str, extra: &str) {
    std::fs::write(
        dir.join("driftwarden.toml"),
        format!(
            "rules = []\n[[pairs]]\nname = \"p\"\nbaseline = \"production\"\ncandidate = \"staging\"\n\
             [environments.production.sources.db]\nkind = \"postgres\"\nurl = \"{baseline}\"\n\
             row_counts = \"off\"\n{extra}\n\
             [environments.staging.sources.db]\nkind = \"postgres\"\nurl = \"{candidate}\"\n\
             row_counts = \"off\"\n{extra}\n"
        ),
    )
    .unwrap();
}

fn check(dir: &std::path::Path) -> (i32, Value, String) {
    let run = driftwarden_in(dir, &["check", "--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.all()));
    (run.code, json, run.all())
}

#[tokio::test]
async fn collect_postgres_check_exits_2_without_findings_on_each_error() {
    let Some(db) = shop().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "postgres://app:hunter2@127.0.0.1:1/shop".to_string(),
            "",
            "connect",
            "is the server running",
        ),
        (
            with_database(
                "postgres://no_such_role_dw:hunter2@127.0.0.1:5432/x",
                &db.name,
            ),
            "",
            "auth",
            "authentication failed",
        ),
        (
            with_database(&db.url, "no_such_database_dw"),
            "",
            "connect",
            "does not exist",
        ),
    ];
    for (url, extra, reason, needle) in cases {
        check_config(dir.path(), &db.url, &url, extra);
        let (code, json, all) = check(dir.path());
        assert_eq!(code, 2, "{all}");
        let pair = &json["pairs"][0];
        assert_eq!(pair["status"], "unknown", "{all}");
        assert_eq!(pair["findings"].as_array().unwrap().len(), 0, "{all}");
        assert_eq!(pair["errors"][0]["reason"], reason, "{all}");
        assert!(all.contains(needle), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
    }

    // A statement timeout: a migration holds the bookkeeping table locked.
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE public._sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    check_config(
        dir.path(),
        &db.url,
        &db.url,
        "statement_timeout = \"300ms\"",
    );
    let (code, json, all) = check(dir.path());
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    assert_eq!(code, 2, "{all}");
    let pair = &json["pairs"][0];
    assert_eq!(pair["findings"].as_array().unwrap().len(), 0, "{all}");
    assert_eq!(pair["errors"][0]["reason"], "query", "{all}");
    assert!(all.contains("statement timeout"), "{all}");
}

/// Indexes whose definition the client composes and indexes the server deparses, all read
/// exactly as `pg_get_indexdef` prints them.
const INDEX_VARIETY: &str = r#"
ALTER TABLE shop.cart ADD COLUMN "Mixed Name" varchar(20), ADD COLUMN code text COLLATE "C";
CREATE INDEX "Cart Mixed" ON shop.cart ("Mixed Name" DESC, id NULLS FIRST, label DESC NULLS LAST);
CREATE INDEX cart_code_default ON shop.cart (code COLLATE "default");
CREATE INDEX cart_code_c ON shop.cart (code);
CREATE INDEX cart_code_pattern ON shop.cart (code text_pattern_ops);
CREATE UNIQUE INDEX cart_unique ON shop.cart (id, label) INCLUDE ("Mixed Name", body) WHERE id > 0;
CREATE INDEX cart_hash ON shop.cart USING hash (label);
CREATE INDEX cart_gin ON shop.cart USING gin (body);
CREATE INDEX cart_fill ON shop.cart (id) WITH (fillfactor = 60);
CREATE INDEX events_at ON shop.events (at DESC, kind NULLS FIRST);
CREATE UNIQUE INDEX events_key ON shop.events (id, at);
"#;

#[tokio::test]
async fn collect_postgres_index_definitions_read_as_the_server_prints_them() {
    let Some(db) = shop().await else { return };
    db.execute(INDEX_VARIETY).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    if version >= 150_000 {
        sqlx::raw_sql("CREATE UNIQUE INDEX cart_nnd ON shop.cart (label) NULLS NOT DISTINCT")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // The server's own text, printed with the collector's search_path.
    sqlx::raw_sql("SET search_path = pg_catalog")
        .execute(&mut conn)
        .await
        .unwrap();
    let expected: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT n.nspname || '.' || c.relname, ic.relname::text, pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('shop', 'public') AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(expected.len() > 20, "{expected:?}");
    let tree = collect_with(&db.url, &no_counts()).await.unwrap();
    for (relation, index, definition) in &expected {
        let family = if relation == "shop.order_sums" {
            "materialized_views"
        } else {
            "tables"
        };
        let path = Path::from_segments([
            "schema",
            family,
            relation.as_str(),
            "indexes",
            index.as_str(),
            "definition",
        ]);
        assert_eq!(
            tree.get(&path),
            Some(&Node::str(definition.as_str())),
            "{path}"
        );
    }
}

#[tokio::test]
async fn collect_postgres_statement_count_is_flat_and_one_session_agrees_with_four() {
    let Some(db) = shop().await else { return };
    let url = Secret::new(db.url.clone());
    let single = SqlOptions {
        count_concurrency: 1,
        ..no_counts()
    };
    let (one, one_stats) = postgres::collect_with_stats(&url, &single).await.unwrap();
    let (four, small) = postgres::collect_with_stats(&url, &no_counts())
        .await
        .unwrap();
    assert_eq!(summary(&one, &four), vec![]);
    db.execute(
        "DO $$ BEGIN FOR t IN 1..40 LOOP
           EXECUTE format('CREATE TABLE public.extra%s (id int PRIMARY KEY, v text)', t);
         END LOOP; END $$;",
    )
    .await;
    let (_, large) = postgres::collect_with_stats(&url, &no_counts())
        .await
        .unwrap();
    assert_eq!(small.catalog_statements, large.catalog_statements);
    assert_eq!(large.count_statements, 0);
    // BEGIN, export, COMMIT, 13 queries over 4 sessions (3 × BEGIN, SET SNAPSHOT, COMMIT),
    // finding migration tables, reading the one found. 13 queries for 12 families: the
    // columns, the heaviest, are read in two halves (by table oid) on two sessions.
    assert_eq!(large.catalog_statements, 3 + 13 + 9 + 2);
    assert_eq!(one_stats.catalog_statements, 2 + 13 + 2);
}
