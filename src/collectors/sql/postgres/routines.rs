//! Functions, procedures and aggregates (one query), keyed by identity signature so overloads
//! are distinct objects.

use tracing::debug;

use super::schema::Schema;
use crate::collectors::sql::normalize_definition;
use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::CollectError;
use crate::snapshot::Node;

/// `pg_get_functiondef` refuses aggregates, so they get their signature and result only.
pub const FUNCTIONS: &str = concat!(
    "SELECT n.nspname::text AS schema, p.proname::text AS name,",
    " pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments, p.prokind::text AS kind,",
    " CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition,",
    " pg_catalog.pg_get_function_result(p.oid) AS result,",
    " pg_catalog.pg_get_userbyid(p.proowner)::text AS owner, d.description AS comment",
    " FROM pg_catalog.pg_proc p",
    " JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace",
    " LEFT JOIN pg_catalog.pg_description d ON d.objoid = p.oid",
    "   AND d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objsubid = 0",
    " WHERE",
    user_namespace!("n"),
    "AND",
    not_extension_member!("pg_proc", "p.oid"),
    // Constructors PostgreSQL generates for range and multirange types depend on the type
    // internally ('i'): the type's entry covers them.
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend idep",
    " WHERE idep.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND idep.objid = p.oid",
    " AND idep.deptype = 'i') AND",
    objects_filter!("(n.nspname || '.' || p.proname)")
);

fn kind(code: &str) -> &'static str {
    match code {
        "p" => "procedure",
        "a" => "aggregate",
        "w" => "window",
        _ => "function",
    }
}

/// Reads routines into `schema/functions/<schema.name(arguments)>`.
pub fn apply(rows: &[PgRow], schema: &mut Schema, target: &str) -> Result<(), CollectError> {
    for row in rows {
        let namespace: String = get(row, "schema", target)?;
        let name: String = get(row, "name", target)?;
        let arguments: String = get(row, "arguments", target)?;
        let definition: Option<String> = get(row, "definition", target)?;
        let mut node = Node::map();
        node.insert("kind", kind(&get::<String>(row, "kind", target)?));
        node.insert("result", get::<Option<String>>(row, "result", target)?);
        node.insert("definition", definition.map(|d| normalize_definition(&d)));
        node.insert("owner", get::<String>(row, "owner", target)?);
        node.insert("comment", get::<Option<String>>(row, "comment", target)?);
        schema
            .functions
            .insert(format!("{namespace}.{name}({arguments})"), node);
    }
    debug!(functions = rows.len(), "Read functions.");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn kinds_are_named() {
        assert_eq!(super::kind("f"), "function");
        assert_eq!(super::kind("p"), "procedure");
        assert_eq!(super::kind("a"), "aggregate");
    }
}
