//! `--format json`: one object, `{"pairs": [...]}`, stable field names; each pair carries its
//! verdict and, when known, the sign-off in force and what changed since.

use serde_json::{json, Value};

use super::{CheckReport, Context};

/// Pretty-printed JSON of the report.
pub fn render(report: &CheckReport, context: &Context) -> String {
    let pairs: Vec<Value> = report
        .pairs
        .iter()
        .map(|pair| {
            let mut value = serde_json::to_value(pair).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("verdict".into(), json!(pair.verdict(context.fail_on)));
                if let Some((signoff, since)) = context.signoffs.get(&pair.name) {
                    map.insert("signoff".into(), json!(signoff));
                    map.insert("changed_since_signoff".into(), json!(since));
                }
            }
            value
        })
        .collect();
    let body = json!({
        "generated_at": context.generated_at,
        "fail_on": context.fail_on,
        "pairs": pairs,
    });
    let mut text =
        serde_json::to_string_pretty(&body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}
