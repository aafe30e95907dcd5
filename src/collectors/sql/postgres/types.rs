//! Schemas (one query), user-defined types — enums, domains, composite and range types — (one
//! query) and installed extensions (one query).

use tracing::debug;

use super::schema::{qualified, Schema};
use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::CollectError;
use crate::snapshot::Node;

pub const SCHEMAS: &str = concat!(
    "SELECT n.nspname::text AS name, pg_catalog.pg_get_userbyid(n.nspowner)::text AS owner,",
    " d.description AS comment",
    " FROM pg_catalog.pg_namespace n",
    " LEFT JOIN pg_catalog.pg_description d ON d.objoid = n.oid",
    "   AND d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.objsubid = 0",
    " WHERE",
    user_namespace!("n"),
    "AND",
    not_extension_member!("pg_namespace", "n.oid")
);

/// Enums, domains, composite types (not the row types of tables) and range types; array and
/// multirange types follow their element type and are not listed.
pub const TYPES: &str = concat!(
    "SELECT n.nspname::text AS schema, t.typname::text AS name, t.typtype::text AS kind,",
    " ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid",
    "   ORDER BY e.enumsortorder) AS labels,",
    " CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END AS base_type,",
    " t.typnotnull AS not_null, t.typdefault AS default_value,",
    " ARRAY(SELECT k.conname::text FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid",
    "   ORDER BY k.conname) AS check_names,",
    " ARRAY(SELECT pg_catalog.pg_get_constraintdef(k.oid, true) FROM pg_catalog.pg_constraint k",
    "   WHERE k.contypid = t.oid ORDER BY k.conname) AS check_definitions,",
    " ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.typrelid",
    "   AND t.typrelid <> 0 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS attribute_names,",
    " ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a",
    "   WHERE a.attrelid = t.typrelid AND t.typrelid <> 0 AND a.attnum > 0 AND NOT a.attisdropped",
    "   ORDER BY a.attnum) AS attribute_types,",
    " CASE WHEN t.typtype = 'r' THEN pg_catalog.format_type(r.rngsubtype, NULL) END AS subtype,",
    " pg_catalog.pg_get_userbyid(t.typowner)::text AS owner, d.description AS comment",
    " FROM pg_catalog.pg_type t",
    " JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace",
    " LEFT JOIN pg_catalog.pg_class tc ON tc.oid = t.typrelid",
    " LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid",
    " LEFT JOIN pg_catalog.pg_description d ON d.objoid = t.oid",
    "   AND d.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objsubid = 0",
    " WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND tc.relkind = 'c')) AND",
    user_namespace!("n"),
    "AND",
    not_extension_member!("pg_type", "t.oid"),
    "AND",
    objects_filter!("(n.nspname || '.' || t.typname)")
);

pub const EXTENSIONS: &str = concat!(
    "SELECT e.extname::text AS name, e.extversion AS version, n.nspname::text AS schema",
    " FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
);

/// Reads schemas into `schema/schemas/<name>`. Called after every object family, so that
/// with an include filter only schemas holding a collected object are listed.
pub fn apply_schemas(
    rows: &[PgRow],
    schema: &mut Schema,
    filtered: bool,
    target: &str,
) -> Result<(), CollectError> {
    for row in rows {
        let name: String = get(row, "name", target)?;
        if filtered && !schema.uses_schema(&name) {
            continue;
        }
        let mut node = Node::map();
        node.insert("owner", get::<String>(row, "owner", target)?);
        node.insert("comment", get::<Option<String>>(row, "comment", target)?);
        schema.schemas.insert(name, node);
    }
    debug!(schemas = rows.len(), "Read schemas.");
    Ok(())
}

/// Reads types into `schema/types/<schema.name>`.
pub fn apply_types(rows: &[PgRow], schema: &mut Schema, target: &str) -> Result<(), CollectError> {
    for row in rows {
        let namespace: String = get(row, "schema", target)?;
        let name: String = get(row, "name", target)?;
        let kind: String = get(row, "kind", target)?;
        let mut node = Node::map();
        match kind.as_str() {
            "e" => {
                node.insert("kind", "enum");
                node.insert("labels", get::<Vec<String>>(row, "labels", target)?);
            }
            "d" => {
                node.insert("kind", "domain");
                node.insert(
                    "base_type",
                    get::<Option<String>>(row, "base_type", target)?,
                );
                node.insert("nullable", !get::<bool>(row, "not_null", target)?);
                node.insert(
                    "default",
                    get::<Option<String>>(row, "default_value", target)?,
                );
                let names: Vec<String> = get(row, "check_names", target)?;
                let definitions: Vec<String> = get(row, "check_definitions", target)?;
                let mut checks = Node::map();
                for (name, definition) in names.into_iter().zip(definitions) {
                    checks.insert(name, definition);
                }
                node.insert("checks", checks);
            }
            "c" => {
                node.insert("kind", "composite");
                let names: Vec<String> = get(row, "attribute_names", target)?;
                let types: Vec<String> = get(row, "attribute_types", target)?;
                let mut attributes = Node::map();
                for (position, (name, type_name)) in names.into_iter().zip(types).enumerate() {
                    let mut attribute = Node::map();
                    attribute.insert("type", type_name);
                    attribute.insert("position", i64::try_from(position).unwrap_or(i64::MAX));
                    attributes.insert(name, attribute);
                }
                node.insert("attributes", attributes);
            }
            _ => {
                node.insert("kind", "range");
                node.insert("subtype", get::<Option<String>>(row, "subtype", target)?);
            }
        }
        node.insert("owner", get::<String>(row, "owner", target)?);
        node.insert("comment", get::<Option<String>>(row, "comment", target)?);
        schema.types.insert(qualified(&namespace, &name), node);
    }
    debug!(types = rows.len(), "Read types.");
    Ok(())
}

/// Reads extensions into `schema/extensions/<name>` with their version and schema.
pub fn apply_extensions(
    rows: &[PgRow],
    schema: &mut Schema,
    target: &str,
) -> Result<(), CollectError> {
    for row in rows {
        let mut node = Node::map();
        node.insert("version", get::<String>(row, "version", target)?);
        node.insert("schema", get::<String>(row, "schema", target)?);
        schema
            .extensions
            .insert(get::<String>(row, "name", target)?, node);
    }
    Ok(())
}
