//! `--format junit`: a test suite per pair × source, a failing test case per finding, an error
//! case per source that could not be collected, so CI systems show drift natively.

use super::CheckReport;

/// Renders JUnit XML.
pub fn render(report: &CheckReport) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"driftwarden\">\n",
    );
    for pair in &report.pairs {
        for source in &pair.sources {
            let findings: Vec<_> = pair
                .findings
                .iter()
                .filter(|f| f.source == source.name)
                .collect();
            let errors: Vec<_> = pair
                .errors
                .iter()
                .filter(|e| e.source == source.name)
                .collect();
            let expected = pair
                .expected
                .iter()
                .filter(|e| e.source == source.name)
                .count();
            let tests = findings.len()
                + errors.len()
                + expected
                + usize::from(findings.is_empty() && errors.is_empty());
            emit!(
                out,
                "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{}\" errors=\"{}\">",
                xml(&format!("{}/{}", pair.name, source.name)),
                findings.len(),
                errors.len()
            );
            let class = xml(&format!("{}.{}", pair.name, source.name));
            for e in &errors {
                emit!(
                    out,
                    "    <testcase classname=\"{class}\" name=\"collect {}\">\n      <error type=\"{}\" message=\"{}\"/>\n    </testcase>",
                    xml(&e.environment),
                    xml(&e.reason),
                    xml(&e.message)
                );
            }
            for f in &findings {
                let mut body = String::new();
                if let Some(b) = &f.baseline {
                    emit!(body, "{}: {b}", pair.baseline);
                }
                if let Some(c) = &f.candidate {
                    emit!(body, "{}: {c}", pair.candidate);
                }
                if let Some(d) = &f.diff {
                    body.push_str(d);
                }
                emit!(
                    out,
                    "    <testcase classname=\"{class}\" name=\"{}\">\n      <failure type=\"{}\" message=\"{} {} (rule {}, fingerprint {})\">{}</failure>\n    </testcase>",
                    xml(&f.path.to_string()),
                    f.severity,
                    f.change,
                    xml(&f.path.to_string()),
                    xml(&f.rule),
                    f.fingerprint,
                    xml(&body)
                );
            }
            for e in pair.expected.iter().filter(|e| e.source == source.name) {
                emit!(
                    out,
                    "    <testcase classname=\"{class}\" name=\"{} (expected: rule {})\"/>",
                    xml(&e.path.to_string()),
                    xml(&e.rule)
                );
            }
            if findings.is_empty() && errors.is_empty() {
                emit!(
                    out,
                    "    <testcase classname=\"{class}\" name=\"in sync\"/>"
                );
            }
            out.push_str("  </testsuite>\n");
        }
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;\\u0001");
    }
}
