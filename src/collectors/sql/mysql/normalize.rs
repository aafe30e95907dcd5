//! Pure text normalisations, so equal schemas give equal leaves across database names, creation
//! orders and (where the catalogs allow it) MariaDB and MySQL.

use super::session::Flavor;

/// Integer types whose display width MySQL 8.0.19+ no longer reports (`int(11)` → `int`).
const INTEGER_TYPES: &[&str] = &["tinyint", "smallint", "mediumint", "int", "bigint"];

/// `COLUMN_TYPE` without integer display widths, which are cosmetic and reported by MariaDB and
/// MySQL ≤ 8.0.18 only. `tinyint(1)` (the boolean convention) and `zerofill` types keep theirs.
pub fn column_type(text: &str) -> String {
    let lower = text.trim();
    let Some(open) = lower.find('(') else {
        return lower.to_string();
    };
    let base = &lower[..open];
    if !INTEGER_TYPES.contains(&base) || lower.contains("zerofill") {
        return lower.to_string();
    }
    let Some(close) = lower[open..].find(')').map(|i| i + open) else {
        return lower.to_string();
    };
    if base == "tinyint" && &lower[open..=close] == "(1)" {
        return lower.to_string();
    }
    format!("{base}{}", &lower[close + 1..])
}

/// A column default as one text for both servers: `None` for no default or `DEFAULT NULL`,
/// string literals unquoted (MariaDB quotes them, MySQL does not), and `current_timestamp()`
/// spelled `CURRENT_TIMESTAMP` as MySQL does.
pub fn column_default(raw: Option<&str>, flavor: Flavor) -> Option<String> {
    let raw = raw?;
    if flavor == Flavor::Mariadb {
        if raw == "NULL" {
            return None;
        }
        if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
            return Some(
                raw[1..raw.len() - 1]
                    .replace("''", "'")
                    .replace("\\\\", "\\"),
            );
        }
    }
    Some(current_timestamp(raw))
}

/// `current_timestamp()`/`now()` (MariaDB) → `CURRENT_TIMESTAMP`; `current_timestamp(3)` →
/// `CURRENT_TIMESTAMP(3)`. Other text is unchanged.
fn current_timestamp(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    for name in ["current_timestamp", "now"] {
        if let Some(rest) = lower.strip_prefix(name) {
            if rest.is_empty() || rest == "()" {
                return "CURRENT_TIMESTAMP".to_string();
            }
            if rest.starts_with('(')
                && rest.ends_with(')')
                && rest[1..rest.len() - 1].chars().all(|c| c.is_ascii_digit())
            {
                return format!("CURRENT_TIMESTAMP{rest}");
            }
        }
    }
    text.to_string()
}

/// `EXTRA` without what is reported elsewhere or is noise: `DEFAULT_GENERATED` (MySQL marks
/// expression defaults), `VIRTUAL/STORED/PERSISTENT GENERATED` (the `generated` leaf); what is
/// left (`auto_increment`, `on update CURRENT_TIMESTAMP`, `INVISIBLE`) is lower-cased, sorted,
/// and `None` when empty.
pub fn column_extra(extra: &str) -> Option<String> {
    let mut text = extra.to_string();
    for noise in [
        "DEFAULT_GENERATED",
        "VIRTUAL GENERATED",
        "STORED GENERATED",
        "PERSISTENT GENERATED",
    ] {
        text = replace_ignore_case(&text, noise, " ");
    }
    let mut parts: Vec<String> = Vec::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let word = word.to_ascii_lowercase();
        if word == "on"
            && words
                .peek()
                .is_some_and(|w| w.eq_ignore_ascii_case("update"))
        {
            words.next();
            let value = words.next().map(current_timestamp).unwrap_or_default();
            parts.push(format!("on update {value}"));
        } else {
            parts.push(word);
        }
    }
    parts.sort();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// How a column is generated, from `EXTRA`: `virtual`, `stored` or `None`.
pub fn generated(extra: &str) -> Option<&'static str> {
    let upper = extra.to_ascii_uppercase();
    if upper.contains("VIRTUAL GENERATED") {
        Some("virtual")
    } else if upper.contains("STORED GENERATED") || upper.contains("PERSISTENT GENERATED") {
        Some("stored")
    } else {
        None
    }
}

fn replace_ignore_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[last..at]);
        out.push_str(with);
        last = at + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

/// An expression without one pair of parentheses wrapping all of it (MySQL adds them to
/// generation and check expressions, MariaDB does not).
pub fn expression(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.starts_with('(') && trimmed.ends_with(')') && closes_at_end(trimmed) {
        return trimmed[1..trimmed.len() - 1].trim().to_string();
    }
    trimmed.to_string()
}

/// Whether the `(` at the start is closed by the `)` at the end (quotes respected).
fn closes_at_end(text: &str) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let last = text.len() - 1;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i == last;
                }
            }
            _ => {}
        }
    }
    false
}

/// Removes the `` `schema`. `` qualifiers the server adds to stored view text, so databases with
/// different names give the same definition.
pub fn unqualify(text: &str, schema: &str) -> String {
    let qualifier = format!("`{}`.", schema.replace('`', "``"));
    text.replace(&qualifier, "")
}

/// A stored definition with `\n` line endings, no trailing blanks per line and one final
/// newline, so multi-line bodies diff line by line.
pub fn definition(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = unified
        .trim()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// The character set a collation belongs to (`utf8mb4_0900_ai_ci` → `utf8mb4`).
pub fn charset_of(collation: &str) -> String {
    collation
        .split_once('_')
        .map_or(collation, |(charset, _)| charset)
        .to_string()
}

/// A referential action as one spelling: InnoDB treats `RESTRICT` and `NO ACTION` alike, and
/// MariaDB reports the default as `RESTRICT` where MySQL 8 says `NO ACTION`.
pub fn referential_action(rule: &str) -> String {
    let upper = rule.trim().to_ascii_uppercase();
    if upper == "RESTRICT" {
        "NO ACTION".to_string()
    } else {
        upper
    }
}

/// Whether a constraint name was generated by the server (`<table>_ibfk_<n>`, `<table>_chk_<n>`,
/// MariaDB's `CONSTRAINT_<n>`): such names follow creation order and are not identity.
pub fn is_generated_name(table: &str, name: &str) -> bool {
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    numbered(&format!("{table}_ibfk_"))
        || numbered(&format!("{table}_chk_"))
        || numbered("CONSTRAINT_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_display_widths_go_but_meaningful_lengths_stay() {
        assert_eq!(column_type("int(11)"), "int");
        assert_eq!(column_type("bigint(20) unsigned"), "bigint unsigned");
        assert_eq!(column_type("tinyint(1)"), "tinyint(1)");
        assert_eq!(
            column_type("int(5) unsigned zerofill"),
            "int(5) unsigned zerofill"
        );
        assert_eq!(column_type("varchar(10)"), "varchar(10)");
        assert_eq!(column_type("decimal(10,2)"), "decimal(10,2)");
        assert_eq!(column_type("int"), "int");
    }

    #[test]
    fn defaults_read_the_same_on_mariadb_and_mysql() {
        let m = Flavor::Mariadb;
        let o = Flavor::Mysql;
        assert_eq!(column_default(Some("'a''b'"), m).as_deref(), Some("a'b"));
        assert_eq!(column_default(Some("a'b"), o).as_deref(), Some("a'b"));
        assert_eq!(column_default(Some("NULL"), m), None);
        assert_eq!(column_default(None, o), None);
        assert_eq!(column_default(Some("'NULL'"), m).as_deref(), Some("NULL"));
        assert_eq!(
            column_default(Some("current_timestamp()"), m).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(
            column_default(Some("current_timestamp(3)"), m).as_deref(),
            Some("CURRENT_TIMESTAMP(3)")
        );
        assert_eq!(
            column_default(Some("CURRENT_TIMESTAMP"), o).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(column_default(Some("5"), m).as_deref(), Some("5"));
        assert_eq!(column_default(Some("uuid()"), m).as_deref(), Some("uuid()"));
    }

    #[test]
    fn extra_keeps_behaviour_and_drops_markers() {
        assert_eq!(column_extra(""), None);
        assert_eq!(column_extra("DEFAULT_GENERATED"), None);
        assert_eq!(
            column_extra("auto_increment").as_deref(),
            Some("auto_increment")
        );
        assert_eq!(
            column_extra("DEFAULT_GENERATED on update CURRENT_TIMESTAMP").as_deref(),
            Some("on update CURRENT_TIMESTAMP")
        );
        assert_eq!(
            column_extra("on update current_timestamp()").as_deref(),
            Some("on update CURRENT_TIMESTAMP")
        );
        assert_eq!(column_extra("VIRTUAL GENERATED"), None);
        assert_eq!(generated("VIRTUAL GENERATED"), Some("virtual"));
        assert_eq!(generated("STORED GENERATED"), Some("stored"));
        assert_eq!(generated("auto_increment"), None);
    }

    #[test]
    fn expressions_lose_one_wrapping_pair_of_parentheses() {
        assert_eq!(expression("(`n` * 2)"), "`n` * 2");
        assert_eq!(expression("`n` * 2"), "`n` * 2");
        assert_eq!(expression("(a) + (b)"), "(a) + (b)");
        assert_eq!(expression("(')' = x)"), "')' = x");
    }

    #[test]
    fn view_text_loses_the_schema_qualifier_only() {
        let text = "select `db1`.`t`.`id` AS `id` from `db1`.`t` where `x`.`y` = 'db1'";
        assert_eq!(
            unqualify(text, "db1"),
            "select `t`.`id` AS `id` from `t` where `x`.`y` = 'db1'"
        );
        assert_eq!(unqualify("`a``b`.`t`", "a`b"), "`t`");
    }

    #[test]
    fn definitions_charsets_actions_and_generated_names() {
        assert_eq!(
            definition("  BEGIN\r\n  x;  \r\nEND  \n\n"),
            "BEGIN\n  x;\nEND\n"
        );
        assert_eq!(charset_of("utf8mb4_0900_ai_ci"), "utf8mb4");
        assert_eq!(charset_of("binary"), "binary");
        assert_eq!(referential_action("RESTRICT"), "NO ACTION");
        assert_eq!(referential_action("CASCADE"), "CASCADE");
        assert!(is_generated_name("orders", "orders_ibfk_1"));
        assert!(is_generated_name("orders", "orders_chk_12"));
        assert!(is_generated_name("orders", "CONSTRAINT_1"));
        assert!(!is_generated_name("orders", "fk_orders_customer"));
        assert!(!is_generated_name("orders", "orders_ibfk_"));
    }
}
