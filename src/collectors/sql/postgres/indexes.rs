//! Indexes of tables and materialized views (one query).
//!
//! The `definition` leaf reads exactly as `pg_get_indexdef` prints it, but the server deparses
//! it only for the few indexes whose text needs its deparser (expressions, storage parameters,
//! non-default operator classes or collations, access methods other than btree and hash, indexes
//! of materialized views). For every other index the client composes the same text from catalog
//! columns the query returns anyway: `pg_get_indexdef` on thousands of plain indexes costs the
//! server a catalog-cache miss per column, index and table in a fresh session, and was the
//! slowest catalog query on large schemas (see docs/benchmarks.md).

use tracing::debug;

use super::schema::{qualified, Schema};
use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::CollectError;
use crate::snapshot::Node;

/// `pg_index.indoption` bit: the key column sorts descending.
const INDOPTION_DESC: i16 = 0x0001;
/// `pg_index.indoption` bit: NULLs sort first.
const INDOPTION_NULLS_FIRST: i16 = 0x0002;
/// `pg_collation` oid of the database's default collation (fixed in every release).
const DEFAULT_COLLATION: u32 = 100;

/// The index query, with `$nnd` the expression of `NULLS NOT DISTINCT` (a PostgreSQL 15 column).
macro_rules! indexes_query {
    ($nnd:literal) => {
        concat!(
            "SELECT n.nspname::text AS schema, c.relname::text AS table_name, ic.relname::text AS name,",
            " i.indisunique AS is_unique, i.indisvalid AS valid, am.amname::text AS method,",
            " pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,",
            // Plain columns by name (quoted as the server prints them); only expressions need
            // the costlier deparser. One-column keys (most of them) skip the per-column subquery.
            " CASE WHEN i.indnkeyatts = 1 AND i.indkey[0] <> 0 THEN ARRAY[(SELECT",
            "   pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a",
            "   WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0])]",
            " ELSE ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0",
            "   THEN pg_catalog.pg_get_indexdef(i.indexrelid, k, true)",
            "   ELSE (SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a",
            "     WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]) END",
            "   FROM pg_catalog.generate_series(1, i.indnkeyatts) k ORDER BY k) END AS columns,",
            " CASE WHEN i.indnatts = i.indnkeyatts THEN '{}'::text[] ELSE",
            " ARRAY(SELECT pg_catalog.quote_ident(a.attname)",
            "   FROM pg_catalog.generate_series(i.indnkeyatts + 1, i.indnatts) k",
            "   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]",
            "   ORDER BY k) END AS include,",
            " CASE con.contype WHEN 'p' THEN 'pk' WHEN 'u' THEN 'u' WHEN 'x' THEN 'x' ELSE 'c' END AS origin,",
            // What the client composes the definition from.
            " pg_catalog.quote_ident(ic.relname) AS quoted_name,",
            " pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS quoted_table,",
            " ic.relkind = 'I' AS partitioned, pg_catalog.quote_ident(am.amname) AS quoted_method,",
            // Slices: int2vector and oidvector count from 0, which the driver refuses.
            " (i.indoption::int2[])[:] AS key_options, (i.indcollation::oid[])[:] AS key_collations,",
            " ",
            $nnd,
            " AS nulls_not_distinct,",
            // The server's own text where composing it would need its deparser or lookups per
            // column: expressions, storage parameters (WITH), operator classes that are not
            // their type's default, collations other than the default, other access methods
            // (their operator classes may take options), and materialized views (whose columns
            // the client does not hold).
            " CASE WHEN i.indexprs IS NOT NULL OR ic.reloptions IS NOT NULL OR c.relkind = 'm'",
            "   OR am.amname NOT IN ('btree', 'hash')",
            "   OR NOT i.indcollation::oid[] <@ '{0,100}'::oid[]",
            "   OR NOT i.indclass::oid[] <@ ARRAY(SELECT oc.oid",
            "     FROM pg_catalog.pg_opclass oc WHERE oc.opcdefault)",
            " THEN pg_catalog.pg_get_indexdef(i.indexrelid) END AS server_definition",
            " FROM pg_catalog.pg_index i",
            " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid",
            " JOIN pg_catalog.pg_am am ON am.oid = ic.relam",
            " JOIN pg_catalog.pg_class c ON c.oid = i.indrelid",
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
            " LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid",
            "   AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')",
            " WHERE",
            collected_relation!()
        )
    };
}

/// Indexes of collected tables and materialized views; `origin` says which constraint, if any,
/// an index implements (as in the SQLite tree: `pk`, `u`, `x`, or `c` for CREATE INDEX).
pub const INDEXES: &str = indexes_query!("i.indnullsnotdistinct");

/// [`INDEXES`] for servers before PostgreSQL 15, which have no `NULLS NOT DISTINCT`.
pub const INDEXES_BEFORE_15: &str = indexes_query!("false");

/// First `server_version_num` with `pg_index.indnullsnotdistinct`.
pub const NULLS_NOT_DISTINCT_SINCE: u32 = 150_000;

/// What `pg_get_indexdef` prints for an index of ordinary columns, from catalog columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain<'a> {
    /// Quoted index name.
    pub name: &'a str,
    /// Quoted `schema.table`.
    pub table: &'a str,
    /// An index of a partitioned table (`ON ONLY`).
    pub partitioned: bool,
    /// Quoted access method.
    pub method: &'a str,
    /// `UNIQUE`.
    pub unique: bool,
    /// Key columns, quoted, each with its `COLLATE` clause when it needs one.
    pub keys: Vec<String>,
    /// `indoption` of each key column (DESC, NULLS FIRST bits).
    pub options: &'a [i16],
    /// `INCLUDE` columns, quoted.
    pub include: &'a [String],
    /// `NULLS NOT DISTINCT`.
    pub nulls_not_distinct: bool,
    /// The predicate of a partial index, as `pg_get_expr` prints it.
    pub predicate: Option<&'a str>,
}

/// The sort words `pg_get_indexdef` prints after a key column of an ordered index.
fn sort_order(option: i16) -> &'static str {
    match (
        option & INDOPTION_DESC != 0,
        option & INDOPTION_NULLS_FIRST != 0,
    ) {
        // NULLS FIRST is the default of DESC, NULLS LAST that of ASC.
        (true, true) => " DESC",
        (true, false) => " DESC NULLS LAST",
        (false, true) => " NULLS FIRST",
        (false, false) => "",
    }
}

/// The definition text, word for word as `pg_get_indexdef(oid)` prints it.
pub fn compose(index: &Plain<'_>) -> String {
    let mut text = String::with_capacity(96);
    text.push_str("CREATE ");
    if index.unique {
        text.push_str("UNIQUE ");
    }
    text.push_str("INDEX ");
    text.push_str(index.name);
    text.push_str(" ON ");
    if index.partitioned {
        text.push_str("ONLY ");
    }
    text.push_str(index.table);
    text.push_str(" USING ");
    text.push_str(index.method);
    text.push_str(" (");
    for (k, key) in index.keys.iter().enumerate() {
        if k > 0 {
            text.push_str(", ");
        }
        text.push_str(key);
        text.push_str(sort_order(index.options.get(k).copied().unwrap_or(0)));
    }
    text.push(')');
    if !index.include.is_empty() {
        text.push_str(" INCLUDE (");
        text.push_str(&index.include.join(", "));
        text.push(')');
    }
    if index.nulls_not_distinct {
        text.push_str(" NULLS NOT DISTINCT");
    }
    if let Some(predicate) = index.predicate {
        text.push_str(" WHERE ");
        text.push_str(predicate);
    }
    text
}

/// An identifier as `quote_ident` printed it, unquoted (`"a""b"` is `a"b`).
fn unquote(quoted: &str) -> std::borrow::Cow<'_, str> {
    match quoted
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(inner) => inner.replace("\"\"", "\"").into(),
        None => quoted.into(),
    }
}

/// A key column with the `COLLATE` clause `pg_get_indexdef` adds when the index's collation is
/// not the column's. The server deparses every index whose collations are not all "none" or the
/// default, so only the default can differ here: on a column declared with another collation.
fn key_with_collation(table: Option<&Node>, key: &str, collation: u32) -> String {
    if collation != DEFAULT_COLLATION {
        return key.to_string();
    }
    let declared = table
        .and_then(|node| match node {
            Node::Map(map) => map.get("columns"),
            _ => None,
        })
        .and_then(|columns| match columns {
            Node::Map(map) => map.get(unquote(key).as_ref()),
            _ => None,
        })
        .and_then(|column| match column {
            Node::Map(map) => map.get("collation"),
            _ => None,
        });
    match declared {
        Some(Node::Str(name)) if name != "default" => format!("{key} COLLATE \"default\""),
        _ => key.to_string(),
    }
}

/// Reads indexes onto their tables and materialized views (after the columns, whose
/// collations a composed definition compares with the index's).
pub fn apply_indexes(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<(), CollectError> {
    let mut composed = 0usize;
    for row in rows {
        let namespace: &str = get(row, "schema", target)?;
        let table: &str = get(row, "table_name", target)?;
        let Some(node) = schema.relation_mut(&qualified(namespace, table)) else {
            continue;
        };
        let columns: Vec<String> = get(row, "columns", target)?;
        let include: Vec<String> = get(row, "include", target)?;
        let unique: bool = get(row, "is_unique", target)?;
        let predicate: Option<String> = get(row, "predicate", target)?;
        let definition = match get::<Option<String>>(row, "server_definition", target)? {
            Some(text) => text,
            None => {
                composed += 1;
                let collations: Vec<sqlx::postgres::types::Oid> =
                    get(row, "key_collations", target)?;
                let options: Vec<i16> = get(row, "key_options", target)?;
                let keys = columns
                    .iter()
                    .enumerate()
                    .map(|(k, key)| {
                        let collation = collations.get(k).map_or(0, |oid| oid.0);
                        key_with_collation(Some(&*node), key, collation)
                    })
                    .collect();
                compose(&Plain {
                    name: get(row, "quoted_name", target)?,
                    table: get(row, "quoted_table", target)?,
                    partitioned: get(row, "partitioned", target)?,
                    method: get(row, "quoted_method", target)?,
                    unique,
                    keys,
                    options: &options,
                    include: &include,
                    nulls_not_distinct: get(row, "nulls_not_distinct", target)?,
                    predicate: predicate.as_deref(),
                })
            }
        };
        let mut leaf = Node::map();
        leaf.insert("columns", columns);
        leaf.insert("include", include);
        leaf.insert("unique", unique);
        leaf.insert("partial", predicate);
        leaf.insert("origin", get::<&str>(row, "origin", target)?);
        leaf.insert("method", get::<&str>(row, "method", target)?);
        leaf.insert("valid", get::<bool>(row, "valid", target)?);
        leaf.insert("definition", definition);
        node.entry("indexes")
            .insert(get::<&str>(row, "name", target)?, leaf);
    }
    debug!(indexes = rows.len(), composed, "Read indexes.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain<'a>(keys: &[&str], options: &'a [i16], include: &'a [String]) -> Plain<'a> {
        Plain {
            name: "t_idx",
            table: "app.t",
            partitioned: false,
            method: "btree",
            unique: false,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            options,
            include,
            nulls_not_distinct: false,
            predicate: None,
        }
    }

    #[test]
    fn a_plain_index_reads_as_pg_get_indexdef_prints_it() {
        assert_eq!(
            compose(&plain(&["a"], &[0], &[])),
            "CREATE INDEX t_idx ON app.t USING btree (a)"
        );
        let include = ["total".to_string(), "\"Note\"".to_string()];
        let index = Plain {
            unique: true,
            partitioned: true,
            nulls_not_distinct: true,
            predicate: Some("(status <> 'shipped'::text)"),
            ..plain(&["a", "b COLLATE \"default\""], &[3, 1], &include)
        };
        assert_eq!(
            compose(&index),
            "CREATE UNIQUE INDEX t_idx ON ONLY app.t USING btree (a DESC, b COLLATE \"default\" \
             DESC NULLS LAST) INCLUDE (total, \"Note\") NULLS NOT DISTINCT WHERE (status <> \
             'shipped'::text)"
        );
    }

    #[test]
    fn sort_words_follow_the_defaults_of_each_direction() {
        assert_eq!(sort_order(0), "");
        assert_eq!(sort_order(INDOPTION_NULLS_FIRST), " NULLS FIRST");
        assert_eq!(sort_order(INDOPTION_DESC), " DESC NULLS LAST");
        assert_eq!(sort_order(INDOPTION_DESC | INDOPTION_NULLS_FIRST), " DESC");
    }

    #[test]
    fn quoted_names_find_their_column() {
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("\"Mixed\"\"Case\""), "Mixed\"Case");
        let mut table = Node::map();
        let mut column = Node::map();
        column.insert("collation", "C");
        table.entry("columns").insert("Label", column);
        let mut other = Node::map();
        other.insert("collation", "default");
        table.entry("columns").insert("b", other);
        assert_eq!(
            key_with_collation(Some(&table), "\"Label\"", DEFAULT_COLLATION),
            "\"Label\" COLLATE \"default\""
        );
        assert_eq!(
            key_with_collation(Some(&table), "b", DEFAULT_COLLATION),
            "b"
        );
        assert_eq!(
            key_with_collation(Some(&table), "\"Label\"", 0),
            "\"Label\""
        );
    }
}
