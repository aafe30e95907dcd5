//! Path patterns (`schema/tables/*/indexes/**`) and name globs (`staging-*`), with matching.
//!
//! Patterns are written in path syntax: segments joined by `/`, escaped as in
//! [`crate::snapshot::path`]. `**` as a whole segment matches zero or more segments; `*` inside
//! a segment matches any run of characters within that one segment; `%2A` is a literal `*`.
//! Matching is a dynamic programme over segments and a greedy scan within a segment, so it is
//! polynomial whatever the pattern.

use std::fmt;

use crate::snapshot::path::{escape_segment, unescape_segment};
use crate::snapshot::Path;

/// A pattern that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern {input:?}: {reason}")]
pub struct PatternError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One parsed segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more whole segments.
    Deep,
    /// Literal pieces separated by `*` wildcards; one piece means an exact segment.
    Glob(Vec<String>),
}

/// A parsed path pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

impl PartialEq for Pattern {
    /// Patterns are equal when they match the same paths by construction (same parsed form).
    fn eq(&self, other: &Self) -> bool {
        self.segments == other.segments
    }
}

impl Pattern {
    /// Parses a pattern written in path syntax.
    pub fn parse(input: &str) -> Result<Pattern, PatternError> {
        let fail = |reason: String| PatternError {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(fail(
                "the pattern is empty (use ** to match everything)".into(),
            ));
        }
        let mut segments = Vec::new();
        for raw in input.split('/') {
            segments.push(parse_segment(raw).map_err(fail)?);
        }
        Ok(Pattern {
            text: input.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern is `**`, matching every path.
    pub fn matches_everything(&self) -> bool {
        self.segments == [Segment::Deep]
    }

    /// Whether the pattern has no wildcard, so it matches exactly one path.
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Glob(parts) if parts.len() == 1))
    }

    /// Whether `path` matches the whole pattern.
    pub fn matches(&self, path: &Path) -> bool {
        let text = path.segments();
        if self.is_literal() {
            return self.segments.len() == text.len()
                && self
                    .segments
                    .iter()
                    .zip(text)
                    .all(|(p, t)| segment_matches(p, t));
        }
        // row[j]: the pattern segments seen so far match the first j path segments.
        let mut row = vec![false; text.len() + 1];
        let mut next = vec![false; text.len() + 1];
        row[0] = true;
        for seg in &self.segments {
            match seg {
                Segment::Deep => {
                    let mut reachable = false;
                    for j in 0..=text.len() {
                        reachable |= row[j];
                        next[j] = reachable;
                    }
                }
                Segment::Glob(_) => {
                    next[0] = false;
                    for j in 1..=text.len() {
                        next[j] = row[j - 1] && segment_matches(seg, &text[j - 1]);
                    }
                }
            }
            std::mem::swap(&mut row, &mut next);
            if !row.contains(&true) {
                return false;
            }
        }
        row[text.len()]
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_segment(raw: &str) -> Result<Segment, String> {
    if raw == "**" {
        return Ok(Segment::Deep);
    }
    if raw.is_empty() {
        return Err(
            "empty segment (`//`, or a leading or trailing `/`); write an empty key as %E".into(),
        );
    }
    if raw.contains("**") {
        return Err(format!(
            "`**` must be a whole segment, not part of {raw:?} (use `*` within a segment)"
        ));
    }
    if raw == "%E" {
        return Ok(Segment::Glob(vec![String::new()]));
    }
    // Escapes never contain a raw `*`, so splitting first keeps `%2A` literal.
    let mut parts = Vec::new();
    for piece in raw.split('*') {
        if piece.is_empty() {
            parts.push(String::new());
        } else if piece == "%E" {
            return Err(format!(
                "%E stands for a whole empty segment and cannot be part of {raw:?}"
            ));
        } else {
            parts.push(unescape_segment(piece)?);
        }
    }
    Ok(Segment::Glob(parts))
}

fn segment_matches(seg: &Segment, text: &str) -> bool {
    match seg {
        Segment::Deep => true,
        Segment::Glob(parts) => crate::glob::parts_match(parts, text),
    }
}

/// A pattern text matching exactly `path` (`*` escaped as `%2A` besides the path escapes).
///
/// The root path gives the empty string, which is not a valid pattern.
pub fn escape_literal(path: &Path) -> String {
    path.segments()
        .iter()
        .map(|s| escape_segment(s).replace('*', "%2A"))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    fn path(text: &str) -> Path {
        Path::parse(text).unwrap()
    }

    fn matches(pattern: &str, p: &str) -> bool {
        pat(pattern).matches(&path(p))
    }

    #[test]
    fn a_literal_pattern_matches_only_its_own_path() {
        assert!(matches("database/host", "database/host"));
        assert!(!matches("database/host", "database/hostname"));
        assert!(!matches("database/host", "database"));
        assert!(!matches("database/host", "database/host/x"));
        assert!(!matches("database/host", "x/database/host"));
    }

    #[test]
    fn a_lone_star_matches_exactly_one_segment() {
        assert!(matches("rows/*", "rows/users"));
        assert!(!matches("rows/*", "rows"));
        assert!(!matches("rows/*", "rows/users/extra"));
        assert!(matches("*", "anything"));
        assert!(matches("rows/*", "rows/%E"));
    }

    #[test]
    fn a_star_inside_a_segment_stays_within_that_segment() {
        assert!(matches(
            "indexes/sqlite_autoindex_*",
            "indexes/sqlite_autoindex_users_1"
        ));
        assert!(matches(
            "indexes/sqlite_autoindex_*",
            "indexes/sqlite_autoindex_"
        ));
        assert!(!matches(
            "indexes/sqlite_autoindex_*",
            "indexes/sqlite_autoindex_a/b"
        ));
        assert!(!matches("indexes/sqlite_autoindex_*", "indexes/idx_users"));
        assert!(matches("a/*_id", "a/user_id"));
        assert!(!matches("a/*_id", "a/user_idx"));
        assert!(matches("a/x*y*z", "a/xaaybbz"));
        assert!(matches("a/x*y*z", "a/xyz"));
        assert!(!matches("a/x*y*z", "a/xzy"));
        assert!(!matches("a/ab*ba", "a/aba"));
    }

    #[test]
    fn a_double_star_matches_zero_or_more_segments() {
        assert!(matches("stats/**", "stats"));
        assert!(matches("stats/**", "stats/a"));
        assert!(matches("stats/**", "stats/a/b/c"));
        assert!(!matches("stats/**", "statsx/a"));
        assert!(matches("**/auto_increment", "auto_increment"));
        assert!(matches("**/auto_increment", "tables/users/auto_increment"));
        assert!(!matches(
            "**/auto_increment",
            "tables/users/auto_increment/x"
        ));
        assert!(matches("a/**/z", "a/z"));
        assert!(matches("a/**/z", "a/b/c/z"));
        assert!(!matches("a/**/z", "a/b/c"));
        assert!(matches("**", ""));
        assert!(matches("**", "a/b"));
    }

    #[test]
    fn double_stars_and_stars_combine() {
        assert!(matches(
            "schema/**/columns/*/default",
            "schema/tables/t/columns/c/default"
        ));
        assert!(matches("**/*_at", "rows/users/updated_at"));
        assert!(matches("**/a/**/a/**", "x/a/y/a"));
        assert!(!matches("**/a/**/a/**", "x/a/y"));
    }

    #[test]
    fn an_escaped_star_is_a_literal_star() {
        assert!(matches("grants/%2A", "grants/%2A"));
        assert!(!matches("grants/%2A", "grants/all"));
        assert!(matches("grants/a%2A*", "grants/a%2Ab"));
        assert!(!matches("grants/a%2A*", "grants/ab"));
    }

    #[test]
    fn escapes_follow_path_syntax() {
        let p = Path::from_segments(["files", "etc/app.conf", "50%", ""]);
        assert!(pat("files/etc%2Fapp.conf/50%25/%E").matches(&p));
        assert!(!matches("a/%E", "a/b"));
    }

    #[test]
    fn malformed_patterns_are_rejected_with_a_reason() {
        for bad in [
            "", "a//b", "/a", "a/", "a**", "a/**b", "***", "a/%zz", "a/%2", "a/x%E*",
        ] {
            let err = Pattern::parse(bad).unwrap_err();
            assert!(!err.reason.is_empty(), "{bad}");
        }
    }

    #[test]
    fn many_double_stars_do_not_blow_up() {
        let pattern = pat(&["**"; 40].join("/").replace("**", "**/a").to_string());
        let long = Path::from_segments(vec!["a"; 39]);
        let start = std::time::Instant::now();
        assert!(!pattern.matches(&long));
        let stars = Pattern::parse(&format!("x/{}b", "*a".repeat(30))).unwrap();
        assert!(!stars.matches(&Path::from_segments(["x", &"a".repeat(200)])));
        assert!(start.elapsed().as_secs() < 2);
    }

    #[test]
    fn escape_literal_gives_a_pattern_matching_exactly_that_path() {
        for segs in [
            vec!["schema", "tables", "users"],
            vec!["a*b", "**", "*"],
            vec!["x/y", "50%", "", "line\nbreak"],
        ] {
            let p = Path::from_segments(segs.clone());
            let text = escape_literal(&p);
            let pattern = pat(&text);
            assert!(pattern.is_literal(), "{text}");
            assert!(pattern.matches(&p), "{text}");
        }
        assert_eq!(
            escape_literal(&Path::from_segments(["a*b", "**"])),
            "a%2Ab/%2A%2A"
        );
        let star = Path::from_segments(["a", "b"]);
        assert!(!pat(&escape_literal(&Path::from_segments(["a", "*"]))).matches(&star));
    }

    #[test]
    fn patterns_with_the_same_meaning_are_equal() {
        assert_eq!(pat("a/%62"), pat("a/b"));
        assert_ne!(pat("a/*"), pat("a/%2A"));
        assert!(pat("**").matches_everything());
        assert!(!pat("**/x").matches_everything());
    }
}
