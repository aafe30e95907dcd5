//! The diff engine: `diff(a, a)` is empty, `apply(a, diff(a, b)) == b`, every change's values
//! are what the trees hold at its path, and changes come in path order without overlap.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Result, Unstructured};
use driftwarden::diff::{apply, diff, ChangeKind};
use driftwarden::snapshot::Node;
use libfuzzer_sys::fuzz_target;

/// A small key alphabet makes the two trees share keys, so diffs recurse instead of only
/// adding and removing whole subtrees; index-like, empty and escaped keys test paths.
const KEYS: [&str; 8] = ["a", "b", "0", "1", "", "x/y", "%", "line\nbreak"];

fn node(u: &mut Unstructured<'_>, depth: usize) -> Result<Node> {
    let choice = if depth >= 6 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match choice {
        0 => Node::Null,
        1 => Node::Bool(u.arbitrary()?),
        2 => Node::Int(u.int_in_range(-2..=2)?),
        // Collectors never emit NaN or infinities (they become text), so neither do we.
        3 => {
            let f: f64 = u.arbitrary()?;
            if f.is_finite() {
                Node::Float(f)
            } else {
                Node::Float(0.5)
            }
        }
        4 => Node::Str(if u.arbitrary()? {
            (*u.choose(&["", "v", "a\nb\n", "a\nc\n"])?).to_string()
        } else {
            u.arbitrary()?
        }),
        5 => {
            let len = u.int_in_range(0..=4)?;
            Node::List(
                (0..len)
                    .map(|_| node(u, depth + 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut map = BTreeMap::new();
            for _ in 0..len {
                let key = if u.ratio(7, 8)? {
                    (*u.choose(&KEYS)?).to_string()
                } else {
                    u.arbitrary()?
                };
                map.insert(key, node(u, depth + 1)?);
            }
            Node::Map(map)
        }
    })
}

#[derive(Debug)]
struct Pair(Node, Node);

impl<'a> Arbitrary<'a> for Pair {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let a = node(u, 0)?;
        // Often derive b from a by a few edits, so the trees are mostly alike.
        let b = if u.arbitrary()? {
            node(u, 0)?
        } else {
            mutate(u, a.clone(), 0)?
        };
        Ok(Pair(a, b))
    }
}

fn mutate(u: &mut Unstructured<'_>, node: Node, depth: usize) -> Result<Node> {
    if u.is_empty() {
        return Ok(node);
    }
    Ok(match (u.int_in_range(0..=3)?, node) {
        (0, _) => self::node(u, depth)?,
        (_, Node::Map(mut map)) => {
            for value in map.values_mut() {
                if u.ratio(1, 3)? {
                    *value = mutate(u, std::mem::take(value), depth + 1)?;
                }
            }
            if u.ratio(1, 4)? {
                map.insert((*u.choose(&KEYS)?).to_string(), self::node(u, depth + 1)?);
            }
            Node::Map(map)
        }
        (_, Node::List(mut items)) => {
            for value in items.iter_mut() {
                if u.ratio(1, 3)? {
                    *value = mutate(u, std::mem::take(value), depth + 1)?;
                }
            }
            match u.int_in_range(0..=2)? {
                0 => items.truncate(items.len() / 2),
                1 => items.push(self::node(u, depth + 1)?),
                _ => {}
            }
            Node::List(items)
        }
        (_, other) => other,
    })
}

fuzz_target!(|pair: Pair| {
    let Pair(a, b) = pair;
    assert!(diff(&a, &a).is_empty(), "diff(a, a) of {a}");
    assert!(diff(&b, &b).is_empty(), "diff(b, b) of {b}");

    let changes = diff(&a, &b);
    assert_eq!(changes.is_empty(), a == b, "{a} vs {b}");
    assert_eq!(
        apply(&a, &changes),
        b,
        "apply(a, diff(a, b)) for {a} -> {b}"
    );
    assert_eq!(
        apply(&b, &diff(&b, &a)),
        a,
        "apply(b, diff(b, a)) for {b} -> {a}"
    );

    for (i, change) in changes.iter().enumerate() {
        // Changes are strictly ordered by position in the tree and never nested in each other.
        if let Some(next) = changes.get(i + 1) {
            let (p, q) = (change.path.segments(), next.path.segments());
            assert!(!q.starts_with(p), "{} then {}", change.path, next.path);
        }
        match change.kind {
            ChangeKind::Added => {
                assert!(a.get(&change.path).is_none(), "{}", change.path);
                assert_eq!(b.get(&change.path), change.candidate.as_ref());
                assert!(change.baseline.is_none());
            }
            ChangeKind::Removed => {
                assert_eq!(a.get(&change.path), change.baseline.as_ref());
                assert!(b.get(&change.path).is_none(), "{}", change.path);
                assert!(change.candidate.is_none());
            }
            ChangeKind::Changed => {
                assert_eq!(a.get(&change.path), change.baseline.as_ref());
                assert_eq!(b.get(&change.path), change.candidate.as_ref());
                assert_ne!(change.baseline, change.candidate);
            }
            ChangeKind::Unchanged => panic!("diff never reports unchanged: {}", change.path),
        }
        let _ = change.text_diff();
    }
});
