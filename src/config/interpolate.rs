//! `${VAR}` and `${VAR:-default}` interpolation, done on the text before TOML parsing.
//!
//! `$$` writes a literal `$`. Values containing a newline are refused, so line numbers in later
//! errors still point at the right line of the file.

/// Where and why interpolation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolateError {
    /// Byte offset of the `$` in the original text.
    pub offset: usize,
    /// What went wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Replaces every `${NAME}` using `lookup`.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let at = offset + pos;
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            offset = at + 2;
            rest = after;
            continue;
        }
        let Some(body_start) = tail.strip_prefix("${") else {
            out.push('$');
            offset = at + 1;
            rest = &tail[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            return Err(InterpolateError {
                offset: at,
                message: "unclosed `${`".into(),
                hint: "write `${NAME}`, or `$$` for a literal `$`".into(),
            });
        };
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(InterpolateError {
                offset: at,
                message: format!("invalid variable name {name:?}"),
                hint: "variable names use letters, digits and `_`".into(),
            });
        }
        let value = match (lookup(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(InterpolateError {
                    offset: at,
                    message: format!("environment variable {name} is not set"),
                    hint: format!("export {name}, or give a default: ${{{name}:-value}}"),
                })
            }
        };
        if value.contains('\n') || value.contains('\r') {
            return Err(InterpolateError {
                offset: at,
                message: format!("environment variable {name} contains a newline"),
                hint: "multi-line values are refused; use a `*_file` key for file contents".into(),
            });
        }
        out.push_str(&value);
        let consumed = 2 + end + 1;
        offset = at + consumed;
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_defaults_and_escapes() {
        let out = interpolate("h=${HOST} p=${PORT:-5432} cost=$$5 $x", &env).unwrap();
        assert_eq!(out, "h=db.internal p=5432 cost=$5 $x");
    }

    #[test]
    fn missing_variable_names_its_offset() {
        let err = interpolate("a\nurl = \"${NOPE}\"", &env).unwrap_err();
        assert_eq!(err.offset, 9);
        assert!(err.message.contains("NOPE"));
    }

    #[test]
    fn newlines_and_bad_names_are_refused() {
        assert!(interpolate("${MULTI}", &env).is_err());
        assert!(interpolate("${A-B}", &env).is_err());
        assert!(interpolate("${OPEN", &env).is_err());
    }
}
