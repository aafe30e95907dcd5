//! What hangs off a table: constraints and foreign keys (one query), triggers (one query) and
//! row-level security policies (one query). Indexes are in `indexes`.

use std::collections::BTreeMap;

use tracing::debug;

use super::schema::{qualified, Schema};
use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::CollectError;
use crate::snapshot::Node;

/// Primary key, unique, check, exclusion and foreign-key constraints of collected tables.
/// Foreign keys that PostgreSQL clones onto the partitions of a referenced partitioned table
/// (same referencing table as their parent constraint) are internal and left out.
pub const CONSTRAINTS: &str = concat!(
    "SELECT n.nspname::text AS schema, c.relname::text AS table_name, k.conname::text AS name,",
    // Foreign keys are reported field by field; their definition text would be redundant.
    " k.contype::text AS type,",
    " CASE WHEN k.contype <> 'f' THEN pg_catalog.pg_get_constraintdef(k.oid, true) END AS definition,",
    " k.condeferrable AS deferrable, k.condeferred AS deferred, k.convalidated AS validated,",
    // Column names in key order. A constraint lists a column once, so one index scan with
    // `= ANY` and a sort by position does it; one-column keys (most) need no sort at all.
    // These subqueries were most of the query's cost in the form unnest + join + sort.
    " CASE WHEN pg_catalog.cardinality(k.conkey) = 1 THEN ARRAY[(SELECT a.attname::text",
    "   FROM pg_catalog.pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1])]",
    " ELSE ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a",
    "   WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)",
    "   ORDER BY pg_catalog.array_position(k.conkey, a.attnum)) END AS columns,",
    " rn.nspname || '.' || rc.relname AS ref_table,",
    // Only foreign keys have referenced columns.
    " CASE WHEN k.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a",
    "   WHERE a.attrelid = k.confrelid AND a.attnum = ANY (k.confkey)",
    "   ORDER BY pg_catalog.array_position(k.confkey, a.attnum)) END AS ref_columns,",
    " k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete,",
    " k.confmatchtype::text AS match_type",
    " FROM pg_catalog.pg_constraint k",
    " JOIN pg_catalog.pg_class c ON c.oid = k.conrelid",
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    " LEFT JOIN pg_catalog.pg_class rc ON rc.oid = k.confrelid",
    " LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace",
    " WHERE k.contype IN ('p', 'u', 'c', 'x', 'f')",
    " AND NOT (k.contype = 'f' AND k.conparentid <> 0 AND EXISTS (SELECT 1",
    "   FROM pg_catalog.pg_constraint pk WHERE pk.oid = k.conparentid AND pk.conrelid = k.conrelid))",
    " AND",
    collected_relation!()
);

/// User triggers (not the internal ones behind foreign keys) of collected relations.
pub const TRIGGERS: &str = concat!(
    "SELECT n.nspname::text AS schema, c.relname::text AS table_name, t.tgname::text AS name,",
    " pg_catalog.pg_get_triggerdef(t.oid) AS definition, t.tgenabled::text AS enabled",
    " FROM pg_catalog.pg_trigger t",
    " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid",
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    " WHERE NOT t.tgisinternal AND",
    collected_relation!()
);

/// Row-level security policies of collected tables.
pub const POLICIES: &str = concat!(
    "SELECT n.nspname::text AS schema, c.relname::text AS table_name, p.polname::text AS name,",
    " p.polpermissive AS permissive, p.polcmd::text AS command,",
    " ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END",
    "   FROM pg_catalog.unnest(p.polroles) r ORDER BY 1) AS roles,",
    " pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,",
    " pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr",
    " FROM pg_catalog.pg_policy p",
    " JOIN pg_catalog.pg_class c ON c.oid = p.polrelid",
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    " WHERE",
    collected_relation!()
);

/// A foreign-key action code as SQL says it.
fn action(code: &str) -> &'static str {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

fn match_type(code: &str) -> &'static str {
    match code {
        "f" => "FULL",
        "p" => "PARTIAL",
        _ => "SIMPLE",
    }
}

fn constraint_type(code: &str) -> &'static str {
    match code {
        "p" => "primary_key",
        "u" => "unique",
        "c" => "check",
        "x" => "exclusion",
        _ => "foreign_key",
    }
}

/// The identity of a foreign key, as in the SQLite tree: `(cols)->schema.table(cols)`.
pub fn foreign_key_identity(columns: &[String], table: &str, ref_columns: &[String]) -> String {
    format!(
        "({})->{table}({})",
        columns.join(","),
        ref_columns.join(",")
    )
}

/// Reads constraints and foreign keys; primary-key columns get their key position.
pub fn apply_constraints(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<(), CollectError> {
    // Two foreign keys with the same mapping are numbered in name order, never by creation.
    let mut foreign_keys: BTreeMap<(String, String), Vec<(String, Node)>> = BTreeMap::new();
    for row in rows {
        let namespace: String = get(row, "schema", target)?;
        let table: String = get(row, "table_name", target)?;
        let key = qualified(&namespace, &table);
        let Some(node) = schema.table_mut(&key) else {
            continue;
        };
        let name: String = get(row, "name", target)?;
        let kind: String = get(row, "type", target)?;
        let columns: Vec<String> = get(row, "columns", target)?;
        let mut leaf = Node::map();
        leaf.insert("deferrable", get::<bool>(row, "deferrable", target)?);
        leaf.insert("initially_deferred", get::<bool>(row, "deferred", target)?);
        leaf.insert("validated", get::<bool>(row, "validated", target)?);
        if kind == "f" {
            let ref_table: Option<String> = get(row, "ref_table", target)?;
            let ref_columns: Vec<String> = get(row, "ref_columns", target)?;
            let identity =
                foreign_key_identity(&columns, ref_table.as_deref().unwrap_or(""), &ref_columns);
            leaf.insert("name", name.clone());
            leaf.insert(
                "on_update",
                action(&get::<String>(row, "on_update", target)?),
            );
            leaf.insert(
                "on_delete",
                action(&get::<String>(row, "on_delete", target)?),
            );
            leaf.insert(
                "match",
                match_type(&get::<String>(row, "match_type", target)?),
            );
            foreign_keys
                .entry((key, identity))
                .or_default()
                .push((name, leaf));
            continue;
        }
        if kind == "p" {
            for (position, column) in columns.iter().enumerate() {
                if let Node::Map(cols) = node.entry("columns") {
                    if let Some(col) = cols.get_mut(column) {
                        col.insert(
                            "primary_key",
                            i64::try_from(position + 1).unwrap_or(i64::MAX),
                        );
                    }
                }
            }
        }
        leaf.insert("type", constraint_type(&kind));
        leaf.insert(
            "definition",
            get::<Option<String>>(row, "definition", target)?,
        );
        node.entry("constraints").insert(name, leaf);
    }
    for ((table, identity), mut keys) in foreign_keys {
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let Some(node) = schema.table_mut(&table) else {
            continue;
        };
        for (i, (_, leaf)) in keys.into_iter().enumerate() {
            let key = if i == 0 {
                identity.clone()
            } else {
                format!("{identity} #{}", i + 1)
            };
            node.entry("foreign_keys").insert(key, leaf);
        }
    }
    debug!(constraints = rows.len(), "Read constraints.");
    Ok(())
}

fn enabled(code: &str) -> &'static str {
    match code {
        "D" => "disabled",
        "R" => "replica",
        "A" => "always",
        _ => "enabled",
    }
}

/// Reads triggers into `schema/triggers/<schema.table.trigger>` (trigger names are unique per
/// table, not per schema).
pub fn apply_triggers(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<(), CollectError> {
    for row in rows {
        let namespace: String = get(row, "schema", target)?;
        let table: String = get(row, "table_name", target)?;
        let table_key = qualified(&namespace, &table);
        if schema.relation_mut(&table_key).is_none() {
            continue;
        }
        let name: String = get(row, "name", target)?;
        let mut leaf = Node::map();
        leaf.insert("table", table_key.clone());
        leaf.insert("definition", get::<String>(row, "definition", target)?);
        leaf.insert("enabled", enabled(&get::<String>(row, "enabled", target)?));
        schema.triggers.insert(format!("{table_key}.{name}"), leaf);
    }
    debug!(triggers = rows.len(), "Read triggers.");
    Ok(())
}

fn command(code: &str) -> &'static str {
    match code {
        "r" => "SELECT",
        "a" => "INSERT",
        "w" => "UPDATE",
        "d" => "DELETE",
        _ => "ALL",
    }
}

/// Reads row-level security policies onto their tables.
pub fn apply_policies(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<(), CollectError> {
    for row in rows {
        let namespace: String = get(row, "schema", target)?;
        let table: String = get(row, "table_name", target)?;
        let Some(node) = schema.table_mut(&qualified(&namespace, &table)) else {
            continue;
        };
        let mut leaf = Node::map();
        leaf.insert("command", command(&get::<String>(row, "command", target)?));
        leaf.insert("permissive", get::<bool>(row, "permissive", target)?);
        leaf.insert("roles", get::<Vec<String>>(row, "roles", target)?);
        leaf.insert("using", get::<Option<String>>(row, "using_expr", target)?);
        leaf.insert(
            "with_check",
            get::<Option<String>>(row, "check_expr", target)?,
        );
        node.entry("policies")
            .insert(get::<String>(row, "name", target)?, leaf);
    }
    debug!(policies = rows.len(), "Read policies.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_sql_words() {
        assert_eq!(action("a"), "NO ACTION");
        assert_eq!(action("r"), "RESTRICT");
        assert_eq!(action("n"), "SET NULL");
        assert_eq!(match_type("s"), "SIMPLE");
        assert_eq!(constraint_type("x"), "exclusion");
        assert_eq!(enabled("O"), "enabled");
        assert_eq!(command("*"), "ALL");
        assert_eq!(
            foreign_key_identity(
                &["a".into(), "b".into()],
                "public.p",
                &["x".into(), "y".into()]
            ),
            "(a,b)->public.p(x,y)"
        );
    }
}
