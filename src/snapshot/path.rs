//! Canonical paths: a list of segments, written joined by `/`.
//!
//! A segment is escaped where it would be ambiguous: `%` → `%25`, `/` → `%2F`, control
//! characters → `%XX`, and the empty segment is written `%E`. Parsing reverses this exactly,
//! so `Path::parse(&p.to_string()) == p` for every path.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A location in a canonical tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(Vec<String>);

/// A path string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {input:?}: {reason}")]
pub struct PathError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Path {
    /// The empty path (the root of a tree).
    pub fn root() -> Self {
        Path(Vec::new())
    }

    /// A path from its segments.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Path(segments.into_iter().map(Into::into).collect())
    }

    /// The segments, unescaped.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// This path with one more segment.
    pub fn child(&self, segment: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment.into());
        Path(segments)
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last segment, if any.
    pub fn last(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// Parses the `/`-joined, escaped form.
    pub fn parse(input: &str) -> Result<Self, PathError> {
        if input.is_empty() {
            return Ok(Path::root());
        }
        input
            .split('/')
            .map(|s| {
                unescape_segment(s).map_err(|reason| PathError {
                    input: input.into(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Path)
    }
}

/// Escapes one segment for the `/`-joined form.
pub fn escape_segment(segment: &str) -> String {
    if segment.is_empty() {
        return "%E".to_string();
    }
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_segment`].
pub fn unescape_segment(segment: &str) -> Result<String, String> {
    if segment == "%E" {
        return Ok(String::new());
    }
    if segment.is_empty() {
        return Err("empty segment (write an empty key as %E)".into());
    }
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let hex: String = chars.by_ref().take(2).collect();
        let byte = u8::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.len() == 2)
            .ok_or_else(|| format!("bad escape %{hex} (use %25 for a literal %)"))?;
        if byte >= 0x80 {
            return Err(format!("bad escape %{hex}: only ASCII may be escaped"));
        }
        out.push(byte as char);
    }
    Ok(out)
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&escape_segment(segment))?;
        }
        Ok(())
    }
}

impl Serialize for Path {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_percent_and_empty_segments_round_trip() {
        let path = Path::from_segments(["schema", "a/b", "50%", "", "x\ny"]);
        let text = path.to_string();
        assert_eq!(text, "schema/a%2Fb/50%25/%E/x%0Ay");
        assert_eq!(Path::parse(&text).unwrap(), path);
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        assert!(Path::parse("a/%zz").is_err());
        assert!(Path::parse("a//b").is_err());
        assert!(Path::parse("a/%2").is_err());
        assert!(Path::parse("a/%C3%A9").is_err());
    }

    #[test]
    fn root_is_the_empty_string() {
        assert_eq!(Path::root().to_string(), "");
        assert_eq!(Path::parse("").unwrap(), Path::root());
    }
}
