//! Helpers shared by the collectors that read documents: located JSON parsing, RFC 6901
//! JSON pointers, and the rule that shapes any document root into a tree.
//!
//! A pointer such as `/propertySources/0/properties` picks the sub-document a source cares
//! about; `~1` stands for `/` and `~0` for `~` inside a reference token.
//!
//! Root rule: a tree's root is always a map, so a document whose root is a scalar or a list
//! becomes `{"document": root}` (its values stay addressable as `document/0`, ...).

use serde_json::Value;

use crate::collectors::CollectError;
use crate::snapshot::tree::MAX_DEPTH;
use crate::snapshot::{Node, Tree};

/// The key a non-map document root is stored under.
pub const DOCUMENT_KEY: &str = "document";

/// Shapes a converted document into a tree: maps stay, anything else becomes
/// `{"document": root}`.
pub fn root_map(root: Node) -> Tree {
    match root {
        Node::Map(_) => root,
        other => {
            let mut tree = Node::map();
            tree.insert(DOCUMENT_KEY, other);
            tree
        }
    }
}

/// The message for a document nested deeper than [`MAX_DEPTH`].
pub fn too_deep_message() -> String {
    format!("nested too deeply (more than {MAX_DEPTH} levels)")
}

/// A parse error for a serde_json failure, at its line and column, with an optional hint.
///
/// serde_json stops at its own recursion limit (128) with an error instead of overflowing
/// the stack; that error is reported as "nested too deeply".
pub fn json_error(err: &serde_json::Error, target: &str, hint: Option<&str>) -> CollectError {
    let text = err.to_string();
    let mut message = if text.starts_with("recursion limit exceeded") {
        too_deep_message()
    } else {
        // serde_json appends " at line L column C"; the location travels separately.
        match text.rfind(" at line ") {
            Some(pos) => text[..pos].to_string(),
            None => text,
        }
    };
    if let Some(hint) = hint {
        message.push_str(&format!(" (hint: {hint})"));
    }
    let (line, column) = match err.line() {
        0 => (None, None),
        line => (Some(line), Some(err.column().max(1))),
    };
    CollectError::parse(target, line, column, message)
}

/// Parses a JSON body, keeps the part `pointer` selects, and shapes it into a tree.
///
/// Syntax errors are parse errors (with `hint`); a pointer that matches nothing is a query
/// error.
pub fn json_tree(
    bytes: &[u8],
    target: &str,
    pointer: Option<&str>,
    hint: &str,
) -> Result<Tree, CollectError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|err| json_error(&err, target, Some(hint)))?;
    let value = match pointer {
        Some(pointer) => {
            select(value, pointer).map_err(|err| CollectError::query(target, err.to_string()))?
        }
        None => value,
    };
    let node = Node::from_json(value)
        .map_err(|_| CollectError::parse(target, None, None, too_deep_message()))?;
    Ok(root_map(node))
}

/// Why a pointer could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// The pointer text is not a valid RFC 6901 pointer.
    #[error("invalid JSON pointer {pointer:?}: {reason}")]
    Invalid {
        /// The pointer given.
        pointer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The pointer is valid but the document has nothing there.
    #[error("JSON pointer {pointer:?} not found: {reason}")]
    NotFound {
        /// The pointer given.
        pointer: String,
        /// Where the walk stopped and why.
        reason: String,
    },
}

/// Splits a pointer into its unescaped reference tokens (`""` is the whole document).
pub fn tokens(pointer: &str) -> Result<Vec<String>, PointerError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |reason: &str| PointerError::Invalid {
        pointer: pointer.to_string(),
        reason: reason.to_string(),
    };
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| invalid("it must be empty or start with '/'"))?;
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(invalid("'~' must be followed by '0' or '1'")),
                }
            }
            Ok(out)
        })
        .collect()
}

/// Takes the value `pointer` designates out of `document`, without copying it.
pub fn select(document: Value, pointer: &str) -> Result<Value, PointerError> {
    let tokens = tokens(pointer)?;
    let mut current = document;
    let mut walked = String::new();
    for token in tokens {
        let not_found = |reason: String| PointerError::NotFound {
            pointer: pointer.to_string(),
            reason,
        };
        let at = if walked.is_empty() {
            "the document root".to_string()
        } else {
            walked.clone()
        };
        current = match current {
            Value::Object(mut map) => match map.remove(&token) {
                Some(value) => value,
                None => return Err(not_found(format!("{at} has no key {token:?}"))),
            },
            Value::Array(mut items) => {
                let len = items.len();
                match array_index(&token) {
                    Some(i) if i < len => items.swap_remove(i),
                    Some(_) => {
                        return Err(not_found(format!(
                            "{at} is a list of {len} item{}",
                            if len == 1 { "" } else { "s" }
                        )))
                    }
                    None => {
                        return Err(not_found(format!(
                            "{at} is a list and {token:?} is not an index"
                        )))
                    }
                }
            }
            other => {
                return Err(not_found(format!(
                    "{at} is a {}, not a map or list",
                    kind(&other)
                )))
            }
        };
        walked.push('/');
        walked.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    Ok(current)
}

/// An RFC 6901 array index: `0` or digits without a leading zero.
fn array_index(token: &str) -> Option<usize> {
    let digits_only = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_map_roots_are_kept_under_document() {
        let tree = json_tree(b"[1, 2]", "t", None, "h").unwrap();
        assert_eq!(tree.to_string(), r#"{"document":[1,2]}"#);
        let tree = json_tree(br#"{"a": {"b": 3}}"#, "t", Some("/a/b"), "h").unwrap();
        assert_eq!(tree.to_string(), r#"{"document":3}"#);
        let tree = json_tree(br#"{"a": {"b": 3}}"#, "t", Some("/a"), "h").unwrap();
        assert_eq!(tree.to_string(), r#"{"b":3}"#);
    }

    #[test]
    fn json_errors_carry_line_column_and_hint() {
        let err = json_tree(b"{\n  \"a\": 1,\n  oops\n}", "svc", None, "not JSON").unwrap_err();
        match err {
            CollectError::Parse {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!(line, Some(3));
                assert_eq!(column, Some(3));
                assert!(message.ends_with("(hint: not JSON)"), "{message}");
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
        let deep = "[".repeat(100_000);
        let err = json_tree(deep.as_bytes(), "svc", None, "h").unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
        let err = json_tree(b"{}", "svc", Some("/x"), "h").unwrap_err();
        assert_eq!(err.reason(), "query");
    }

    #[test]
    fn pointers_walk_maps_and_lists_and_unescape_tokens() {
        let doc = json!({"a/b": {"~x": [10, 20, {"deep": true}]}});
        assert_eq!(select(doc.clone(), "").unwrap(), doc);
        assert_eq!(select(doc.clone(), "/a~1b/~0x/1").unwrap(), json!(20));
        assert_eq!(select(doc, "/a~1b/~0x/2").unwrap(), json!({"deep": true}));
    }

    #[test]
    fn missing_targets_say_where_the_walk_stopped() {
        let doc = json!({"sources": [{"p": 1}]});
        let err = select(doc.clone(), "/sources/3/p").unwrap_err();
        assert_eq!(
            err.to_string(),
            "JSON pointer \"/sources/3/p\" not found: /sources is a list of 1 item"
        );
        let err = select(doc.clone(), "/nope").unwrap_err();
        assert!(
            err.to_string().contains("the document root has no key"),
            "{err}"
        );
        let err = select(doc.clone(), "/sources/01").unwrap_err();
        assert!(matches!(err, PointerError::NotFound { .. }));
        let err = select(doc, "/sources/0/p/x").unwrap_err();
        assert!(err.to_string().contains("is a number"), "{err}");
    }

    #[test]
    fn malformed_pointers_are_rejected() {
        assert!(matches!(
            tokens("sources"),
            Err(PointerError::Invalid { .. })
        ));
        assert!(matches!(tokens("/a~2"), Err(PointerError::Invalid { .. })));
        assert_eq!(tokens("/").unwrap(), vec![String::new()]);
    }
}
