//! SQL collectors. Every engine emits the same subtree shape (see docs/architecture.md).

pub mod migrations;
pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod sqlite_ddl;

/// A definition (view, trigger, function body) with `\n` line endings, no trailing blanks per
/// line and one final newline, so bodies from any engine diff line by line.
pub fn normalize_definition(sql: &str) -> String {
    let unified = sql.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = unified
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out.push('\n');
    out
}
