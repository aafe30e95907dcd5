//! PostgreSQL helpers shared by the benches that build their own databases.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Replaces the database of a server URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Runs `sql` (one or more statements) on the database at `url`.
pub async fn run(url: &str, sql: &str) -> Result<(), String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("{e}\n{sql}"))?;
    conn.close().await.map_err(|e| e.to_string())
}
