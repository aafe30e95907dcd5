//! YAML with a budget on alias expansion.
//!
//! serde_yaml_ng expands aliases by replaying the anchored events and refuses more than 100
//! alias jumps per event of the document. That stops nested "billion laughs" bombs but not a
//! flat one: an anchored list of N items referenced N times is N jumps and N² values, so a
//! 50 KB file became ~10⁸ values and many gigabytes. Values are therefore built here, counting
//! every value and string byte against a budget linear in the text's length, and the parse
//! stops as soon as aliases push past it.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_yaml_ng::value::{Tag, TaggedValue};
use serde_yaml_ng::{Mapping, Value};

/// The error text when aliases expand a document past its budget.
pub const EXPANSION_MESSAGE: &str = "aliases expand the document too much (an alias bomb?)";

/// Budget units (one per value, one per string byte) a document of `len` bytes may expand to.
///
/// A value without aliases costs at most a few bytes of text per unit, so twice the length
/// never refuses a document that uses no aliases; the constant leaves room for ordinary
/// anchors such as `<<: *defaults` in small files.
pub fn budget_for(len: usize) -> usize {
    len.saturating_mul(2).saturating_add(1_000_000)
}

/// Parses the first document of `text` (later ones are not parsed); `None` when there is none.
pub fn first_document(text: &str) -> Result<Option<Value>, serde_yaml_ng::Error> {
    let Some(document) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return Ok(None);
    };
    let left = Cell::new(budget_for(text.len()));
    Budgeted { left: &left }.deserialize(document).map(Some)
}

/// Where a YAML text first nests flow collections (`[`, `{`) deeper than `max`, as a 1-based
/// line and column, found in one linear pass before libyaml sees the text.
///
/// libyaml's scanner keeps a "simple key" slot per flow level and revisits them for every
/// token, so a file of `{a: {a: …` costs time quadratic in its depth (50,000 levels took
/// minutes) before serde_yaml_ng's recursion limit can refuse it. This pass follows libyaml's
/// tokenizer where it matters: quoted scalars and comments start only at a token start, and in
/// flow context plain scalars end at flow indicators. In block context it may count a bracket
/// that libyaml would read as text, which can only refuse more, never less.
pub fn flow_too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut token_start = true;
    let mut in_plain = false;
    // Indentation of the line holding a `|`/`>` block scalar, while its content is skipped.
    let mut block_scalar: Option<usize> = None;
    let mut i = 0usize;
    let newline = |i: usize, line: &mut usize, line_start: &mut usize| {
        *line += 1;
        *line_start = i + 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if i == line_start {
            let indent = chars[i..].iter().take_while(|&&c| c == ' ').count();
            if let Some(parent) = block_scalar {
                let blank = chars
                    .get(i + indent)
                    .is_none_or(|&c| c == '\n' || c == '\r');
                if blank || indent > parent {
                    // Block scalar content: skip the line.
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                    if i < chars.len() {
                        newline(i, &mut line, &mut line_start);
                    }
                    i += 1;
                    continue;
                }
                block_scalar = None;
            }
            if depth == 0 {
                token_start = true;
                in_plain = false;
            }
        }
        let next = chars.get(i + 1).copied();
        let blank_next = next.is_none_or(|n| n.is_whitespace());
        match c {
            '\n' => {
                newline(i, &mut line, &mut line_start);
                if !in_plain {
                    token_start = true;
                }
            }
            ' ' | '\t' | '\r' => {
                if !in_plain {
                    token_start = true;
                }
            }
            '#' if token_start || i == 0 || chars[i - 1].is_whitespace() => {
                while i + 1 < chars.len() && chars[i + 1] != '\n' {
                    i += 1;
                }
                in_plain = false;
            }
            '[' | '{' if depth > 0 || token_start => {
                depth += 1;
                if depth > max {
                    let column = i - line_start + 1;
                    return Some((line, column));
                }
                token_start = true;
                in_plain = false;
            }
            ']' | '}' | ',' if depth > 0 => {
                if c != ',' {
                    depth -= 1;
                }
                token_start = true;
                in_plain = false;
            }
            '"' | '\'' if token_start && !in_plain => {
                // A quoted scalar, possibly over several lines.
                i += 1;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if c == '"' => i += 1,
                        '\'' if c == '\'' && chars.get(i + 1) == Some(&'\'') => i += 1,
                        q if q == c => break,
                        '\n' => newline(i, &mut line, &mut line_start),
                        _ => {}
                    }
                    i += 1;
                }
                token_start = false;
            }
            ':' | '?' | '-' if (token_start || c == ':') && blank_next => {
                token_start = true;
                in_plain = false;
            }
            ':' if depth > 0 && next.is_some_and(|n| "[]{},".contains(n)) => {
                token_start = true;
                in_plain = false;
            }
            '|' | '>' if depth == 0 && token_start => {
                let indent = chars[line_start..]
                    .iter()
                    .take_while(|&&c| c == ' ')
                    .count();
                block_scalar = Some(indent);
                while i + 1 < chars.len() && chars[i + 1] != '\n' {
                    i += 1;
                }
            }
            '&' | '*' | '!' if token_start && !in_plain => {
                // An anchor, alias or tag: a name, then still at a token start.
                while i + 1 < chars.len() && !chars[i + 1].is_whitespace() {
                    if depth > 0 && "[]{},".contains(chars[i + 1]) {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                if token_start {
                    in_plain = true;
                }
                token_start = false;
            }
        }
        i += 1;
    }
    None
}

/// Builds a [`Value`] like serde_yaml_ng's own visitor, spending the budget as it goes.
#[derive(Clone, Copy)]
struct Budgeted<'a> {
    left: &'a Cell<usize>,
}

impl Budgeted<'_> {
    fn spend<E: de::Error>(self, units: usize) -> Result<(), E> {
        match self.left.get().checked_sub(units.saturating_add(1)) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom(EXPANSION_MESSAGE)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Number(i.into()))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Number(u.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Number(f.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.spend(s.len())?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.spend(s.len())?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend(0)?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            if mapping.contains_key(&key) {
                // The same refusal as serde_yaml_ng's own mappings.
                return Err(de::Error::custom(duplicate_message(&key)));
            }
            let value = map.next_value_seed(self)?;
            mapping.insert(key, value);
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // serde_yaml_ng presents a value with a custom tag (`!Ref x`) as an enum.
        let (tag, contents) = data.variant::<String>()?;
        let value = de::VariantAccess::newtype_variant_seed(contents, self)?;
        if tag.is_empty() {
            return Ok(value);
        }
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

fn duplicate_message(key: &Value) -> String {
    match key {
        Value::Null => "duplicate entry with null key".to_string(),
        Value::Bool(b) => format!("duplicate entry with key `{b}`"),
        Value::Number(n) => format!("duplicate entry with key {n}"),
        Value::String(s) => format!("duplicate entry with key {s:?}"),
        _ => "duplicate entry in YAML map".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Value, String> {
        first_document(text)
            .map(|v| v.unwrap_or(Value::Null))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn documents_read_like_serde_yaml_ng_values() {
        let text = "a: 1\nb: [x, 2.5, ~, true]\nc: &c {k: v}\nd: *c\ne: !Ref tagged\n";
        let ours = parse(text).unwrap();
        let theirs: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        assert!(parse("").is_ok());
        assert_eq!(parse("a: 1\n---\nb: [").unwrap(), parse("a: 1").unwrap());
    }

    #[test]
    fn deep_flow_nesting_is_found_in_one_pass() {
        assert_eq!(flow_too_deep(&"[".repeat(200), 128), Some((1, 129)));
        assert_eq!(flow_too_deep(&"{a: ".repeat(200), 128), Some((1, 513)));
        let mixed = format!("key:\n  - {}", "[\"]\", {'}': ".repeat(100));
        assert!(flow_too_deep(&mixed, 128).is_some());
        // Brackets inside quotes, comments, block scalars and plain scalars are text.
        let text = format!(
            "a: \"{0}\"\nb: '{0}'\n# {0}\nc: |\n  {0}\n  {0}\nd: x{0}\ne: [1, {{f: [2]}}]\n",
            "[".repeat(300)
        );
        assert_eq!(flow_too_deep(&text, 128), None);
        assert_eq!(flow_too_deep(&"[".repeat(128), 128), None);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert!(err.contains("duplicate entry with key \"a\""), "{err}");
    }

    #[test]
    fn a_flat_alias_bomb_stops_at_the_budget() {
        let n = 2_000;
        let text = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["x"; n].join(","),
            vec!["*a"; n].join(",")
        );
        // Four million values through aliases from a 10 KB file.
        let err = parse(&text).unwrap_err();
        assert!(err.contains(EXPANSION_MESSAGE), "{err}");
    }

    #[test]
    fn ordinary_anchors_and_merge_keys_fit_in_the_budget() {
        let mut text = String::from("defaults: &defaults\n");
        for i in 0..50 {
            text.push_str(&format!("  key{i}: value{i}\n"));
        }
        for env in 0..100 {
            text.push_str(&format!("env{env}:\n  <<: *defaults\n  name: env{env}\n"));
        }
        let mut value = parse(&text).unwrap();
        value.apply_merge().unwrap();
        assert_eq!(value["env99"]["key49"], Value::String("value49".into()));
    }
}
