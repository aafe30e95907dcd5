//! `--format json`: one object, `{"pairs": [...]}`, stable field names.

use super::CheckReport;

/// Pretty-printed JSON of the report.
pub fn render(report: &CheckReport) -> String {
    let mut text =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}
