//! Config-file collectors (JSON, YAML, TOML, .env, .properties, INI) and JSON pointers: any
//! text gives a tree or a parse error naming the file, never a panic or a stack overflow; a
//! tree is a map, bounded in depth, and every leaf's path reads back to that leaf.
#![no_main]

use driftwarden::collectors::document::{json_tree, tokens};
use driftwarden::collectors::file::parse;
use driftwarden::collectors::CollectError;
use driftwarden::config::FileFormat;
use driftwarden::diff::diff;
use driftwarden::snapshot::tree::MAX_DEPTH;
use driftwarden::snapshot::{Node, Path};
use libfuzzer_sys::fuzz_target;

const FORMATS: [FileFormat; 6] = [
    FileFormat::Json,
    FileFormat::Yaml,
    FileFormat::Toml,
    FileFormat::Env,
    FileFormat::Properties,
    FileFormat::Ini,
];

fn depth(node: &Node) -> usize {
    match node {
        Node::Map(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Node::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_tree(tree: &Node) {
    assert!(matches!(tree, Node::Map(_)), "the root is a map: {tree}");
    // The root map may wrap a document (`{"document": …}`), hence the one extra level.
    assert!(depth(tree) <= MAX_DEPTH + 1, "depth {}", depth(tree));
    for (path, leaf) in tree.leaves() {
        let text = path.to_string();
        let back = Path::parse(&text).expect("a leaf path parses back");
        assert_eq!(back, path);
        assert_eq!(tree.get(&back), Some(leaf), "{text}");
        if let Node::Float(f) = leaf {
            assert!(f.is_finite(), "{text} holds {f}");
        }
    }
    assert!(diff(tree, tree).is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    // JSON and HTTP/command bodies are bytes; the file collector decodes UTF-8 first.
    if format == FileFormat::Json && selector & 0x80 != 0 {
        // The first line of the input (if any) is a JSON pointer.
        let (pointer, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (std::str::from_utf8(&rest[..i]).ok(), &rest[i + 1..]),
            None => (None, rest),
        };
        if let Some(pointer) = pointer {
            let _ = tokens(pointer);
        }
        match json_tree(body, "fuzz-endpoint", pointer, "hint") {
            Ok(tree) => check_tree(&tree),
            Err(err) => assert!(err.to_string().starts_with("fuzz-endpoint"), "{err}"),
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match parse(text, format, "fuzz.conf") {
        Ok(tree) => check_tree(&tree),
        Err(err) => {
            assert!(
                matches!(err, CollectError::Parse { .. }),
                "a config file's error is a parse error: {err:?}"
            );
            assert!(err.to_string().starts_with("fuzz.conf"), "{err}");
        }
    }
});
