//! Unified diffs for text leaves (view and trigger SQL, scripts) via `similar`.

use std::borrow::Cow;

use similar::TextDiff;

/// A unified diff of `baseline` → `candidate` with three lines of context.
///
/// Control characters other than newline and tab are written as `\u{…}` escapes: the diff is
/// printed raw to terminals, and a value holding `ESC [2J` or a carriage return must show up
/// as text, not clear or rewrite the screen.
pub fn unified(baseline: &str, candidate: &str) -> String {
    let diff = TextDiff::from_lines(baseline, candidate)
        .unified_diff()
        .context_radius(3)
        .header("baseline", "candidate")
        .missing_newline_hint(false)
        .to_string();
    visible(&diff).into_owned()
}

/// `text` with every control character except `\n` and `\t` (C0, DEL, C1) and every bidi
/// override written as a `\u{…}` escape, so it can be printed to a terminal as it is; a lone
/// `\r` also keeps its line break.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            // A lone carriage return ends a line (for `similar` too): keep the line break.
            if c == '\r' && chars.peek() != Some(&'\n') {
                out.push('\n');
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        // Bidi embeddings, overrides and isolates reorder the text around them on screen.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_a_diff_are_escaped_and_lines_kept() {
        let diff = unified("a\n\u{1b}[2Jb\tc\n", "a\nb\r\u{0}\u{9b}\u{202e}\n");
        assert!(diff.contains("-\\u{1b}[2Jb\tc\n"), "{diff}");
        assert!(
            diff.contains("+b\\u{d}\n+\\u{0}\\u{9b}\\u{202e}\n"),
            "{diff}"
        );
        assert!(!diff.chars().any(needs_escape), "{diff:?}");
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(visible("a\tb\nc é"), Cow::Borrowed("a\tb\nc é")));
    }
}
