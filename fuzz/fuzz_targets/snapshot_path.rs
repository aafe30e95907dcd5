//! Canonical paths: any segments print to a form that parses back to them; any text either
//! parses (and prints to a form that parses to the same path) or is refused, never a panic.
#![no_main]

use arbitrary::Arbitrary;
use driftwarden::snapshot::path::{escape_segment, unescape_segment};
use driftwarden::snapshot::Path;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    segments: Vec<String>,
    text: String,
}

fuzz_target!(|input: Input| {
    let path = Path::from_segments(input.segments.clone());
    let printed = path.to_string();
    assert_eq!(Path::parse(&printed).as_ref(), Ok(&path), "{printed:?}");
    // The printed form never carries a control character (it reaches terminals and logs).
    assert!(
        !printed.chars().any(|c| (c as u32) < 0x20 || c == '\u{7f}'),
        "{printed:?}"
    );
    for segment in &input.segments {
        let escaped = escape_segment(segment);
        assert!(!escaped.contains('/') && !escaped.is_empty(), "{escaped:?}");
        assert_eq!(unescape_segment(&escaped).as_deref(), Ok(segment.as_str()));
    }

    if let Ok(parsed) = Path::parse(&input.text) {
        let again = parsed.to_string();
        assert_eq!(
            Path::parse(&again).as_ref(),
            Ok(&parsed),
            "{:?}",
            input.text
        );
        // JSON (the store, the API) keeps the path too.
        let json = serde_json::to_string(&parsed).expect("a path serializes");
        let back: Path = serde_json::from_str(&json).expect("and deserializes");
        assert_eq!(back, parsed);
    }
});
