//! Path patterns and name globs against a slow reference matcher: same answers, no panics.
#![no_main]

use arbitrary::Arbitrary;
use driftwarden::glob::{parts_match, to_sql_like, NameFilter, NameGlob};
use driftwarden::rules::pattern::{escape_literal, Pattern};
use driftwarden::snapshot::Path;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    pattern: String,
    path: Vec<String>,
    glob: String,
    name: String,
}

/// Reference: does `text` match `glob` where `*` is any run of characters? Quadratic table.
fn glob_reference(glob: &[char], text: &[char]) -> bool {
    // m[i][j]: glob[..i] matches text[..j].
    let mut m = vec![vec![false; text.len() + 1]; glob.len() + 1];
    m[0][0] = true;
    for i in 1..=glob.len() {
        for j in 0..=text.len() {
            m[i][j] = if glob[i - 1] == '*' {
                m[i - 1][j] || (j > 0 && m[i][j - 1])
            } else {
                j > 0 && m[i - 1][j - 1] && glob[i - 1] == text[j - 1]
            };
        }
    }
    m[glob.len()][text.len()]
}

/// One parsed pattern segment for the reference: `None` is `**`, else glob pieces.
fn reference_segments(pattern: &str) -> Option<Vec<Option<Vec<String>>>> {
    let mut out = Vec::new();
    for raw in pattern.split('/') {
        if raw == "**" {
            out.push(None);
        } else if raw == "%E" {
            out.push(Some(vec![String::new()]));
        } else {
            let pieces = raw
                .split('*')
                .map(|p| {
                    if p.is_empty() {
                        Some(String::new())
                    } else {
                        driftwarden::snapshot::path::unescape_segment(p).ok()
                    }
                })
                .collect::<Option<Vec<_>>>()?;
            out.push(Some(pieces));
        }
    }
    Some(out)
}

/// Reference segment matching by backtracking over segments (inputs are small).
fn segments_reference(pattern: &[Option<Vec<String>>], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((None, rest)) => (0..=path.len()).any(|k| segments_reference(rest, &path[k..])),
        Some((Some(pieces), rest)) => match path.split_first() {
            None => false,
            Some((first, tail)) => piece_match(pieces, first) && segments_reference(rest, tail),
        },
    }
}

/// Reference for pieces joined by wildcards, without reusing `parts_match`.
fn piece_match(pieces: &[String], text: &str) -> bool {
    fn go(pieces: &[String], text: &str, anchored: bool) -> bool {
        match pieces.split_first() {
            None => text.is_empty() || !anchored,
            Some((piece, rest)) => {
                if anchored {
                    text.starts_with(piece.as_str())
                        && go(rest, &text[piece.len()..], false)
                        && (!rest.is_empty() || text.len() == piece.len())
                } else if rest.is_empty() {
                    text.ends_with(piece.as_str())
                } else {
                    text.char_indices()
                        .map(|(i, _)| i)
                        .chain(std::iter::once(text.len()))
                        .any(|i| {
                            text[i..].starts_with(piece.as_str())
                                && go(rest, &text[i + piece.len()..], false)
                        })
                }
            }
        }
    }
    go(pieces, text, true)
}

fuzz_target!(|input: Input| {
    // Keep the reference matchers cheap.
    if input.path.len() > 12
        || input.pattern.len() > 64
        || input.glob.len() > 64
        || input.name.len() > 64
        || input.path.iter().any(|s| s.len() > 32)
    {
        return;
    }
    let path = Path::from_segments(input.path.clone());

    // Name globs agree with the character-level reference.
    let glob = NameGlob::new(&input.glob);
    let glob_chars: Vec<char> = input.glob.chars().collect();
    let name_chars: Vec<char> = input.name.chars().collect();
    assert_eq!(
        glob.matches(&input.name),
        glob_reference(&glob_chars, &name_chars),
        "glob {:?} name {:?}",
        input.glob,
        input.name
    );
    if glob.is_exact() {
        assert_eq!(glob.matches(&input.name), input.glob == input.name);
    }
    let parts: Vec<String> = input.glob.split('*').map(str::to_string).collect();
    assert_eq!(parts_match(&parts, &input.name), glob.matches(&input.name));
    let _ = to_sql_like(&glob);
    let filter = NameFilter::new(&[input.glob.clone()], &[]);
    assert_eq!(filter.allows(&input.name), glob.matches(&input.name));

    // Path patterns agree with the backtracking reference.
    match Pattern::parse(&input.pattern) {
        Ok(pattern) => {
            let reference = reference_segments(&input.pattern)
                .expect("a pattern that parses has valid escapes");
            assert_eq!(
                pattern.matches(&path),
                segments_reference(&reference, path.segments()),
                "pattern {:?} path {:?}",
                input.pattern,
                path.segments()
            );
            // Re-parsing the text gives the same pattern.
            let again = Pattern::parse(pattern.as_str()).expect("re-parse");
            assert!(again == pattern);
        }
        Err(err) => assert!(!err.reason.is_empty()),
    }

    // The literal pattern of a path matches that path and nothing that differs in one segment.
    if !path.is_root() {
        let literal = escape_literal(&path);
        let pattern = Pattern::parse(&literal).expect("escape_literal gives a valid pattern");
        assert!(pattern.is_literal(), "{literal}");
        assert!(pattern.matches(&path), "{literal}");
        let mut other = input.path.clone();
        other[0].push('x');
        assert!(!pattern.matches(&Path::from_segments(other)), "{literal}");
    }
});
