//! Name globs shared by rules (pair/source/environment scopes) and collectors (table filters):
//! `*` matches any run of characters; everything else is literal.

use std::fmt;

/// Whether `text` matches literal `parts` joined by `*` wildcards.
///
/// The first part must be a prefix, the last a suffix, and the middle parts are found leftmost
/// in order; leftmost is always safe because a wildcard can absorb anything skipped.
pub fn parts_match(parts: &[String], text: &str) -> bool {
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return text.is_empty(),
    };
    let Some((last, middle)) = rest.split_last() else {
        return text == first;
    };
    if text.len() < first.len() + last.len()
        || !text.starts_with(first.as_str())
        || !text.ends_with(last.as_str())
    {
        return false;
    }
    let mut window = &text[first.len()..text.len() - last.len()];
    for part in middle {
        match window.find(part.as_str()) {
            Some(at) => window = &window[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A glob on names (pairs, sources, environments): `*` matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameGlob {
    text: String,
    parts: Vec<String>,
}

impl NameGlob {
    /// A glob from its text; every string is a valid glob.
    pub fn new(text: &str) -> NameGlob {
        NameGlob {
            text: text.to_string(),
            parts: text.split('*').map(str::to_string).collect(),
        }
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the glob has no `*`, so it names exactly one thing.
    pub fn is_exact(&self) -> bool {
        self.parts.len() == 1
    }

    /// Whether `name` matches the glob.
    pub fn matches(&self, name: &str) -> bool {
        parts_match(&self.parts, name)
    }
}

impl fmt::Display for NameGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Include/exclude globs on object names such as `public.orders` or `main.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    /// Names must match one of these (all names when empty).
    pub include: Vec<NameGlob>,
    /// Names matching any of these are left out.
    pub exclude: Vec<NameGlob>,
}

impl NameFilter {
    /// A filter from glob texts.
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        NameFilter {
            include: include.iter().map(|g| NameGlob::new(g)).collect(),
            exclude: exclude.iter().map(|g| NameGlob::new(g)).collect(),
        }
    }

    /// Whether `name` passes the filter.
    pub fn allows(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.matches(name)))
            && !self.exclude.iter().any(|g| g.matches(name))
    }
}

/// The SQL `LIKE` pattern equal to a glob (`*` → `%`; `%`, `_` and `\` escaped with `\`), for
/// pushing filters into catalog queries. Use with `LIKE … ESCAPE '\'`.
pub fn to_sql_like(glob: &NameGlob) -> String {
    let mut out = String::new();
    for c in glob.as_str().chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_globs_match_exact_names_and_star_runs() {
        assert!(NameGlob::new("staging-*").matches("staging-vs-production"));
        assert!(!NameGlob::new("staging-*").matches("prod-vs-staging"));
        assert!(NameGlob::new("*-production").matches("staging-vs-production"));
        assert!(NameGlob::new("*").matches(""));
        assert!(NameGlob::new("app-config").matches("app-config"));
        assert!(!NameGlob::new("app-config").matches("app-config2"));
        assert!(NameGlob::new("app-config").is_exact());
        assert!(!NameGlob::new("app-*").is_exact());
    }

    #[test]
    fn filters_include_then_exclude_and_translate_to_like() {
        let f = NameFilter::new(&["public.*".into()], &["public.tmp_*".into()]);
        assert!(f.allows("public.orders"));
        assert!(!f.allows("public.tmp_x"));
        assert!(!f.allows("audit.log"));
        assert!(NameFilter::default().allows("anything"));
        assert_eq!(to_sql_like(&NameGlob::new("pub_lic.*%")), "pub\\_lic.%\\%");
    }
}
