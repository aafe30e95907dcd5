//! Config-file collector: JSON, YAML, TOML, `.env`, Java `.properties` and INI files become
//! canonical trees.
//!
//! Decisions that shape the trees:
//! - The root is always a map. A JSON/YAML/TOML document whose root is a scalar or a list
//!   becomes `{"document": root}`; an empty (or comment-only) YAML file is an empty map.
//! - YAML: only the first document of a multi-document file is read; later documents are not
//!   even parsed. Anchors and aliases are expanded within a budget linear in the file's size
//!   (see [`crate::collectors::yaml`]), so an alias bomb ("billion laughs", nested or flat)
//!   fails instead of eating memory; `<<` merge keys are applied.
//! - `.env`, `.properties` and INI values are always strings, never guessed types: `POOL=5`
//!   is the string `"5"`, so a YAML `pool: 5` against an `.env` `POOL=5` shows up as a type
//!   difference. That is deliberate.
//! - `.env` keys stay flat as written; `.properties` keys nest by `.`; INI sections nest one
//!   level (`section/key`). Duplicate keys: the last one wins, as in the programs that read
//!   these files.
//!   A `.properties` key that is both a value and a prefix (`a=1`, `a.b=2`) keeps those keys
//!   flat (`a`, `a.b`) rather than losing one. An INI bare key (`skip-name-resolve`) is a null
//!   leaf; a root key named like a section is a parse error.
//! - A UTF-8 byte-order mark is ignored; invalid UTF-8 is a parse error at the bad byte.
//! - Nesting deeper than [`MAX_DEPTH`] is a parse error, never a stack overflow.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::Path;

use tokio::io::AsyncReadExt;

use crate::collectors::document::{json_error, root_map, too_deep_message};
use crate::collectors::yaml;
use crate::collectors::CollectError;
use crate::config::{read, FileFormat};
use crate::snapshot::tree::MAX_DEPTH;
use crate::snapshot::{Node, Tree};

/// Default largest file read (a source's `max_bytes` overrides it), checked before reading:
/// parsed trees take several times the file's size in memory.
pub const DEFAULT_MAX_FILE_BYTES: u64 = crate::config::DEFAULT_MAX_BYTES;

/// Reads and parses a config file into a tree, refusing files over the default cap.
pub async fn collect(path: &Path, format: FileFormat) -> Result<Tree, CollectError> {
    collect_capped(path, format, DEFAULT_MAX_FILE_BYTES).await
}

/// Reads and parses a config file into a tree, refusing files over `max_bytes`.
pub async fn collect_capped(
    path: &Path,
    format: FileFormat,
    max_bytes: u64,
) -> Result<Tree, CollectError> {
    let target = path.display().to_string();
    let unreadable = |err: std::io::Error| match err.kind() {
        ErrorKind::NotFound => CollectError::connect(
            &target,
            "file does not exist",
            Some("check the source's path; is the file deployed in this environment?"),
        ),
        ErrorKind::PermissionDenied => CollectError::connect(
            &target,
            "permission denied",
            Some("the file must be readable by the user running driftwarden"),
        ),
        _ => CollectError::connect(&target, format!("cannot read the file: {err}"), None),
    };
    let too_large = |size: Option<u64>| {
        let size = size.map_or(String::new(), |size| format!(" ({size} bytes)"));
        CollectError::query(
            &target,
            format!(
                "file is larger{size} than the source's max_bytes ({}) (hint: is this the right \
                 file? If so, raise max_bytes for this source)",
                read::size(max_bytes)
            ),
        )
    };
    let metadata = tokio::fs::metadata(path).await.map_err(unreadable)?;
    if metadata.is_dir() {
        return Err(CollectError::connect(
            &target,
            "is a directory, not a file",
            None,
        ));
    }
    if metadata.len() > max_bytes {
        return Err(too_large(Some(metadata.len())));
    }
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    // The file may grow between the metadata check, and a device or FIFO has no size at all:
    // never read past the cap.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(None));
    }
    // Parsing a large document is CPU work: keep it off the async worker threads.
    tokio::task::spawn_blocking(move || {
        let text = decode_utf8(bytes, &target)?;
        parse(&text, format, &target)
    })
    .await
    .map_err(|err| {
        CollectError::query(path.display().to_string(), format!("parser failed: {err}"))
    })?
}

/// Parses the text of a config file in `format` into a tree; `target` names it in errors.
pub fn parse(text: &str, format: FileFormat, target: &str) -> Result<Tree, CollectError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        FileFormat::Json => parse_json(text, target),
        FileFormat::Yaml => parse_yaml(text, target),
        FileFormat::Toml => parse_toml(text, target),
        FileFormat::Env => parse_env(text, target),
        FileFormat::Properties => parse_properties(text, target),
        FileFormat::Ini => parse_ini(text, target),
    }
}

/// Text from bytes; invalid UTF-8 is a parse error at the first bad byte's line and column.
fn decode_utf8(bytes: Vec<u8>, target: &str) -> Result<String, CollectError> {
    String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]);
        let (line, column) = line_column(&prefix, prefix.len());
        CollectError::parse(
            target,
            Some(line),
            Some(column),
            "the file is not valid UTF-8 text (hint: save it as UTF-8)",
        )
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn error_at(target: &str, line: usize, message: impl AsRef<str>) -> CollectError {
    CollectError::parse(target, Some(line), None, message)
}

fn too_deep(target: &str) -> CollectError {
    CollectError::parse(target, None, None, too_deep_message())
}

fn parse_json(text: &str, target: &str) -> Result<Tree, CollectError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| json_error(&err, target, None))?;
    let node = Node::from_json(value).map_err(|_| too_deep(target))?;
    Ok(root_map(node))
}

fn parse_yaml(text: &str, target: &str) -> Result<Tree, CollectError> {
    // libyaml spends quadratic time on deep flow nesting before the recursion limit applies.
    if let Some((line, column)) = yaml::flow_too_deep(text, MAX_DEPTH) {
        return Err(CollectError::parse(
            target,
            Some(line),
            Some(column),
            too_deep_message(),
        ));
    }
    // Only the first document is read, with alias expansion on a budget.
    let value = yaml::first_document(text)
        .map_err(|err| yaml_error(&err, target))?
        .unwrap_or(serde_yaml_ng::Value::Null);
    // `<<: *defaults` merge keys are applied, as the programs reading these files do.
    let mut value = value;
    value
        .apply_merge()
        .map_err(|err| CollectError::parse(target, None, None, format!("merge key: {err}")))?;
    if value.is_null() {
        // An empty or comment-only file (or a lone `~`): no settings.
        return Ok(Node::map());
    }
    let node = Node::from_yaml(value).map_err(|_| too_deep(target))?;
    Ok(root_map(node))
}

fn yaml_error(err: &serde_yaml_ng::Error, target: &str) -> CollectError {
    let text = err.to_string();
    let message = if text.starts_with("recursion limit exceeded") {
        too_deep_message()
    } else if text.starts_with("repetition limit exceeded")
        || text.starts_with(yaml::EXPANSION_MESSAGE)
    {
        "too many alias expansions (an alias bomb?)".to_string()
    } else {
        // The location travels separately: drop libyaml's " at line L column C".
        strip_yaml_location(&text)
    };
    let location = err.location();
    CollectError::parse(
        target,
        location.as_ref().map(|l| l.line()),
        location.as_ref().map(|l| l.column()),
        message,
    )
}

/// Removes every " at line L column C" from a serde_yaml_ng message.
fn strip_yaml_location(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(" at line ") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + " at line ".len()..];
        let tail = after.trim_start_matches(|c: char| c.is_ascii_digit());
        let tail = match tail.strip_prefix(" column ") {
            Some(t) => t.trim_start_matches(|c: char| c.is_ascii_digit()),
            None => tail,
        };
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn parse_toml(text: &str, target: &str) -> Result<Tree, CollectError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| {
        let (line, column) = match err.span() {
            Some(span) => {
                let (l, c) = line_column(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let message = err.message().trim_end();
        let message =
            if message.contains("max recursion depth") || message.contains("recursion limit") {
                too_deep_message()
            } else {
                message.to_string()
            };
        CollectError::parse(target, line, column, message)
    })?;
    Node::from_toml(toml::Value::Table(table)).map_err(|_| too_deep(target))
}

// ---------------------------------------------------------------------------------------------
// .env

fn parse_env(text: &str, target: &str) -> Result<Tree, CollectError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut tree = Node::map();
    let mut next = 0;
    while next < lines.len() {
        let line_no = next + 1;
        let line = lines[next].trim_start();
        next += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let Some(eq) = line.find('=') else {
            return Err(error_at(target, line_no, "expected KEY=value"));
        };
        let key = line[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(error_at(
                target,
                line_no,
                format!("invalid key {key:?}: expected KEY=value"),
            ));
        }
        let raw = &line[eq + 1..];
        let rest = raw.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let (value, after, end_line) =
                    env_quoted(&rest[1..], quote, &lines, &mut next, line_no, target)?;
                let after = after.trim_start();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(error_at(
                        target,
                        end_line,
                        "unexpected text after the closing quote",
                    ));
                }
                value
            }
            _ => strip_inline_comment(raw, &['#']).trim().to_string(),
        };
        tree.insert(key, value);
    }
    Ok(tree)
}

/// Reads a quoted `.env` value that starts just after its opening quote and may span lines.
/// Returns the value, the text after the closing quote and the line it closed on.
fn env_quoted<'a>(
    first: &'a str,
    quote: char,
    lines: &[&'a str],
    next: &mut usize,
    start_line: usize,
    target: &str,
) -> Result<(String, &'a str, usize), CollectError> {
    let mut out = String::new();
    let mut current = first;
    let mut line_no = start_line;
    loop {
        let mut chars = current.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                return Ok((out, &current[i + c.len_utf8()..], line_no));
            }
            if quote == '"' && c == '\\' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('\\' | '"' | '$' | '`'))) => out.push(e),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        match lines.get(*next) {
            Some(line) => {
                out.push('\n');
                current = line;
                *next += 1;
                line_no = *next;
            }
            None => {
                return Err(error_at(
                    target,
                    start_line,
                    format!("unterminated {quote}quoted{quote} value"),
                ))
            }
        }
    }
}

/// Cuts an inline comment: a marker preceded by whitespace (`a=b # note`, not `a=b#c`).
fn strip_inline_comment<'a>(value: &'a str, markers: &[char]) -> &'a str {
    let mut previous_blank = false;
    for (i, c) in value.char_indices() {
        if previous_blank && markers.contains(&c) {
            return &value[..i];
        }
        previous_blank = c.is_whitespace();
    }
    value
}

// ---------------------------------------------------------------------------------------------
// .properties

fn parse_properties(text: &str, target: &str) -> Result<Tree, CollectError> {
    // key → (value, line)
    let mut entries: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut next = 0;
    while next < lines.len() {
        let line_no = next + 1;
        let first = lines[next].trim_start_matches(is_properties_blank);
        next += 1;
        if first.is_empty() || first.starts_with(['#', '!']) {
            continue;
        }
        // A line ending in an odd number of backslashes continues on the next line, whose
        // leading whitespace is dropped.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(next) {
                Some(line) => {
                    logical.push_str(line.trim_start_matches(is_properties_blank));
                    next += 1;
                }
                None => break,
            }
        }
        let (key, value) =
            split_property(&logical).map_err(|message| error_at(target, line_no, message))?;
        entries.insert(key, (value, line_no));
    }
    nest_dotted(entries, target)
}

fn is_properties_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn ends_with_odd_backslashes(text: &str) -> bool {
    text.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits a logical line into its unescaped key and value (Java `Properties.load` rules).
fn split_property(logical: &str) -> Result<(String, String), String> {
    let mut chars = logical.chars().peekable();
    let mut key = String::new();
    while let Some(&c) = chars.peek() {
        if c == '=' || c == ':' || is_properties_blank(c) {
            break;
        }
        chars.next();
        if c == '\\' {
            unescape_property(&mut chars, &mut key)?;
        } else {
            key.push(c);
        }
    }
    while chars.next_if(|&c| is_properties_blank(c)).is_some() {}
    if chars.next_if(|&c| c == '=' || c == ':').is_some() {
        while chars.next_if(|&c| is_properties_blank(c)).is_some() {}
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            unescape_property(&mut chars, &mut value)?;
        } else {
            value.push(c);
        }
    }
    Ok((key, value))
}

/// Decodes one escape after a backslash: `\t \n \r \f`, `\uXXXX` (with surrogate pairs),
/// and `\x` meaning `x` for anything else.
fn unescape_property(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    match chars.next() {
        Some('t') => out.push('\t'),
        Some('n') => out.push('\n'),
        Some('r') => out.push('\r'),
        Some('f') => out.push('\x0c'),
        Some('u') => {
            let unit = hex4(chars)?;
            let c = if (0xD800..0xDC00).contains(&unit) {
                let low = match (chars.next(), chars.next()) {
                    (Some('\\'), Some('u')) => hex4(chars)?,
                    _ => return Err("a \\u high surrogate must be followed by a low one".into()),
                };
                char::decode_utf16([unit, low])
                    .next()
                    .and_then(Result::ok)
                    .ok_or("invalid \\u surrogate pair")?
            } else {
                char::from_u32(u32::from(unit)).ok_or("invalid \\u escape (lone surrogate)")?
            };
            out.push(c);
        }
        Some(other) => out.push(other),
        None => {}
    }
    Ok(())
}

fn hex4(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<u16, String> {
    let digits: String = chars.by_ref().take(4).collect();
    if digits.len() != 4 {
        return Err(format!("malformed \\u escape \\u{digits}"));
    }
    u16::from_str_radix(&digits, 16).map_err(|_| format!("malformed \\u escape \\u{digits}"))
}

/// Nests `a.b.c = v` as `a/b/c`. Keys that cannot nest without losing data stay flat at the
/// root, written as in the file: a key that is both a value and a prefix of other keys
/// (`a=1` with `a.b=2` gives root keys `a` and `a.b`), every key under such a prefix, and
/// keys with an empty segment (`a..b`, `.a`, `a.`).
fn nest_dotted(
    entries: BTreeMap<String, (String, usize)>,
    target: &str,
) -> Result<Tree, CollectError> {
    let nestable = |key: &str| !key.split('.').any(str::is_empty);
    let is_prefix_of_another = |key: &str| {
        let prefix = format!("{key}.");
        entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(other, _)| other.starts_with(&prefix))
    };
    let has_key_prefix = |key: &str| {
        key.match_indices('.')
            .any(|(i, _)| entries.contains_key(&key[..i]))
    };
    let flat: BTreeSet<&str> = entries
        .keys()
        .map(String::as_str)
        .filter(|key| !nestable(key) || is_prefix_of_another(key) || has_key_prefix(key))
        .collect();

    let mut tree = Node::map();
    for (key, (value, line)) in &entries {
        if flat.contains(key.as_str()) {
            tree.insert(key.clone(), value.clone());
            continue;
        }
        let segments: Vec<&str> = key.split('.').collect();
        if segments.len() >= MAX_DEPTH {
            return Err(error_at(target, *line, too_deep_message()));
        }
        let (last, parents) = match segments.split_last() {
            Some(split) => split,
            None => continue,
        };
        let mut node = &mut tree;
        for segment in parents {
            node = node.entry(segment);
        }
        node.insert(*last, value.clone());
    }
    Ok(tree)
}

// ---------------------------------------------------------------------------------------------
// INI

fn parse_ini(text: &str, target: &str) -> Result<Tree, CollectError> {
    // Keys before any section, with the line they were set on.
    let mut root: BTreeMap<String, (Node, usize)> = BTreeMap::new();
    let mut sections: BTreeMap<String, (BTreeMap<String, Node>, usize)> = BTreeMap::new();
    let mut section: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with([';', '#']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(error_at(target, line_no, "section header without ']'"));
            };
            let after = rest[close + 1..].trim_start();
            if !after.is_empty() && !after.starts_with([';', '#']) {
                return Err(error_at(
                    target,
                    line_no,
                    "unexpected text after the section header",
                ));
            }
            let name = rest[..close].trim().to_string();
            sections
                .entry(name.clone())
                .or_insert_with(|| (BTreeMap::new(), line_no));
            section = Some(name);
            continue;
        }
        let (key, value) = match line.find(['=', ':']) {
            Some(sep) => {
                let value = ini_value(&line[sep + 1..])
                    .map_err(|message| error_at(target, line_no, message))?;
                (line[..sep].trim(), Node::Str(value))
            }
            // A bare key (`skip-name-resolve` in a my.cnf) is present without a value.
            None => (line, Node::Null),
        };
        if key.is_empty() {
            return Err(error_at(target, line_no, "expected key = value"));
        }
        match &section {
            Some(name) => {
                if let Some((keys, _)) = sections.get_mut(name) {
                    keys.insert(key.to_string(), value);
                }
            }
            None => {
                root.insert(key.to_string(), (value, line_no));
            }
        }
    }
    let mut tree = Node::map();
    for (key, (value, line)) in root {
        if sections.contains_key(&key) {
            return Err(error_at(
                target,
                line,
                format!("key {key:?} has the same name as section [{key}]"),
            ));
        }
        tree.insert(key, value);
    }
    for (name, (keys, _)) in sections {
        tree.insert(name, Node::Map(keys));
    }
    Ok(tree)
}

/// An INI value: a quoted value loses its quotes (and may contain `;`/`#`); an unquoted one
/// loses an inline comment (`; note` or `# note` after whitespace).
fn ini_value(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let Some(quote) = value.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
        return Ok(strip_inline_comment(value, &[';', '#'])
            .trim_end()
            .to_string());
    };
    let inner = &value[1..];
    let Some(close) = inner.find(quote) else {
        return Err(format!("unterminated {quote}quoted{quote} value"));
    };
    let after = inner[close + 1..].trim_start();
    if !after.is_empty() && !after.starts_with([';', '#']) {
        return Err("unexpected text after the closing quote".into());
    }
    Ok(inner[..close].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Path as TreePath;

    fn get<'a>(tree: &'a Tree, path: &str) -> Option<&'a Node> {
        tree.get(&TreePath::parse(path).unwrap())
    }

    #[test]
    fn properties_escapes_separators_and_continuations() {
        let text = "a\\=b = c\\u00e9\\\n    d\nkey\\ with\\ space:v\nbare\nemoji=\\uD83D\\uDE00\n";
        let tree = parse(text, FileFormat::Properties, "t").unwrap();
        assert_eq!(get(&tree, "a=b"), Some(&Node::str("céd")));
        assert_eq!(get(&tree, "key with space"), Some(&Node::str("v")));
        assert_eq!(get(&tree, "bare"), Some(&Node::str("")));
        assert_eq!(get(&tree, "emoji"), Some(&Node::str("😀")));
        let err = parse("x=\\u12\n", FileFormat::Properties, "t").unwrap_err();
        assert!(err.to_string().contains("t:1:"), "{err}");
    }

    #[test]
    fn properties_conflicting_keys_stay_flat() {
        let text = "a=1\na.b=2\na.b.c=3\nx.y=4\nx.z=5\nodd..key=6\n";
        let tree = parse(text, FileFormat::Properties, "t").unwrap();
        assert_eq!(
            tree.to_string(),
            r#"{"a":"1","a.b":"2","a.b.c":"3","odd..key":"6","x":{"y":"4","z":"5"}}"#
        );
    }

    #[test]
    fn ini_root_key_named_like_a_section_is_an_error_at_its_line() {
        let err = parse("\n db = x\n[db]\nhost = h\n", FileFormat::Ini, "t.ini").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.ini:2: key \"db\" has the same name as section [db]"
        );
        let tree = parse("[a]\nk=1\n[b]\nk=2\n[a]\nj=3\n", FileFormat::Ini, "t").unwrap();
        assert_eq!(tree.to_string(), r#"{"a":{"j":"3","k":"1"},"b":{"k":"2"}}"#);
    }

    #[test]
    fn yaml_locations_are_stripped_from_messages() {
        assert_eq!(
            strip_yaml_location("did not find expected key at line 3 column 7, while parsing a block mapping at line 1 column 1"),
            "did not find expected key, while parsing a block mapping"
        );
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé\nx", 6), (2, 3));
        assert_eq!(line_column("ab\ncé\nx", 0), (1, 1));
    }
}
