//! Tables, views, materialized views and sequences (one query), and the columns of tables
//! (one query).

use std::collections::BTreeMap;

use tracing::debug;

use super::schema::{qualified, Schema};
use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::sql::{migrations, normalize_definition};
use crate::collectors::CollectError;
use crate::snapshot::Node;

/// Every collected relation with what the tree needs of it. Sequences that implement an
/// identity column are left out (the column says `identity`), and so are sequence positions.
pub const RELATIONS: &str = concat!(
    "SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind,",
    " c.relpersistence = 'u' AS unlogged,",
    " c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,",
    " pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS partition_bound,",
    " CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,",
    " ARRAY(SELECT pn.nspname || '.' || pc.relname FROM pg_catalog.pg_inherits i",
    "   JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent",
    "   JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace",
    "   WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) AS parents,",
    " c.relispartition AS is_partition,",
    " COALESCE(c.reloptions, '{}') AS options,",
    " pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,",
    " d.description AS comment,",
    // -1 (never analyzed) stays unknown; a partitioned table's estimate is that of its leaves.
    " CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN pg_catalog.bool_or(lc.reltuples < 0) THEN -1",
    "     ELSE pg_catalog.sum(lc.reltuples) END::float8",
    "   FROM pg_catalog.pg_partition_tree(c.oid) pt JOIN pg_catalog.pg_class lc ON lc.oid = pt.relid",
    "   WHERE pt.isleaf) ELSE c.reltuples::float8 END AS estimate,",
    " CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END AS definition,",
    " pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS quoted,",
    " pg_catalog.format_type(s.seqtypid, NULL) AS seq_type, s.seqstart, s.seqincrement, s.seqmin,",
    " s.seqmax, s.seqcache, s.seqcycle,",
    " CASE WHEN c.relkind = 'S' THEN (SELECT tn.nspname || '.' || tc.relname || '.' || ta.attname",
    "   FROM pg_catalog.pg_depend od",
    "   JOIN pg_catalog.pg_class tc ON tc.oid = od.refobjid",
    "   JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace",
    "   JOIN pg_catalog.pg_attribute ta ON ta.attrelid = od.refobjid AND ta.attnum = od.refobjsubid",
    "   WHERE od.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND od.objid = c.oid",
    "   AND od.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND od.deptype = 'a'",
    "   LIMIT 1) END AS owned_by",
    " FROM pg_catalog.pg_class c",
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    " LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid",
    "   AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0",
    " LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid",
    " WHERE",
    collected_relation!(),
    " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend idd",
    "   WHERE idd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND idd.objid = c.oid",
    "   AND idd.deptype = 'i' AND c.relkind = 'S')"
);

/// Columns of collected tables (of one parity of table oid, `$parity`). `position` counts live columns only, so a dropped column
/// leaves no gap that would differ from a database built without it.
macro_rules! columns_query {
    ($parity:literal) => {
        concat!(
    "SELECT n.nspname::text AS schema, c.relname::text AS table_name, a.attname::text AS name,",
    " pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,",
    " a.attnotnull AS not_null,",
    // A default cannot reference columns, so it deparses without the relation's context
    // (relid 0), which costs the server about 40% less on tens of thousands of columns.
    " CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, 0) END AS default_value,",
    " CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,",
    " CASE WHEN a.attgenerated = 's' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END AS generated,",
    " CASE WHEN a.attcollation = 0 THEN NULL",
    "   WHEN cn.nspname = 'pg_catalog' THEN co.collname::text",
    "   ELSE cn.nspname || '.' || co.collname END AS collation,",
    " d.description AS comment,",
    " (pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) - 1)::int8 AS position",
    " FROM pg_catalog.pg_attribute a",
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid",
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    " LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum",
    " LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation",
    " LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace",
    " LEFT JOIN pg_catalog.pg_description d ON d.objoid = a.attrelid",
    "   AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = a.attnum",
    " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f')",
    " AND c.oid::int8 % 2 = ",
    $parity,
    " AND",
    collected_relation!()
        )
    };
}

/// [`columns_query`] of the tables with an even oid. The columns are the heaviest family (a
/// row per column, two deparsed expressions and a type name each): read in two halves, by
/// table, on two sessions, each half is applied while the other is still read.
pub const COLUMNS_EVEN: &str = columns_query!("0");

/// [`columns_query`] of the tables with an odd oid.
pub const COLUMNS_ODD: &str = columns_query!("1");

/// A collected table, as the row counter needs it.
#[derive(Debug, Clone)]
pub struct TableRef {
    /// `schema.table`, the key in `rows/`.
    pub key: String,
    /// `"schema"."table"`, safe to splice into SQL.
    pub quoted: String,
    /// `reltuples` (summed over leaf partitions), `None` when never analyzed.
    pub estimate: Option<i64>,
}

fn relkind_name(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "r" => "table",
        "p" => "partitioned table",
        "f" => "foreign table",
        "v" => "view",
        "m" => "materialized view",
        "S" => "sequence",
        _ => return None,
    })
}

/// Reads relations into `schema` and returns the tables, for row counts.
pub fn apply(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<Vec<TableRef>, CollectError> {
    let mut tables = Vec::new();
    for row in rows {
        let namespace: String = get(row, "schema", target)?;
        let name: String = get(row, "name", target)?;
        let kind: String = get(row, "kind", target)?;
        let key = qualified(&namespace, &name);
        let Some(kind_name) = relkind_name(&kind) else {
            continue;
        };
        let mut node = Node::map();
        node.insert("owner", get::<String>(row, "owner", target)?);
        node.insert("comment", get::<Option<String>>(row, "comment", target)?);
        // Filled by the privileges query; a relation nobody may use keeps an empty map.
        node.insert("privileges", Node::map());
        match kind.as_str() {
            "r" | "p" | "f" => {
                // Migration bookkeeping is reported under `migrations/`, not as schema.
                if migrations::is_migration_table(&name) {
                    continue;
                }
                node.insert("kind", kind_name);
                node.insert("unlogged", get::<bool>(row, "unlogged", target)?);
                let mut rls = Node::map();
                rls.insert("enabled", get::<bool>(row, "rls_enabled", target)?);
                rls.insert("forced", get::<bool>(row, "rls_forced", target)?);
                node.insert("row_level_security", rls);
                node.insert(
                    "partition_key",
                    get::<Option<String>>(row, "partition_key", target)?,
                );
                let parents: Vec<String> = get(row, "parents", target)?;
                if get::<bool>(row, "is_partition", target)? {
                    node.insert("partition_of", parents.first().cloned());
                    node.insert(
                        "partition_bound",
                        get::<Option<String>>(row, "partition_bound", target)?,
                    );
                } else if !parents.is_empty() {
                    node.insert("inherits", parents);
                }
                node.insert("options", options(get(row, "options", target)?));
                node.insert("columns", Node::map());
                node.insert("indexes", Node::map());
                node.insert("foreign_keys", Node::map());
                node.insert("constraints", Node::map());
                node.insert("policies", Node::map());
                let estimate: Option<f64> = get(row, "estimate", target)?;
                // Counting a foreign table would query the remote server: not ours to load.
                if kind != "f" {
                    tables.push(TableRef {
                        key: key.clone(),
                        quoted: get(row, "quoted", target)?,
                        // Estimates are whole row counts far below 2^53: the cast is exact.
                        estimate: estimate.filter(|e| *e >= 0.0).map(|e| e.round() as i64),
                    });
                }
                schema.tables.insert(key, node);
            }
            "v" | "m" => {
                let definition: Option<String> = get(row, "definition", target)?;
                node.insert("definition", definition.map(|d| normalize_definition(&d)));
                if kind == "m" {
                    node.insert("indexes", Node::map());
                    schema.materialized_views.insert(key, node);
                } else {
                    schema.views.insert(key, node);
                }
            }
            _ => {
                node.insert("type", get::<Option<String>>(row, "seq_type", target)?);
                node.insert("start", get::<Option<i64>>(row, "seqstart", target)?);
                node.insert(
                    "increment",
                    get::<Option<i64>>(row, "seqincrement", target)?,
                );
                node.insert("min", get::<Option<i64>>(row, "seqmin", target)?);
                node.insert("max", get::<Option<i64>>(row, "seqmax", target)?);
                node.insert("cache", get::<Option<i64>>(row, "seqcache", target)?);
                node.insert("cycle", get::<Option<bool>>(row, "seqcycle", target)?);
                node.insert("owned_by", get::<Option<String>>(row, "owned_by", target)?);
                schema.sequences.insert(key, node);
            }
        }
    }
    debug!(
        relations = rows.len(),
        tables = tables.len(),
        "Read relations."
    );
    tables.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(tables)
}

/// Reads the columns of collected tables.
pub fn apply_columns(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<(), CollectError> {
    // Rows come table by table (the query's window sorts them), so each table is looked up
    // once per run of rows rather than once per column: 40,000 lookups on 2,000 tables.
    let mut run: Option<(&str, &str, BTreeMap<String, Node>)> = None;
    for row in rows {
        let namespace: &str = get(row, "schema", target)?;
        let table: &str = get(row, "table_name", target)?;
        let same = matches!(&run, Some((n, t, _)) if *n == namespace && *t == table);
        if !same {
            if let Some((n, t, columns)) = run.take() {
                add_columns(schema, n, t, columns);
            }
            run = Some((namespace, table, BTreeMap::new()));
        }
        let generated: Option<String> = get(row, "generated", target)?;
        // Built from a sorted array: one allocation per key, no rebalancing.
        let column = BTreeMap::from([
            (
                "collation".to_string(),
                Node::from(get::<Option<String>>(row, "collation", target)?),
            ),
            (
                "comment".to_string(),
                Node::from(get::<Option<String>>(row, "comment", target)?),
            ),
            (
                "default".to_string(),
                Node::from(get::<Option<String>>(row, "default_value", target)?),
            ),
            (
                "generated".to_string(),
                Node::from(generated.as_ref().map(|_| "stored")),
            ),
            ("generated_expression".to_string(), Node::from(generated)),
            (
                "identity".to_string(),
                Node::from(get::<Option<&str>>(row, "identity", target)?),
            ),
            (
                "nullable".to_string(),
                Node::Bool(!get::<bool>(row, "not_null", target)?),
            ),
            (
                "position".to_string(),
                Node::Int(get::<i64>(row, "position", target)?),
            ),
            ("primary_key".to_string(), Node::Int(0)),
            (
                "type".to_string(),
                Node::Str(get::<String>(row, "type", target)?),
            ),
        ]);
        if let Some((_, _, columns)) = run.as_mut() {
            columns.insert(get::<String>(row, "name", target)?, Node::Map(column));
        }
    }
    if let Some((n, t, columns)) = run.take() {
        add_columns(schema, n, t, columns);
    }
    debug!(columns = rows.len(), "Read columns.");
    Ok(())
}

/// Adds one table's columns (a table whose rows were not contiguous gets them merged).
fn add_columns(schema: &mut Schema, namespace: &str, table: &str, columns: BTreeMap<String, Node>) {
    let Some(node) = schema.table_mut(&qualified(namespace, table)) else {
        return;
    };
    match node.entry("columns") {
        Node::Map(existing) if existing.is_empty() => *existing = columns,
        Node::Map(existing) => existing.extend(columns),
        other => *other = Node::Map(columns),
    }
}

/// Storage parameters (`fillfactor=70`) as a map, so a changed one is named.
fn options(pairs: Vec<String>) -> Node {
    let mut node = Node::map();
    for pair in pairs {
        match pair.split_once('=') {
            Some((key, value)) => node.insert(key, value),
            None => node.insert(pair, Node::Null),
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_normalized_for_line_diffs() {
        assert_eq!(
            normalize_definition(" SELECT 1  \r\n FROM t;\n\n"),
            " SELECT 1\n FROM t;\n"
        );
        assert_eq!(normalize_definition(""), "\n");
    }

    #[test]
    fn every_collected_relkind_has_a_name() {
        for kind in ["r", "p", "f", "v", "m", "S"] {
            assert!(relkind_name(kind).is_some());
        }
        assert!(relkind_name("i").is_none());
    }
}
