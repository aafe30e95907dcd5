//! Errors for config and rules files: they name the file, line and column, and give a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem in a config or rules file, located where possible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ConfigError {
    /// An error about a whole file (it cannot be read, say).
    pub fn file(file: &Path, message: impl Into<String>, hint: Option<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
            hint,
        }
    }

    /// An error at a byte span of the file's text.
    pub fn at(
        file: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let (line, column) = match span {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint,
        }
    }

    /// Converts a TOML syntax or shape error.
    pub fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> Self {
        let message = without_values(err.message().trim());
        let hint = toml_hint(&message);
        ConfigError::at(file, text, err.span(), message, hint)
    }
}

/// serde's "invalid type" and "invalid value" messages quote the value found, which may be a
/// credential written in the wrong shape (`headers = "Bearer …"`): keep its kind, drop the value.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        // The value comes first and may itself contain ", expected ": split at the last one.
        let Some((found, expected)) = rest.rsplit_once(", expected ") else {
            return format!("{prefix}(value not shown)");
        };
        let kind = found.split(['`', '"']).next().unwrap_or("").trim();
        return match kind {
            _ if kind == found.trim() => message.to_string(),
            "" => format!("{prefix}a value (not shown), expected {expected}"),
            _ => format!("{prefix}{kind} (value not shown), expected {expected}"),
        };
    }
    message.to_string()
}

fn toml_hint(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("check the spelling; docs/config.md and docs/rules.md list every key".into())
    } else if message.contains("missing field") {
        Some("add the key; docs/config.md and docs/rules.md list the required keys".into())
    } else if message.contains("invalid") || message.contains("expected") {
        Some("this is not valid TOML here; see https://toml.io for the syntax".into())
    } else {
        None
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, text.find('=').unwrap()), (1, 3));
        assert_eq!(line_col(text, 10), (2, 4));
    }

    #[test]
    fn type_errors_name_the_kind_of_value_never_the_value() {
        let text = "headers = \"Bearer hunter2, expected a map\"\ntoken = 12345\n";
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Raw {
            headers: std::collections::BTreeMap<String, String>,
        }
        let err = toml::from_str::<Raw>(text).unwrap_err();
        let error = ConfigError::from_toml(Path::new("c.toml"), text, &err);
        assert_eq!(
            error.message,
            "invalid type: string (value not shown), expected a map"
        );
        assert_eq!(error.line, Some(1));
        assert_eq!(
            without_values("invalid type: integer `12345`, expected a string"),
            "invalid type: integer (value not shown), expected a string"
        );
        assert_eq!(
            without_values("invalid type: sequence, expected a string"),
            "invalid type: sequence, expected a string"
        );
        assert_eq!(without_values("unknown field `x`"), "unknown field `x`");
    }
}
