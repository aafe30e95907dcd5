//! Applied migrations: finds the bookkeeping tables of the tools that
//! [`crate::collectors::sql::migrations`] knows (one query), then reads each one found.
//!
//! Runs after the catalog transaction is over, so the locks these reads take are released at
//! once and a migration starting meanwhile is never queued behind the auditor.

use std::collections::BTreeMap;

use tracing::debug;

use super::session::{get, Session};
use crate::collectors::sql::migrations::{self, Tool};
use crate::collectors::CollectError;
use crate::snapshot::Node;

const MIGRATION_TABLES: &str = concat!(
    "SELECT n.nspname::text AS schema, c.relname::text AS name,",
    " pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS quoted,",
    " pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable",
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
    " WHERE c.relkind IN ('r', 'p', 'v') AND pg_catalog.lower(c.relname) = ANY ($1::text[]) AND",
    user_namespace!("n"),
    "ORDER BY 1, 2"
);

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn as_text(column: &str, binary: bool) -> String {
    if binary {
        format!("pg_catalog.encode({column}, 'hex')")
    } else {
        format!("CAST({column} AS text)")
    }
}

/// A found bookkeeping table.
struct Found {
    tool: &'static Tool,
    schema: String,
    quoted: String,
    readable: bool,
}

/// The `migrations/` node: one subtree per tool (`<tool>` when its table exists in one
/// schema, `<tool>@<schema>` for each when it exists in several), or `None` when no tool's
/// table exists.
pub async fn read(session: &mut Session) -> Result<Option<Node>, CollectError> {
    let names: Vec<String> = migrations::TOOLS
        .iter()
        .map(|t| t.table.to_string())
        .collect();
    let rows = session
        .with_names(MIGRATION_TABLES, names, "finding migration tables")
        .await?;
    let target = session.target().to_string();
    let target = target.as_str();
    let mut found = Vec::new();
    for row in &rows {
        let name: String = get(row, "name", target)?;
        let Some(tool) = migrations::find(&name) else {
            continue;
        };
        found.push(Found {
            tool,
            schema: get(row, "schema", target)?,
            quoted: get(row, "quoted", target)?,
            readable: get(row, "readable", target)?,
        });
    }
    if found.is_empty() {
        return Ok(None);
    }
    let mut per_tool: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &found {
        *per_tool.entry(f.tool.name).or_default() += 1;
    }
    let mut node = Node::map();
    for f in found {
        let key = if per_tool.get(f.tool.name).copied().unwrap_or(0) > 1 {
            format!("{}@{}", f.tool.name, f.schema)
        } else {
            f.tool.name.to_string()
        };
        let value = if f.readable {
            read_tool(session, &f).await?
        } else {
            // Shown as such (and so reported), rather than failing the whole collection.
            Node::str("error: permission denied (grant SELECT on the migration table)")
        };
        node.insert(key, value);
    }
    debug!(tools = ?per_tool, "Read applied migrations.");
    Ok(Some(node))
}

async fn read_tool(session: &mut Session, found: &Found) -> Result<Node, CollectError> {
    let sql = migrations::select_sql(found.tool, &found.quoted, &quote, &as_text);
    let what = format!("reading applied migrations ({})", found.quoted);
    let rows = session.dynamic(sql, &what).await?;
    let width = migrations::columns(found.tool).len();
    let mut values = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut row_values = Vec::with_capacity(width);
        for i in 0..width {
            let value: Option<String> = sqlx::Row::try_get(row, i)
                .map_err(|err| CollectError::query(session.target(), format!("{what}: {err}")))?;
            row_values.push(value);
        }
        values.push(row_values);
    }
    Ok(migrations::build(found.tool, values))
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_quoted_and_binary_checksums_hexed() {
        assert_eq!(super::quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            super::as_text("\"c\"", true),
            "pg_catalog.encode(\"c\", 'hex')"
        );
        assert_eq!(super::as_text("\"c\"", false), "CAST(\"c\" AS text)");
    }
}
