//! ③ Two canonical trees → the raw changes between them. Pure; knows nothing of databases.
//!
//! A subtree present on one side only is one change at its root (a dropped index is one change,
//! not one per attribute). Lists are compared by index.

pub mod text;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::snapshot::{Node, Path, Tree};

/// What happened at a path, read from baseline to candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Present in the candidate only.
    Added,
    /// Present in the baseline only.
    Removed,
    /// Present in both with different values.
    Changed,
    /// Equal on both sides (only reported when a rule demands a difference).
    Unchanged,
}

impl ChangeKind {
    /// The lower-case name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One raw difference between two trees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Where the trees differ.
    pub path: Path,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The baseline's value (absent when added).
    pub baseline: Option<Node>,
    /// The candidate's value (absent when removed).
    pub candidate: Option<Node>,
}

impl Change {
    /// A unified diff when both sides are multi-line text (SQL definitions, scripts).
    pub fn text_diff(&self) -> Option<String> {
        match (self.baseline.as_ref()?, self.candidate.as_ref()?) {
            (Node::Str(a), Node::Str(b)) if a.contains('\n') || b.contains('\n') => {
                Some(text::unified(a, b))
            }
            _ => None,
        }
    }
}

/// All changes from `baseline` to `candidate`, in path order.
pub fn diff(baseline: &Tree, candidate: &Tree) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_at(&Path::root(), baseline, candidate, &mut changes);
    changes
}

fn diff_at(path: &Path, a: &Node, b: &Node, out: &mut Vec<Change>) {
    match (a, b) {
        (Node::Map(ma), Node::Map(mb)) => {
            let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for key in keys {
                let child = path.child(key.clone());
                match (ma.get(key), mb.get(key)) {
                    (Some(x), Some(y)) => diff_at(&child, x, y, out),
                    (Some(x), None) => out.push(removed(child, x)),
                    (None, Some(y)) => out.push(added(child, y)),
                    (None, None) => {}
                }
            }
        }
        (Node::List(la), Node::List(lb)) => {
            for i in 0..la.len().max(lb.len()) {
                let child = path.child(i.to_string());
                match (la.get(i), lb.get(i)) {
                    (Some(x), Some(y)) => diff_at(&child, x, y, out),
                    (Some(x), None) => out.push(removed(child, x)),
                    (None, Some(y)) => out.push(added(child, y)),
                    (None, None) => {}
                }
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(Change {
            path: path.clone(),
            kind: ChangeKind::Changed,
            baseline: Some(x.clone()),
            candidate: Some(y.clone()),
        }),
    }
}

fn added(path: Path, node: &Node) -> Change {
    Change {
        path,
        kind: ChangeKind::Added,
        baseline: None,
        candidate: Some(node.clone()),
    }
}

fn removed(path: Path, node: &Node) -> Change {
    Change {
        path,
        kind: ChangeKind::Removed,
        baseline: Some(node.clone()),
        candidate: None,
    }
}

/// Applies `changes` (as produced by [`diff`] from `tree`) to `tree`, giving the candidate.
/// Used to check the engine: `apply(a, diff(a, b)) == b`.
pub fn apply(tree: &Tree, changes: &[Change]) -> Tree {
    let mut out = tree.clone();
    // Removals of list items go last-first so indices stay valid.
    for change in changes.iter().rev() {
        if change.kind == ChangeKind::Removed {
            remove_at(&mut out, change.path.segments());
        }
    }
    for change in changes {
        if let Some(value) = &change.candidate {
            if change.kind != ChangeKind::Removed {
                set_at(&mut out, change.path.segments(), value.clone());
            }
        }
    }
    out
}

fn set_at(node: &mut Node, segments: &[String], value: Node) {
    let Some((first, rest)) = segments.split_first() else {
        *node = value;
        return;
    };
    match node {
        Node::Map(map) => {
            let child = map.entry(first.clone()).or_insert(Node::Null);
            set_at(child, rest, value);
        }
        Node::List(items) => {
            if let Ok(i) = first.parse::<usize>() {
                if i == items.len() {
                    items.push(Node::Null);
                }
                if let Some(child) = items.get_mut(i) {
                    set_at(child, rest, value);
                }
            }
        }
        _ => {}
    }
}

fn remove_at(node: &mut Node, segments: &[String]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match node {
        Node::Map(map) if rest.is_empty() => {
            map.remove(first);
        }
        Node::Map(map) => {
            if let Some(child) = map.get_mut(first) {
                remove_at(child, rest);
            }
        }
        Node::List(items) => {
            if let Ok(i) = first.parse::<usize>() {
                if rest.is_empty() && i < items.len() {
                    items.remove(i);
                } else if let Some(child) = items.get_mut(i) {
                    remove_at(child, rest);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(value: serde_json::Value) -> Tree {
        Node::from_json(value).unwrap()
    }

    fn summary(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.kind, c.path))
            .collect()
    }

    #[test]
    fn equal_trees_have_no_changes() {
        let a = tree(json!({"x": {"y": [1, 2]}, "z": "t"}));
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn dropped_subtree_is_one_removed_change() {
        let a =
            tree(json!({"indexes": {"idx_a": {"unique": true, "columns": ["a"]}, "idx_b": {}}}));
        let b = tree(json!({"indexes": {"idx_b": {}}}));
        let changes = diff(&a, &b);
        assert_eq!(summary(&changes), ["removed indexes/idx_a"]);
        assert_eq!(changes[0].baseline.as_ref().unwrap().leaf_count(), 2);
    }

    #[test]
    fn added_changed_and_list_tail_are_reported_in_path_order() {
        let a = tree(json!({"a": 1, "l": [1, 2, 3], "t": "x"}));
        let b = tree(json!({"a": 2, "l": [1, 2], "n": null, "t": {"x": 1}}));
        assert_eq!(
            summary(&diff(&a, &b)),
            ["changed a", "removed l/2", "added n", "changed t"]
        );
    }

    #[test]
    fn multi_line_text_changes_carry_a_unified_diff() {
        let a = tree(json!({"v": "SELECT a\nFROM t\nWHERE x = 1\n"}));
        let b = tree(json!({"v": "SELECT a\nFROM t\nWHERE x = 2\n"}));
        let change = &diff(&a, &b)[0];
        let text = change.text_diff().unwrap();
        assert!(
            text.contains("-WHERE x = 1") && text.contains("+WHERE x = 2"),
            "{text}"
        );
    }

    #[test]
    fn applying_a_diff_gives_the_candidate() {
        let a = tree(json!({"a": 1, "l": [1, 2, 3, 4], "m": {"k": "v"}, "gone": true}));
        let b = tree(json!({"a": 2, "l": [1, 9], "m": {"k": "v", "new": [1]}, "n": null}));
        assert_eq!(apply(&a, &diff(&a, &b)), b);
        assert_eq!(apply(&b, &diff(&b, &a)), a);
    }
}
