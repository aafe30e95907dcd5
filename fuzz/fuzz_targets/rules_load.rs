//! Rules files: any text gives rules or a located error, never a panic; every loaded rule's
//! pattern matches the paths it names literally.
#![no_main]

use std::path::Path as FsPath;

use driftwarden::rules::RuleSet;
use driftwarden::snapshot::Path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RuleSet::parse(FsPath::new("fuzz.toml"), text) {
        Ok(rules) => {
            for rule in &rules {
                // A literal pattern is the escaped form of the one path it matches.
                if rule.pattern.is_literal() {
                    if let Ok(path) = Path::parse(rule.pattern.as_str()) {
                        assert!(rule.pattern.matches(&path), "{}", rule.pattern);
                    }
                }
                let _ = rule
                    .pattern
                    .matches(&Path::from_segments(["schema", "tables", "x"]));
            }
        }
        Err(err) => {
            // Errors are located inside the text they describe.
            if let Some(line) = err.line {
                assert!(
                    line >= 1 && line <= text.lines().count().max(1) + 1,
                    "{err}"
                );
            }
            let _ = err.to_string();
        }
    }
});
