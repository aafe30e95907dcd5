//! SQL text of the checksum statements, per engine. Identifiers are quoted by us (never bound
//! as values: SQL cannot bind names); bucket numbers and masks are integers we computed.

use super::Shape;

/// The SQL dialects that hash rows in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `hashtextextended()` over the row's text form.
    Postgres,
    /// MySQL and MariaDB: `CRC32()` over `QUOTE()`d values.
    Mysql,
}

impl Dialect {
    /// A quoted identifier.
    pub fn quote(self, ident: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", ident.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", ident.replace('`', "``")),
        }
    }

    /// The table reference (PostgreSQL sessions search `pg_catalog` only: unqualified names
    /// mean `public`).
    pub fn table(self, shape: &Shape) -> String {
        match (&shape.schema, self) {
            (Some(schema), _) => format!("{}.{}", self.quote(schema), self.quote(&shape.name)),
            (None, Dialect::Postgres) => format!("\"public\".{}", self.quote(&shape.name)),
            (None, Dialect::Mysql) => self.quote(&shape.name),
        }
    }

    /// The key as text: the value itself for a one-column key, a tuple otherwise.
    fn key_text(self, shape: &Shape) -> String {
        let cols: Vec<String> = shape.key.iter().map(|k| self.quote(k)).collect();
        match (self, cols.as_slice()) {
            (Dialect::Postgres, [one]) => format!("{one}::text"),
            (Dialect::Postgres, _) => format!("ROW({})::text", cols.join(", ")),
            (Dialect::Mysql, [one]) => format!("CAST({one} AS CHAR)"),
            (Dialect::Mysql, _) => format!(
                "CONCAT_WS(',', {})",
                cols.iter()
                    .map(|c| format!("QUOTE({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The row as text, NULL distinct from the empty string and from the text "NULL".
    fn row_text(self, shape: &Shape) -> String {
        let cols: Vec<String> = shape.columns.iter().map(|c| self.quote(c)).collect();
        match self {
            // A record's text form quotes what needs it and leaves NULL empty and unquoted.
            Dialect::Postgres => format!("ROW({})::text", cols.join(", ")),
            // QUOTE(NULL) is the bare word NULL; QUOTE('NULL') is 'NULL' with quotes.
            Dialect::Mysql => format!(
                "CONCAT_WS(',', {})",
                cols.iter()
                    .map(|c| format!("QUOTE({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// 32 or more bits of a hash of the key, as a non-negative integer once masked.
    /// PostgreSQL: `hashtextextended` (the hash behind hash partitioning, stable across
    /// versions, ≈12× cheaper than `md5` here); MySQL: `CRC32`.
    fn key_hash(self, key: &str) -> String {
        match self {
            Dialect::Postgres => format!("pg_catalog.hashtextextended({key}, 0)"),
            Dialect::Mysql => format!("CRC32({key})"),
        }
    }

    /// A 48-bit hash of the row, as a non-negative integer (PostgreSQL: 64-bit
    /// `hashtextextended` masked; MySQL: two CRC32s with different inputs, shifted and mixed).
    fn row_hash(self, row: &str) -> String {
        match self {
            Dialect::Postgres => {
                format!("(pg_catalog.hashtextextended({row}, 0) & 281474976710655)")
            }
            Dialect::Mysql => format!("((CRC32({row}) << 16) ^ CRC32(CONCAT('#', {row})))"),
        }
    }

    /// `count` and hash sum per bucket of `bits` bits, optionally only inside the given
    /// buckets of `parent_bits` bits: one statement for a whole level.
    pub fn digest(self, shape: &Shape, bits: u32, within: Option<(u32, &[u32])>) -> String {
        let key = self.key_text(shape);
        let inner = format!(
            "SELECT {} AS kh, {} AS rh FROM {}",
            self.key_hash(&key),
            self.row_hash(&self.row_text(shape)),
            self.table(shape)
        );
        let filter = within
            .map(|(parent_bits, buckets)| {
                format!(" WHERE {}", in_buckets("kh", parent_bits, buckets))
            })
            .unwrap_or_default();
        let sum = match self {
            Dialect::Postgres => "sum(rh)::text",
            Dialect::Mysql => "CAST(SUM(rh) AS CHAR)",
        };
        // Signed on both engines, so one decoder reads either.
        let bucket = match self {
            Dialect::Postgres => format!("(kh & {})", mask(bits)),
            Dialect::Mysql => format!("CAST((kh & {}) AS SIGNED)", mask(bits)),
        };
        format!(
            "SELECT {bucket} AS b, count(*) AS n, {sum} AS s FROM ({inner}) t{filter} GROUP BY (kh & {})",
            mask(bits)
        )
    }

    /// Keys and full row hashes of the rows in `buckets` (of `bits` bits).
    pub fn rows(self, shape: &Shape, bits: u32, buckets: &[u32]) -> String {
        let key = self.key_text(shape);
        let row_md5 = match self {
            Dialect::Postgres => format!("md5({})", self.row_text(shape)),
            Dialect::Mysql => format!("MD5({})", self.row_text(shape)),
        };
        format!(
            "SELECT k, h FROM (SELECT {key} AS k, {row_md5} AS h, {} AS kh FROM {}) t WHERE {}",
            self.key_hash(&key),
            self.table(shape),
            in_buckets("kh", bits, buckets)
        )
    }
}

/// The low `bits` bits set.
pub fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn in_buckets(column: &str, bits: u32, buckets: &[u32]) -> String {
    let list: Vec<String> = buckets.iter().map(u32::to_string).collect();
    format!("({column} & {}) IN ({})", mask(bits), list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            table: "public.we\"ird".into(),
            schema: Some("public".into()),
            name: "we\"ird".into(),
            key: vec!["id".into()],
            columns: vec!["id".into(), "na`me".into()],
        }
    }

    #[test]
    fn identifiers_are_quoted_per_dialect() {
        assert_eq!(
            Dialect::Postgres.table(&shape()),
            "\"public\".\"we\"\"ird\""
        );
        let sql = Dialect::Mysql.digest(&shape(), 8, None);
        assert!(sql.contains("QUOTE(`na``me`)"), "{sql}");
        assert!(sql.contains("GROUP BY (kh & 255)"));
    }

    #[test]
    fn deeper_levels_filter_on_the_parent_buckets() {
        let sql = Dialect::Postgres.digest(&shape(), 16, Some((8, &[3, 17])));
        assert!(sql.contains("WHERE (kh & 255) IN (3, 17)"), "{sql}");
        assert!(sql.contains("(kh & 65535)"));
        let rows = Dialect::Postgres.rows(&shape(), 16, &[258]);
        assert!(rows.contains("(kh & 65535) IN (258)"), "{rows}");
    }
}
