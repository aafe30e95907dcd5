//! Privileges on schemas and relations per grantee role (one query over `aclexplode`).
//!
//! A NULL ACL means the built-in defaults (the owner holds everything); it is expanded with
//! `acldefault`, so "never granted" and "granted exactly the defaults" read the same.

use std::collections::BTreeMap;

use tracing::debug;

use super::schema::{qualified, Schema};
use sqlx::postgres::PgRow;

use super::session::get;
use crate::collectors::CollectError;
use crate::snapshot::Node;

pub const PRIVILEGES: &str = concat!(
    "SELECT 'schema' AS object, n.nspname::text AS schema, ''::text AS name, g.grantee, g.privileges, g.grantable",
    " FROM pg_catalog.pg_namespace n,",
    " LATERAL (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END AS grantee,",
    "   pg_catalog.array_agg(a.privilege_type ORDER BY a.privilege_type) AS privileges,",
    "   pg_catalog.array_agg(a.is_grantable ORDER BY a.privilege_type) AS grantable",
    "   FROM pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a",
    "   GROUP BY 1) g",
    " WHERE",
    user_namespace!("n"),
    "UNION ALL",
    " SELECT 'relation', n.nspname::text, c.relname::text, g.grantee, g.privileges, g.grantable",
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,",
    " LATERAL (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END AS grantee,",
    "   pg_catalog.array_agg(a.privilege_type ORDER BY a.privilege_type) AS privileges,",
    "   pg_catalog.array_agg(a.is_grantable ORDER BY a.privilege_type) AS grantable",
    "   FROM pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault(",
    "     CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))) a",
    "   GROUP BY 1) g",
    " WHERE",
    collected_relation!()
);

/// Reads privileges into `…/privileges/<role>/<PRIVILEGE>` of collected schemas and relations;
/// the leaf says whether the role may grant it on (`WITH GRANT OPTION`).
pub fn apply(rows: &[PgRow], schema: &mut Schema, target: &str) -> Result<(), CollectError> {
    let mut schemas: BTreeMap<String, Node> = BTreeMap::new();
    for row in rows {
        let object: String = get(row, "object", target)?;
        let namespace: String = get(row, "schema", target)?;
        let grantee: String = get(row, "grantee", target)?;
        let names: Vec<String> = get(row, "privileges", target)?;
        let grantable: Vec<bool> = get(row, "grantable", target)?;
        let mut privileges = Node::map();
        for (name, grantable) in names.into_iter().zip(grantable) {
            privileges.insert(name, grantable);
        }
        if object == "schema" {
            schemas
                .entry(namespace)
                .or_insert_with(Node::map)
                .insert(grantee, privileges);
            continue;
        }
        let name: String = get(row, "name", target)?;
        if let Some(node) = schema.relation_mut(&qualified(&namespace, &name)) {
            node.entry("privileges").insert(grantee, privileges);
        }
    }
    if let Node::Map(collected) = &mut schema.schemas {
        for (name, node) in collected.iter_mut() {
            node.insert("privileges", schemas.remove(name).unwrap_or_default());
        }
    }
    debug!(grants = rows.len(), "Read privileges.");
    Ok(())
}
