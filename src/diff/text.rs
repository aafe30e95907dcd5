//! Unified diffs for text leaves (view and trigger SQL, scripts) via `similar`.

use similar::TextDiff;

/// A unified diff of `baseline` → `candidate` with three lines of context.
pub fn unified(baseline: &str, candidate: &str) -> String {
    TextDiff::from_lines(baseline, candidate)
        .unified_diff()
        .context_radius(3)
        .header("baseline", "candidate")
        .missing_newline_hint(false)
        .to_string()
}
