//! A small, forgiving reader of SQLite DDL text: what the pragmas do not report.
//!
//! SQLite's pragmas give a column's declared type, default and key position, but not its
//! collation or generation expression, whether a table uses `AUTOINCREMENT`, nor an index's
//! expression terms and `WHERE` predicate. This module recovers those from the `sql` column of
//! `sqlite_schema`. It tokenises just enough (quoted identifiers, string literals, comments,
//! parentheses) to split at top-level commas, and never panics: odd input yields best-effort
//! results (no collation, no expression).

/// What the CREATE TABLE text says that the pragmas do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDdl {
    /// Column definitions in declaration order (table constraints are skipped).
    pub columns: Vec<ColumnDdl>,
    /// Whether the `AUTOINCREMENT` keyword appears.
    pub autoincrement: bool,
}

/// One column definition of a CREATE TABLE statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnDdl {
    /// The column name, unquoted.
    pub name: String,
    /// The `COLLATE` name, upper-cased and unquoted, if the definition has one.
    pub collation: Option<String>,
    /// The expression of `GENERATED ALWAYS AS (expr)` or `AS (expr)`, trimmed.
    pub generated_expression: Option<String>,
}

impl TableDdl {
    /// The definition of column `name`: exact match first, then ASCII case-insensitive.
    pub fn column(&self, name: &str) -> Option<&ColumnDdl> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }
}

/// What the CREATE INDEX text says that the pragmas do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexDdl {
    /// Each indexed term's text without a trailing `COLLATE name` or `ASC`/`DESC`.
    pub terms: Vec<String>,
    /// The text after the top-level `WHERE`, trimmed, for partial indexes.
    pub predicate: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A bare word: keyword, identifier or number.
    Word,
    /// An identifier in `"…"`, `` `…` `` or `[…]`.
    Quoted,
    /// A string literal `'…'`.
    Str,
    Open,
    Close,
    Comma,
    /// Any other single character.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Splits `sql` into tokens, skipping whitespace and comments. Unterminated quotes and
/// comments run to the end of the text. Token bounds always fall on ASCII characters or the
/// end of the text, so they are valid `str` indices.
fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                continue;
            }
            b'"' | b'`' | b'\'' => {
                i = skip_quoted(bytes, i, b);
                if b == b'\'' {
                    Kind::Str
                } else {
                    Kind::Quoted
                }
            }
            b'[' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                Kind::Quoted
            }
            b'(' => {
                i += 1;
                Kind::Open
            }
            b')' => {
                i += 1;
                Kind::Close
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b if is_word_byte(b) => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Other
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The index just past the quote closing the one at `open`; a doubled quote is an escape.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn text<'a>(sql: &'a str, token: &Token) -> &'a str {
    sql.get(token.start..token.end).unwrap_or("")
}

fn is_word(sql: &str, token: Option<&Token>, keyword: &str) -> bool {
    token.is_some_and(|t| t.kind == Kind::Word && text(sql, t).eq_ignore_ascii_case(keyword))
}

/// The identifier a token names, with quotes removed and doubled quotes undone.
fn unquote(sql: &str, token: &Token) -> String {
    let raw = text(sql, token);
    let (inner, quote) = match token.kind {
        Kind::Quoted | Kind::Str => {
            let first = raw.chars().next().unwrap_or('"');
            let close = if first == '[' { ']' } else { first };
            let body = raw.get(1..).unwrap_or("");
            (body.strip_suffix(close).unwrap_or(body), Some(first))
        }
        _ => (raw, None),
    };
    match quote {
        Some('[') | None => inner.to_string(),
        Some(q) => inner.replace(&format!("{q}{q}"), &q.to_string()),
    }
}

/// The index of the token closing the parenthesis opened at `open` (or `tokens.len()`).
fn matching_close(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Splits `tokens[from..to]` at commas outside parentheses, as index ranges.
fn split_top_level(tokens: &[Token], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = from;
    for (i, token) in tokens.iter().enumerate().take(to).skip(from) {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.saturating_sub(1),
            Kind::Comma if depth == 0 => {
                parts.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, to.min(tokens.len())));
    parts
}

/// The parenthesised body of a CREATE TABLE/INDEX statement: (open, close) token indices.
fn body(tokens: &[Token]) -> Option<(usize, usize)> {
    let open = tokens.iter().position(|t| t.kind == Kind::Open)?;
    Some((open, matching_close(tokens, open)))
}

const TABLE_CONSTRAINTS: [&str; 5] = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

/// Reads the column definitions and `AUTOINCREMENT` flag from CREATE TABLE text.
pub fn parse_create_table(sql: &str) -> TableDdl {
    let tokens = tokenize(sql);
    let autoincrement = tokens
        .iter()
        .any(|t| is_word(sql, Some(t), "AUTOINCREMENT"));
    let Some((open, close)) = body(&tokens) else {
        return TableDdl {
            columns: Vec::new(),
            autoincrement,
        };
    };
    let columns = split_top_level(&tokens, open + 1, close)
        .into_iter()
        .filter_map(|(from, to)| column(sql, &tokens[from..to]))
        .collect();
    TableDdl {
        columns,
        autoincrement,
    }
}

/// One column definition, or `None` for a table constraint or an empty part.
fn column(sql: &str, tokens: &[Token]) -> Option<ColumnDdl> {
    let first = tokens.first()?;
    if !matches!(first.kind, Kind::Word | Kind::Quoted | Kind::Str) {
        return None;
    }
    if TABLE_CONSTRAINTS
        .iter()
        .any(|kw| is_word(sql, Some(first), kw))
    {
        return None;
    }
    let mut column = ColumnDdl {
        name: unquote(sql, first),
        ..ColumnDdl::default()
    };
    let mut i = 1;
    while i < tokens.len() {
        let token = &tokens[i];
        match token.kind {
            Kind::Open => {
                // Type arguments, CHECK, DEFAULT (…), REFERENCES t(…): nothing to read inside.
                i = matching_close(tokens, i) + 1;
                continue;
            }
            Kind::Word if is_word(sql, Some(token), "COLLATE") => {
                if let Some(name) = tokens
                    .get(i + 1)
                    .filter(|t| matches!(t.kind, Kind::Word | Kind::Quoted | Kind::Str))
                {
                    column.collation = Some(unquote(sql, name).to_ascii_uppercase());
                    i += 1;
                }
            }
            Kind::Word
                if is_word(sql, Some(token), "AS")
                    && tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Open) =>
            {
                let close = matching_close(tokens, i + 1);
                let from = tokens.get(i + 1).map_or(sql.len(), |t| t.end);
                let to = tokens.get(close).map_or(sql.len(), |t| t.start);
                column.generated_expression = sql.get(from..to).map(|e| e.trim().to_string());
                i = close + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Some(column)
}

/// Reads the indexed terms and partial-index predicate from CREATE INDEX text.
pub fn parse_create_index(sql: &str) -> IndexDdl {
    let tokens = tokenize(sql);
    let Some((open, close)) = body(&tokens) else {
        return IndexDdl::default();
    };
    let terms = split_top_level(&tokens, open + 1, close)
        .into_iter()
        .map(|(from, to)| term(sql, &tokens[from..to]))
        .collect();
    let predicate = tokens
        .iter()
        .skip(close + 1)
        .find(|t| is_word(sql, Some(t), "WHERE"))
        .and_then(|t| sql.get(t.end..))
        .map(|p| p.trim().trim_end_matches(';').trim_end().to_string());
    IndexDdl { terms, predicate }
}

/// An indexed term's text without a trailing `ASC`/`DESC` and `COLLATE name`.
fn term(sql: &str, tokens: &[Token]) -> String {
    let mut end = tokens.len();
    if end > 0
        && (is_word(sql, tokens.get(end - 1), "ASC") || is_word(sql, tokens.get(end - 1), "DESC"))
    {
        end -= 1;
    }
    if end > 1 && is_word(sql, tokens.get(end - 2), "COLLATE") {
        end -= 2;
    }
    match (
        tokens.first(),
        end.checked_sub(1).and_then(|last| tokens.get(last)),
    ) {
        (Some(first), Some(last)) => sql.get(first.start..last.end).unwrap_or("").to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col<'a>(ddl: &'a TableDdl, name: &str) -> &'a ColumnDdl {
        ddl.column(name)
            .unwrap_or_else(|| panic!("no column {name} in {ddl:?}"))
    }

    #[test]
    fn columns_are_read_and_table_constraints_skipped() {
        let ddl = parse_create_table(
            "CREATE TABLE t (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  name VARCHAR(255) NOT NULL,\n  \
             CONSTRAINT pk PRIMARY KEY (id),\n  UNIQUE (name),\n  CHECK (length(name) > 0),\n  \
             FOREIGN KEY (id) REFERENCES other(id)\n) STRICT",
        );
        let names: Vec<&str> = ddl.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name"]);
        assert!(ddl.autoincrement);
        assert_eq!(col(&ddl, "name").collation, None);
    }

    #[test]
    fn quoted_identifiers_of_every_style_are_unquoted() {
        let ddl = parse_create_table(
            r#"CREATE TABLE "we""ird" ("a""b" INT, `c``d` TEXT, [e f] TEXT, 'g' TEXT, "primary" INT)"#,
        );
        let names: Vec<&str> = ddl.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a\"b", "c`d", "e f", "g", "primary"]);
        assert!(!ddl.autoincrement);
    }

    #[test]
    fn commas_and_parentheses_inside_literals_and_checks_do_not_split_columns() {
        let ddl = parse_create_table(
            "CREATE TABLE t (a TEXT DEFAULT 'x, (y' COLLATE nocase, \
             b TEXT CHECK (b IN ('(', ',', ')')) COLLATE \"RTRIM\", \
             c INT DEFAULT (abs(-1) + (2 * 3)), d TEXT -- a comment, with comma\n, \
             e /* c, ( */ TEXT)",
        );
        let names: Vec<&str> = ddl.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(col(&ddl, "a").collation.as_deref(), Some("NOCASE"));
        assert_eq!(col(&ddl, "b").collation.as_deref(), Some("RTRIM"));
        assert_eq!(col(&ddl, "c").collation, None);
    }

    #[test]
    fn collate_inside_a_check_is_not_the_column_collation() {
        let ddl = parse_create_table("CREATE TABLE t (a TEXT CHECK (a = 'x' COLLATE NOCASE))");
        assert_eq!(col(&ddl, "a").collation, None);
    }

    #[test]
    fn generated_columns_long_and_short_forms_give_their_expression() {
        let ddl = parse_create_table(
            "CREATE TABLE t (a INT, b INT, \
             total INT GENERATED ALWAYS AS (a * (b + 1)) STORED, \
             half AS ( a / 2 ) VIRTUAL, label TEXT AS (a || ',' || ')') COLLATE NOCASE)",
        );
        assert_eq!(
            col(&ddl, "total").generated_expression.as_deref(),
            Some("a * (b + 1)")
        );
        assert_eq!(
            col(&ddl, "half").generated_expression.as_deref(),
            Some("a / 2")
        );
        assert_eq!(
            col(&ddl, "label").generated_expression.as_deref(),
            Some("a || ',' || ')'")
        );
        assert_eq!(col(&ddl, "label").collation.as_deref(), Some("NOCASE"));
        assert_eq!(col(&ddl, "a").generated_expression, None);
    }

    #[test]
    fn autoincrement_inside_a_string_does_not_count() {
        let ddl = parse_create_table(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT DEFAULT 'AUTOINCREMENT')",
        );
        assert!(!ddl.autoincrement);
    }

    #[test]
    fn column_lookup_falls_back_to_case_insensitive() {
        let ddl = parse_create_table("CREATE TABLE t (Email TEXT COLLATE NOCASE)");
        assert_eq!(col(&ddl, "email").collation.as_deref(), Some("NOCASE"));
    }

    #[test]
    fn odd_input_never_panics_and_gives_best_effort() {
        for sql in [
            "",
            "(",
            ")",
            "CREATE TABLE",
            "CREATE TABLE t (",
            "CREATE TABLE t (a TEXT COLLATE",
            "CREATE TABLE t (a AS (",
            "CREATE TABLE t (a 'unterminated",
            "CREATE TABLE t (\"a",
            "CREATE TABLE t ([a",
            "CREATE TABLE t (a /* open comment",
            "CREATE TABLE t (a)))))",
            "CREATE TABLE t (,,,)",
            "CREATE TABLE é (ü TEXT COLLATE ß, 名前 TEXT AS (名前 || 'é'))",
            "\u{0}\u{ffff}(\u{10ffff}",
        ] {
            let ddl = parse_create_table(sql);
            let index = parse_create_index(sql);
            assert!(ddl.columns.len() <= 5, "{sql}: {ddl:?} {index:?}");
        }
        let ddl =
            parse_create_table("CREATE TABLE é (ü TEXT COLLATE ß, 名前 TEXT AS (名前 || 'é'))");
        assert_eq!(col(&ddl, "ü").collation.as_deref(), Some("ß"));
        assert_eq!(
            col(&ddl, "名前").generated_expression.as_deref(),
            Some("名前 || 'é'")
        );
    }

    #[test]
    fn every_prefix_of_a_complex_statement_parses_without_panicking() {
        let sql = "CREATE TABLE [t] (\"a\"\"\" INTEGER PRIMARY KEY AUTOINCREMENT, `b` TEXT DEFAULT 'x''y' \
                   COLLATE NOCASE /* c */, c AS (a || ')') STORED -- d\n, CHECK (b <> 'é'))";
        for (end, _) in sql.char_indices() {
            let prefix = &sql[..end];
            let _ = parse_create_table(prefix);
            let _ = parse_create_index(prefix);
        }
        let ddl = parse_create_table(sql);
        let names: Vec<&str> = ddl.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a\"", "b", "c"]);
    }

    #[test]
    fn index_terms_drop_order_and_collation_and_keep_expressions() {
        let index = parse_create_index(
            "CREATE UNIQUE INDEX \"ix(1)\" ON t (email, created_at DESC, name COLLATE nocase ASC, \
             lower(trim(email, ' ,')), (a + b) COLLATE BINARY DESC)",
        );
        assert_eq!(
            index.terms,
            [
                "email",
                "created_at",
                "name",
                "lower(trim(email, ' ,'))",
                "(a + b)"
            ]
        );
        assert_eq!(index.predicate, None);
    }

    #[test]
    fn partial_index_predicate_is_the_text_after_the_top_level_where() {
        let index = parse_create_index(
            "CREATE INDEX ix ON orders (status) WHERE status <> 'where' AND (x IN (SELECT 1))  ",
        );
        assert_eq!(index.terms, ["status"]);
        assert_eq!(
            index.predicate.as_deref(),
            Some("status <> 'where' AND (x IN (SELECT 1))")
        );
        let index = parse_create_index("CREATE INDEX ix ON t (a)\nWHERE\n  a IS NOT NULL;");
        assert_eq!(index.predicate.as_deref(), Some("a IS NOT NULL"));
    }
}
