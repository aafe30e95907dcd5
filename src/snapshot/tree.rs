//! The canonical tree every collector emits: nested maps with sorted keys, lists, scalar leaves.
//!
//! One shape for schema, rows, settings and config means one diff engine and one rule language.
//! Knows nothing about where a tree came from.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::path::Path;

/// A node of a canonical tree. Maps keep their keys sorted, so equal content is equal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Node {
    /// An explicit null (a column without a default, a YAML `~`).
    Null,
    /// A boolean leaf.
    Bool(bool),
    /// An integer leaf.
    Int(i64),
    /// A floating-point leaf.
    Float(f64),
    /// A string leaf; strings with newlines (SQL text) get unified diffs.
    Str(String),
    /// An ordered list, addressed by index.
    List(Vec<Node>),
    /// A map with sorted keys.
    Map(BTreeMap<String, Node>),
}

/// A whole canonical tree: its root is always a map.
pub type Tree = Node;

/// Deepest nesting accepted when converting foreign documents, so hostile input cannot
/// exhaust the stack of the recursive stages that follow.
pub const MAX_DEPTH: usize = 128;

/// A document nested deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("document is nested deeper than {MAX_DEPTH} levels")]
pub struct TooDeep;

impl Default for Node {
    fn default() -> Self {
        Node::Map(BTreeMap::new())
    }
}

impl Node {
    /// An empty map.
    pub fn map() -> Self {
        Node::Map(BTreeMap::new())
    }

    /// A string leaf.
    pub fn str(value: impl Into<String>) -> Self {
        Node::Str(value.into())
    }

    /// Whether this node is a scalar (not a map or list).
    pub fn is_leaf(&self) -> bool {
        !matches!(self, Node::Map(_) | Node::List(_))
    }

    /// The node's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "bool",
            Node::Int(_) => "int",
            Node::Float(_) => "float",
            Node::Str(_) => "string",
            Node::List(_) => "list",
            Node::Map(_) => "map",
        }
    }

    /// The numeric value of a number leaf.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Node::Int(i) => Some(*i as f64),
            Node::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The text of a string leaf.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Inserts `value` under `key` of a map node; a no-op on other nodes.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Node>) {
        if let Node::Map(map) = self {
            map.insert(key.into(), value.into());
        }
    }

    /// The map entry for `key`, created as an empty map if missing (builder helper).
    pub fn entry(&mut self, key: &str) -> &mut Node {
        if !matches!(self, Node::Map(_)) {
            *self = Node::map();
        }
        match self {
            Node::Map(map) => map.entry(key.to_string()).or_insert_with(Node::map),
            _ => unreachable!("made a map above"),
        }
    }

    /// The node at `path`, if present.
    pub fn get(&self, path: &Path) -> Option<&Node> {
        let mut node = self;
        for segment in path.segments() {
            node = match node {
                Node::Map(map) => map.get(segment)?,
                Node::List(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Every scalar leaf with its path, in canonical order. Empty maps/lists count as leaves.
    pub fn leaves(&self) -> Vec<(Path, &Node)> {
        let mut out = Vec::new();
        self.walk(&Path::root(), &mut |path, node| {
            out.push((path.clone(), node))
        });
        out
    }

    /// Number of leaves (what `driftwarden_snapshot_leaves` reports).
    pub fn leaf_count(&self) -> usize {
        match self {
            Node::Map(map) if !map.is_empty() => map.values().map(Node::leaf_count).sum(),
            Node::List(items) if !items.is_empty() => items.iter().map(Node::leaf_count).sum(),
            _ => 1,
        }
    }

    fn walk<'a>(&'a self, path: &Path, visit: &mut dyn FnMut(&Path, &'a Node)) {
        match self {
            Node::Map(map) if !map.is_empty() => {
                for (key, child) in map {
                    child.walk(&path.child(key.clone()), visit);
                }
            }
            Node::List(items) if !items.is_empty() => {
                for (i, child) in items.iter().enumerate() {
                    child.walk(&path.child(i.to_string()), visit);
                }
            }
            _ => visit(path, self),
        }
    }

    /// Converts a JSON document, refusing nesting deeper than [`MAX_DEPTH`].
    pub fn from_json(value: serde_json::Value) -> Result<Self, TooDeep> {
        from_json_at(value, 0)
    }

    /// Converts a YAML document (non-string keys become their YAML text).
    pub fn from_yaml(value: serde_yaml_ng::Value) -> Result<Self, TooDeep> {
        from_yaml_at(value, 0)
    }

    /// Converts a TOML document (dates become their RFC 3339 text).
    pub fn from_toml(value: toml::Value) -> Result<Self, TooDeep> {
        from_toml_at(value, 0)
    }
}

fn check_depth(depth: usize) -> Result<usize, TooDeep> {
    if depth >= MAX_DEPTH {
        Err(TooDeep)
    } else {
        Ok(depth + 1)
    }
}

fn number(n: &serde_json::Number) -> Node {
    match n.as_i64() {
        Some(i) => Node::Int(i),
        None => float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// JSON cannot carry NaN or infinities, so those leaves are kept as their text.
fn float(f: f64) -> Node {
    if f.is_finite() {
        Node::Float(f)
    } else {
        Node::Str(f.to_string())
    }
}

fn from_json_at(value: serde_json::Value, depth: usize) -> Result<Node, TooDeep> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => Node::Null,
        J::Bool(b) => Node::Bool(b),
        J::Number(n) => number(&n),
        J::String(s) => Node::Str(s),
        J::Array(items) => {
            let depth = check_depth(depth)?;
            Node::List(
                items
                    .into_iter()
                    .map(|v| from_json_at(v, depth))
                    .collect::<Result<_, _>>()?,
            )
        }
        J::Object(map) => {
            let depth = check_depth(depth)?;
            Node::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((k, from_json_at(v, depth)?)))
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

fn yaml_key(key: serde_yaml_ng::Value) -> String {
    use serde_yaml_ng::Value as Y;
    match key {
        Y::String(s) => s,
        Y::Null => "null".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        other => serde_yaml_ng::to_string(&other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

fn from_yaml_at(value: serde_yaml_ng::Value, depth: usize) -> Result<Node, TooDeep> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Node::Null,
        Y::Bool(b) => Node::Bool(b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i),
            None => float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Y::String(s) => Node::Str(s),
        Y::Sequence(items) => {
            let depth = check_depth(depth)?;
            Node::List(
                items
                    .into_iter()
                    .map(|v| from_yaml_at(v, depth))
                    .collect::<Result<_, _>>()?,
            )
        }
        Y::Mapping(map) => {
            let depth = check_depth(depth)?;
            Node::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((yaml_key(k), from_yaml_at(v, depth)?)))
                    .collect::<Result<_, _>>()?,
            )
        }
        Y::Tagged(tagged) => from_yaml_at(tagged.value, depth)?,
    })
}

fn from_toml_at(value: toml::Value, depth: usize) -> Result<Node, TooDeep> {
    use toml::Value as T;
    Ok(match value {
        T::String(s) => Node::Str(s),
        T::Integer(i) => Node::Int(i),
        T::Float(f) => float(f),
        T::Boolean(b) => Node::Bool(b),
        T::Datetime(d) => Node::Str(d.to_string()),
        T::Array(items) => {
            let depth = check_depth(depth)?;
            Node::List(
                items
                    .into_iter()
                    .map(|v| from_toml_at(v, depth))
                    .collect::<Result<_, _>>()?,
            )
        }
        T::Table(map) => {
            let depth = check_depth(depth)?;
            Node::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((k, from_toml_at(v, depth)?)))
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

impl From<bool> for Node {
    fn from(value: bool) -> Self {
        Node::Bool(value)
    }
}

impl From<i64> for Node {
    fn from(value: i64) -> Self {
        Node::Int(value)
    }
}

impl From<&str> for Node {
    fn from(value: &str) -> Self {
        Node::Str(value.to_string())
    }
}

impl From<String> for Node {
    fn from(value: String) -> Self {
        Node::Str(value)
    }
}

impl<T: Into<Node>> From<Option<T>> for Node {
    fn from(value: Option<T>) -> Self {
        value.map_or(Node::Null, Into::into)
    }
}

impl<T: Into<Node>> From<Vec<T>> for Node {
    fn from(value: Vec<T>) -> Self {
        Node::List(value.into_iter().map(Into::into).collect())
    }
}

/// Leaves print as compact JSON (`"text"`, `42`, `null`); maps and lists as compact JSON too.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(text) => f.write_str(&text),
            Err(_) => f.write_str("<unprintable>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_become_sorted_maps_and_arrays_lists() {
        let node = Node::from_json(serde_json::json!({"b": [1, 2.5, "x"], "a": null})).unwrap();
        assert_eq!(node.to_string(), r#"{"a":null,"b":[1,2.5,"x"]}"#);
        let leaves: Vec<String> = node.leaves().iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(leaves, ["a", "b/0", "b/1", "b/2"]);
        assert_eq!(
            node.get(&Path::parse("b/1").unwrap()),
            Some(&Node::Float(2.5))
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut value = serde_json::json!(1);
        for _ in 0..(MAX_DEPTH + 5) {
            value = serde_json::Value::Array(vec![value]);
        }
        assert!(Node::from_json(value).is_err());
        let mut shallow = serde_json::json!(1);
        for _ in 0..(MAX_DEPTH - 1) {
            shallow = serde_json::Value::Array(vec![shallow]);
        }
        assert!(Node::from_json(shallow).is_ok());
    }

    #[test]
    fn untagged_round_trip_keeps_types() {
        let node =
            Node::from_json(serde_json::json!({"i": 1, "f": 1.0, "s": "1", "b": true})).unwrap();
        let back: Node = serde_json::from_str(&node.to_string()).unwrap();
        assert_eq!(back, node);
    }
}
