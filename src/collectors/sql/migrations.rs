//! Applied-migration tables of common tools → `migrations/<tool>/<id>` leaves.
//!
//! Pure: engines find which of these tables exist, run [`select_sql`] in their dialect and hand
//! the rows (as text) to [`build`]. A migration applied on one side only, or applied with another
//! checksum, is then an ordinary added/removed/changed path naming its version and name.

use crate::snapshot::Node;

/// A migration tool's bookkeeping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// Name used in paths (`migrations/<name>/…`).
    pub name: &'static str,
    /// Table name (unqualified; matched case-insensitively).
    pub table: &'static str,
    /// Columns joined with `_` to identify one migration.
    pub id: &'static [&'static str],
    /// Checksum column, if the tool records one.
    pub checksum: Option<&'static str>,
    /// Whether the checksum is binary (rendered as hex by the engine).
    pub checksum_binary: bool,
    /// Success flag column, if the tool records one.
    pub success: Option<&'static str>,
    /// Column giving the order applied (later rows win for a repeated id).
    pub order_by: Option<&'static str>,
}

const fn tool(name: &'static str, table: &'static str, id: &'static [&'static str]) -> Tool {
    Tool {
        name,
        table,
        id,
        checksum: None,
        checksum_binary: false,
        success: None,
        order_by: None,
    }
}

/// Every tool recognised, by table name.
pub const TOOLS: &[Tool] = &[
    Tool {
        checksum: Some("checksum"),
        checksum_binary: true,
        success: Some("success"),
        order_by: Some("version"),
        ..tool("sqlx", "_sqlx_migrations", &["version", "description"])
    },
    Tool {
        checksum: Some("checksum"),
        success: Some("success"),
        order_by: Some("installed_rank"),
        ..tool("flyway", "flyway_schema_history", &["script"])
    },
    Tool {
        checksum: Some("md5sum"),
        order_by: Some("orderexecuted"),
        ..tool(
            "liquibase",
            "databasechangelog",
            &["id", "author", "filename"],
        )
    },
    // Rails/ActiveRecord, Ecto and golang-migrate share this table name and its version column.
    tool("schema_migrations", "schema_migrations", &["version"]),
    tool("alembic", "alembic_version", &["version_num"]),
    Tool {
        order_by: Some("id"),
        ..tool("django", "django_migrations", &["app", "name"])
    },
    Tool {
        checksum: Some("checksum"),
        ..tool("prisma", "_prisma_migrations", &["migration_name"])
    },
    Tool {
        order_by: Some("id"),
        ..tool("knex", "knex_migrations", &["name"])
    },
    tool("diesel", "__diesel_schema_migrations", &["version"]),
    Tool {
        success: Some("is_applied"),
        order_by: Some("id"),
        ..tool("goose", "goose_db_version", &["version_id"])
    },
];

/// The tool whose table is `table` (unqualified, any case).
pub fn find(table: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.table.eq_ignore_ascii_case(table))
}

/// Whether a table is migration bookkeeping (reported under `migrations/`, not `schema/`).
pub fn is_migration_table(table: &str) -> bool {
    find(table).is_some()
}

/// The columns [`build`] expects, in order: id columns, then checksum, then success.
pub fn columns(tool: &Tool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = tool.id.to_vec();
    out.extend(tool.checksum);
    out.extend(tool.success);
    out
}

/// A `SELECT` of the tool's columns as text from `qualified_table`. The engine supplies how to
/// quote an identifier and how to render a column as text (and a binary column as hex).
pub fn select_sql(
    tool: &Tool,
    qualified_table: &str,
    quote: &dyn Fn(&str) -> String,
    as_text: &dyn Fn(&str, bool) -> String,
) -> String {
    let exprs: Vec<String> = columns(tool)
        .iter()
        .map(|c| as_text(&quote(c), Some(*c) == tool.checksum && tool.checksum_binary))
        .collect();
    let order = tool.order_by.map_or_else(
        || {
            tool.id
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        },
        quote,
    );
    format!(
        "SELECT {} FROM {qualified_table} ORDER BY {order}",
        exprs.join(", ")
    )
}

/// The subtree for one tool from its rows (each row: [`columns`] in order, as text).
pub fn build(tool: &Tool, rows: Vec<Vec<Option<String>>>) -> Node {
    let mut out = Node::map();
    for row in rows {
        let mut values = row.into_iter();
        let id: Vec<String> = values
            .by_ref()
            .take(tool.id.len())
            .flatten()
            .filter(|v| !v.is_empty())
            .collect();
        if id.is_empty() {
            continue;
        }
        let checksum = tool.checksum.map(|_| values.next().flatten());
        let success = tool.success.map(|_| values.next().flatten());
        let value = if checksum.is_none() && success.is_none() {
            Node::Bool(true)
        } else {
            let mut entry = Node::map();
            if let Some(checksum) = checksum {
                entry.insert(
                    "checksum",
                    Node::from(checksum.map(|c| c.to_ascii_lowercase())),
                );
            }
            if let Some(success) = success {
                entry.insert("success", Node::from(success.map(|s| truthy(&s))));
            }
            entry
        };
        out.insert(id.join("_"), value);
    }
    out
}

fn truthy(text: &str) -> bool {
    matches!(
        text.to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "yes" | "y"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn sqlx_rows_become_version_and_name_with_checksum_and_success() {
        let tool = find("_SQLX_MIGRATIONS").unwrap();
        let rows = vec![
            text(&[
                Some("20240101000000"),
                Some("create users"),
                Some("AB12"),
                Some("1"),
            ]),
            text(&[
                Some("20240201000000"),
                Some("add index"),
                Some("cd34"),
                Some("false"),
            ]),
        ];
        let tree = build(tool, rows);
        assert_eq!(
            tree.to_string(),
            r#"{"20240101000000_create users":{"checksum":"ab12","success":true},"20240201000000_add index":{"checksum":"cd34","success":false}}"#
        );
    }

    #[test]
    fn tools_without_checksums_give_presence_leaves_and_later_rows_win() {
        let tool = find("schema_migrations").unwrap();
        let tree = build(
            tool,
            vec![
                text(&[Some("20240101")]),
                text(&[None]),
                text(&[Some("20240102")]),
            ],
        );
        assert_eq!(tree.to_string(), r#"{"20240101":true,"20240102":true}"#);
        let flyway = find("flyway_schema_history").unwrap();
        let tree = build(
            flyway,
            vec![
                text(&[Some("R__views.sql"), Some("1"), Some("1")]),
                text(&[Some("R__views.sql"), Some("2"), Some("1")]),
            ],
        );
        assert_eq!(
            tree.to_string(),
            r#"{"R__views.sql":{"checksum":"2","success":true}}"#
        );
    }

    #[test]
    fn select_uses_the_engine_quoting_and_text_rendering() {
        let tool = find("_sqlx_migrations").unwrap();
        let sql = select_sql(
            tool,
            "\"public\".\"_sqlx_migrations\"",
            &|c| format!("\"{c}\""),
            &|c, binary| {
                if binary {
                    format!("encode({c}, 'hex')")
                } else {
                    format!("CAST({c} AS TEXT)")
                }
            },
        );
        assert_eq!(
            sql,
            "SELECT CAST(\"version\" AS TEXT), CAST(\"description\" AS TEXT), encode(\"checksum\", 'hex'), CAST(\"success\" AS TEXT) FROM \"public\".\"_sqlx_migrations\" ORDER BY \"version\""
        );
        assert!(is_migration_table("goose_db_version"));
        assert!(!is_migration_table("orders"));
    }
}
