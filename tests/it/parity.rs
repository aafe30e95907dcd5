//! Table checksums end to end on real databases (SQLite files, the machine's PostgreSQL and
//! MariaDB): two copies of a 1,000,000-row table that differ in three rows (one changed, one
//! missing, one extra) must yield exactly those three keys, through `driftwarden check`.
//! Also: an excluded column that differs everywhere, NULL vs empty vs the text "NULL", unicode
//! and floats, a composite key, and a table without a primary key.

use std::collections::BTreeSet;
use std::path::Path as FsPath;

use driftwarden::snapshot::Path;
use serde_json::Value;

use crate::helpers::db::TestDb;
use crate::helpers::{driftwarden_in, sqlite_exec};

/// Rows in the big table.
const ROWS: u64 = 1_000_000;

/// A value that must never appear in any output: it is only in a changed row.
const SECRET_VALUE: &str = "changed-name-7f3e";

#[derive(Clone, Copy)]
enum Flavor {
    Sqlite,
    Postgres,
    Mysql,
}

impl Flavor {
    /// How a table is named in `checksums.tables` and in paths.
    fn table(self, name: &str) -> String {
        match self {
            Flavor::Postgres => format!("public.{name}"),
            _ => name.to_string(),
        }
    }

    /// The composite key ('eu', 7) as each engine's key text.
    fn composite_key(self) -> &'static str {
        match self {
            Flavor::Postgres => "(eu,7)",
            Flavor::Mysql => "'eu','7'",
            Flavor::Sqlite => "'eu',7",
        }
    }

    /// Schema and data; `stamp` is the value of the excluded `updated_at` column.
    fn setup(self, stamp: &str) -> String {
        let fill = match self {
            Flavor::Postgres => format!(
                "INSERT INTO big SELECT g, 'name ' || g, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' END, '{stamp}' \
                 FROM generate_series(1, {ROWS}) g;"
            ),
            Flavor::Mysql => format!(
                "INSERT INTO big SELECT seq, CONCAT('name ', seq), seq * 1.25, IF(seq % 7 = 0, NULL, 'n'), '{stamp}' \
                 FROM seq_1_to_{ROWS};"
            ),
            Flavor::Sqlite => format!(
                "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {ROWS}) \
                 INSERT INTO big SELECT x, 'name ' || x, x * 1.25, CASE WHEN x % 7 = 0 THEN NULL ELSE 'n' END, '{stamp}' FROM g;"
            ),
        };
        let tail = match self {
            Flavor::Mysql => " DEFAULT CHARSET=utf8mb4",
            _ => "",
        };
        let (text, float) = match self {
            Flavor::Postgres => ("text", "double precision"),
            Flavor::Mysql => ("varchar(100)", "double"),
            Flavor::Sqlite => ("TEXT", "REAL"),
        };
        format!(
            "CREATE TABLE big (id bigint PRIMARY KEY, name {text} NOT NULL, amount {float}, note {text}, updated_at {text}){tail};
             {fill}
             CREATE TABLE plans (code varchar(20) PRIMARY KEY, label {text}, price {float}){tail};
             INSERT INTO plans VALUES ('a', NULL, 1.5), ('b', '', 0.1), ('c', 'NULL', 2.0), ('u', 'ü€😀', 3.25);
             CREATE TABLE tricky (code varchar(20) PRIMARY KEY, label {text}, x {float}){tail};
             INSERT INTO tricky VALUES ('n1', '', 1.0), ('n2', 'NULL', 1.0), ('f1', 'x', 0.1), ('same', 'ü', 0.5);
             CREATE TABLE composite (region varchar(10), id int, v {text}, PRIMARY KEY (region, id)){tail};
             INSERT INTO composite VALUES ('eu', 7, 'a'), ('eu', 8, 'b'), ('us', 7, 'c');
             CREATE TABLE nopk (a int, b {text}){tail};
             INSERT INTO nopk VALUES (1, 'x');"
        )
    }

    /// What staging changes: one row changed, one missing, one extra in `big`; NULL vs '',
    /// NULL vs 'NULL' and a float in `tricky`; one row of `composite`.
    fn drift(self) -> String {
        let float = match self {
            // 0.1 + 2^-55: a different double that prints as 0.1 with 15 digits.
            Flavor::Sqlite | Flavor::Mysql | Flavor::Postgres => "0.10000000000000002",
        };
        format!(
            "UPDATE big SET name = '{SECRET_VALUE}' WHERE id = 123457;
             DELETE FROM big WHERE id = 500000;
             INSERT INTO big VALUES ({}, 'name extra', 1.0, NULL, 'x');
             UPDATE tricky SET label = NULL WHERE code = 'n1';
             UPDATE tricky SET label = NULL WHERE code = 'n2';
             UPDATE tricky SET x = {float} WHERE code = 'f1';
             UPDATE composite SET v = 'changed' WHERE region = 'eu' AND id = 7;",
            ROWS + 10
        )
    }

    /// The `checksums` block of a source.
    fn checksums(self) -> String {
        let tables: Vec<String> = ["big", "plans", "tricky", "composite", "nopk"]
            .iter()
            .map(|t| format!("\"{}\"", self.table(t)))
            .collect();
        format!(
            "row_counts = \"off\"\n[environments.ENV.sources.db.checksums]\ntables = [{}]\nexclude_columns = [\"updated_at\"]\n",
            tables.join(", ")
        )
    }
}

fn write_config(dir: &FsPath, kind: &str, baseline: &str, candidate: &str, flavor: Flavor) {
    let location = |v: &str| match flavor {
        Flavor::Sqlite => format!("path = \"{v}\""),
        _ => format!("url = \"{v}\""),
    };
    let source = |env: &str, v: &str| {
        format!(
            "[environments.{env}.sources.db]\nkind = \"{kind}\"\n{}\n{}",
            location(v),
            flavor.checksums().replace("ENV", env)
        )
    };
    std::fs::write(
        dir.join("driftwarden.toml"),
        format!(
            "rules = []\n[[pairs]]\nname = \"p\"\nbaseline = \"production\"\ncandidate = \"staging\"\n{}\n{}",
            source("production", baseline),
            source("staging", candidate)
        ),
    )
    .unwrap();
}

/// Runs `check` and asserts exactly the planted data differences are found.
fn assert_found(dir: &FsPath, flavor: Flavor) {
    let run = driftwarden_in(dir, &["check", "--format", "json", "-v"]);
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.all()));
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        !run.all().contains(SECRET_VALUE),
        "a column value leaked into the output"
    );
    let findings = json["pairs"][0]["findings"].as_array().unwrap();
    let mut found = BTreeSet::new();
    for f in findings {
        let path = Path::parse(f["path"].as_str().unwrap()).unwrap();
        let segments = path.segments().to_vec();
        assert_eq!(segments[0], "data", "only data findings expected: {f}");
        found.insert((
            segments[1].clone(),
            segments[2..].join("/"),
            f["change"].as_str().unwrap().to_string(),
        ));
    }
    let t = |name: &str| flavor.table(name);
    let expected: BTreeSet<(String, String, String)> = [
        (t("big"), "keys/123457".to_string(), "changed"),
        (t("big"), "keys/500000".to_string(), "removed"),
        (t("big"), format!("keys/{}", ROWS + 10), "added"),
        (t("tricky"), "keys/n1".to_string(), "changed"),
        (t("tricky"), "keys/n2".to_string(), "changed"),
        (t("tricky"), "keys/f1".to_string(), "changed"),
        (
            t("composite"),
            format!("keys/{}", flavor.composite_key()),
            "changed",
        ),
        (t("nopk"), "error".to_string(), "unchanged"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a, b, c.to_string()))
    .collect();
    assert_eq!(found, expected, "{}", run.stderr);
    let nopk = findings
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/error"))
        .unwrap();
    assert!(
        nopk["baseline"]
            .as_str()
            .unwrap()
            .contains("no primary key"),
        "{nopk}"
    );
}

/// Equal copies: no finding at all.
fn assert_equal(dir: &FsPath) {
    let run = driftwarden_in(dir, &["check", "--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let paths: Vec<&str> = json["pairs"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    // Only the table without a key is reported: it cannot be verified.
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].ends_with("/error"));
}

#[tokio::test]
async fn sqlite_checksums_find_exactly_the_differing_keys() {
    let dir = tempfile::tempdir().unwrap();
    for (name, stamp) in [
        ("production.db", "2026-01-01"),
        ("staging.db", "2026-02-02"),
    ] {
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap();
        sqlite_exec(&path, &Flavor::Sqlite.setup(stamp)).await;
    }
    write_config(
        dir.path(),
        "sqlite",
        "production.db",
        "staging.db",
        Flavor::Sqlite,
    );
    assert_equal(dir.path());
    sqlite_exec(&dir.path().join("staging.db"), &Flavor::Sqlite.drift()).await;
    assert_found(dir.path(), Flavor::Sqlite);
}

#[tokio::test]
async fn postgres_checksums_find_exactly_the_differing_keys() {
    let (Some(production), Some(staging)) = (TestDb::postgres().await, TestDb::postgres().await)
    else {
        return;
    };
    production
        .execute(&Flavor::Postgres.setup("2026-01-01"))
        .await;
    staging.execute(&Flavor::Postgres.setup("2026-02-02")).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "postgres",
        &production.url,
        &staging.url,
        Flavor::Postgres,
    );
    assert_equal(dir.path());
    staging.execute(&Flavor::Postgres.drift()).await;
    assert_found(dir.path(), Flavor::Postgres);
}

#[tokio::test]
async fn mysql_checksums_find_exactly_the_differing_keys() {
    let (Some(production), Some(staging)) = (TestDb::mysql().await, TestDb::mysql().await) else {
        return;
    };
    production.execute(&Flavor::Mysql.setup("2026-01-01")).await;
    staging.execute(&Flavor::Mysql.setup("2026-02-02")).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "mysql",
        &production.url,
        &staging.url,
        Flavor::Mysql,
    );
    assert_equal(dir.path());
    staging.execute(&Flavor::Mysql.drift()).await;
    assert_found(dir.path(), Flavor::Mysql);
}

/// Customers with e-mail addresses: real-looking in production, anonymised in staging.
fn customers(flavor: Flavor, production: bool) -> String {
    let tail = match flavor {
        Flavor::Mysql => " DEFAULT CHARSET=utf8mb4",
        _ => "",
    };
    let rows: Vec<String> = (1..=500)
        .map(|i| {
            let email = if production {
                format!("Person.{i}@Real-Mail.example")
            } else {
                format!("user{i}@anonymised.invalid")
            };
            format!("({i}, '{email}', NULL)")
        })
        .collect();
    format!(
        "CREATE TABLE customers (id int PRIMARY KEY, email varchar(200), phone varchar(40)){tail};
         INSERT INTO customers VALUES {};",
        rows.join(", ")
    )
}

/// Two production addresses copied into staging (one with other case and blanks).
const LEAK: &str = "UPDATE customers SET email = 'Person.17@Real-Mail.example' WHERE id = 3;
                    UPDATE customers SET email = '  person.402@real-mail.example ' WHERE id = 4;";

fn pii_config(dir: &FsPath, kind: &str, baseline: &str, candidate: &str, flavor: Flavor) {
    let location = |v: &str| match flavor {
        Flavor::Sqlite => format!("path = \"{v}\""),
        _ => format!("url = \"{v}\""),
    };
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/pii.toml"),
        "[[pii]]\nmatch = \"*customers.email\"\nsample = 10000\n\n[[pii]]\nmatch = \"*customers.phone\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("driftwarden.toml"),
        format!(
            "rules = [\"rules\"]\n[[pairs]]\nname = \"p\"\nbaseline = \"production\"\ncandidate = \"staging\"\n\
             [environments.production.sources.db]\nkind = \"{kind}\"\n{}\nrow_counts = \"off\"\n\
             [environments.staging.sources.db]\nkind = \"{kind}\"\n{}\nrow_counts = \"off\"\n",
            location(baseline),
            location(candidate)
        ),
    )
    .unwrap();
}

/// Anonymised staging: no finding; two leaked addresses: one critical finding counting 2,
/// and no address anywhere in the output (debug logs included).
async fn assert_pii(dir: &FsPath, flavor: Flavor, leak: impl std::future::Future<Output = ()>) {
    let clean = driftwarden_in(dir, &["check", "--format", "json"]);
    assert_eq!(
        clean.code,
        0,
        "anonymised staging is clean: {}",
        clean.all()
    );
    leak.await;
    let run = driftwarden_in(dir, &["-vv", "check", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let findings = json["pairs"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    let path = Path::parse(f["path"].as_str().unwrap()).unwrap();
    assert_eq!(path.segments()[0], "pii");
    assert_eq!(
        path.segments()[1],
        format!("{}.email", flavor.table_of_customers())
    );
    assert_eq!(f["severity"], "critical");
    assert_eq!(
        f["candidate"],
        "2 of 500 sampled production values found in the candidate"
    );
    let everything = run.all().to_lowercase();
    for needle in [
        "real-mail.example",
        "person.17",
        "person.402",
        "anonymised.invalid",
    ] {
        assert!(
            !everything.contains(needle),
            "{needle} leaked into the output"
        );
    }
}

impl Flavor {
    fn table_of_customers(self) -> &'static str {
        match self {
            Flavor::Postgres => "public.customers",
            Flavor::Sqlite => "main.customers",
            Flavor::Mysql => "customers",
        }
    }
}

#[tokio::test]
async fn sqlite_pii_leak_is_counted_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    for (name, production) in [("production.db", true), ("staging.db", false)] {
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap();
        sqlite_exec(&path, &customers(Flavor::Sqlite, production)).await;
    }
    pii_config(
        dir.path(),
        "sqlite",
        "production.db",
        "staging.db",
        Flavor::Sqlite,
    );
    let staging = dir.path().join("staging.db");
    assert_pii(dir.path(), Flavor::Sqlite, sqlite_exec(&staging, LEAK)).await;
}

#[tokio::test]
async fn postgres_pii_leak_is_counted_never_shown() {
    let (Some(production), Some(staging)) = (TestDb::postgres().await, TestDb::postgres().await)
    else {
        return;
    };
    production.execute(&customers(Flavor::Postgres, true)).await;
    staging.execute(&customers(Flavor::Postgres, false)).await;
    let dir = tempfile::tempdir().unwrap();
    pii_config(
        dir.path(),
        "postgres",
        &production.url,
        &staging.url,
        Flavor::Postgres,
    );
    assert_pii(dir.path(), Flavor::Postgres, staging.execute(LEAK)).await;
}

#[tokio::test]
async fn mysql_pii_leak_is_counted_never_shown() {
    let (Some(production), Some(staging)) = (TestDb::mysql().await, TestDb::mysql().await) else {
        return;
    };
    production.execute(&customers(Flavor::Mysql, true)).await;
    staging.execute(&customers(Flavor::Mysql, false)).await;
    let dir = tempfile::tempdir().unwrap();
    pii_config(
        dir.path(),
        "mysql",
        &production.url,
        &staging.url,
        Flavor::Mysql,
    );
    assert_pii(dir.path(), Flavor::Mysql, staging.execute(LEAK)).await;
}

#[tokio::test]
async fn a_table_over_its_row_budget_is_too_large_to_verify_never_equal() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
               WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 100)
               INSERT INTO t SELECT x, 'v' FROM g;";
    for name in ["production.db", "staging.db"] {
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap();
        sqlite_exec(&path, sql).await;
    }
    let source = |env: &str, file: &str| {
        format!(
            "[environments.{env}.sources.db]\nkind = \"sqlite\"\npath = \"{file}\"\nrow_counts = \"off\"\n\
             [environments.{env}.sources.db.checksums]\ntables = [\"t\"]\nmax_rows = 10\n"
        )
    };
    std::fs::write(
        dir.path().join("driftwarden.toml"),
        format!(
            "rules = []\n[[pairs]]\nname = \"p\"\nbaseline = \"production\"\ncandidate = \"staging\"\n{}{}",
            source("production", "production.db"),
            source("staging", "staging.db")
        ),
    )
    .unwrap();
    let run = driftwarden_in(dir.path(), &["check", "--format", "json"]);
    assert_eq!(
        run.code,
        1,
        "identical but unverified is not clean: {}",
        run.all()
    );
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let f = &json["pairs"][0]["findings"][0];
    assert_eq!(f["path"], "data/t/error");
    assert!(
        f["baseline"]
            .as_str()
            .unwrap()
            .contains("too large to verify: 100 rows is more than max_rows = 10"),
        "{f}"
    );
}

/// A PostgreSQL table whose rows are slow to read (a row-level security policy sleeping 50 ms
/// per row, for a role of its own that does not own it), checksummed through that role with
/// `timeout`. Gives the source and the role, to drop after.
async fn slow_checksum_source(
    db: &TestDb,
    dir: &FsPath,
    timeout: &str,
) -> (driftwarden::config::SourceKind, String) {
    let (role, url) = db.login_role("slow").await;
    db.execute(&format!(
        "CREATE TABLE slow (id int PRIMARY KEY, v text);
         INSERT INTO slow SELECT g, 'v' FROM generate_series(1, 40) g;
         ALTER TABLE slow ENABLE ROW LEVEL SECURITY;
         CREATE POLICY crawl ON slow USING (pg_sleep(0.05) IS NOT NULL);
         GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON slow TO {role};"
    ))
    .await;
    let file = dir.join("driftwarden.toml");
    std::fs::write(
        &file,
        format!(
            "[environments.production.sources.db]\nkind = \"postgres\"\nurl = \"{url}\"\n\
             row_counts = \"off\"\n\
             [environments.production.sources.db.checksums]\ntables = [\"public.slow\"]\n\
             timeout = \"{timeout}\"\n"
        ),
    )
    .unwrap();
    let config = driftwarden::config::load(&file).unwrap();
    let kind = config.source("production", "db").unwrap().kind.clone();
    (kind, role)
}

#[tokio::test]
async fn a_checksum_cut_by_its_timeout_is_too_large_but_one_cancelled_fails_the_collection() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // Cut by its own time limit: the table is too large to verify in time (a finding).
    let (kind, role) = slow_checksum_source(&db, dir.path(), "500ms").await;
    let result = driftwarden::parity::collect(&kind).await;
    db.drop_role(&role).await;
    let data = result.unwrap().unwrap();
    let error = data
        .get(&Path::parse("public.slow/error").unwrap())
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string();
    assert!(error.starts_with("too large to verify"), "{data:?}");

    // Cancelled by an administrator long before its limit: nothing is known of the table.
    db.execute("DROP TABLE slow").await;
    let (kind, role) = slow_checksum_source(&db, dir.path(), "60s").await;
    let collection = tokio::spawn(async move { driftwarden::parity::collect(&kind).await });
    db.cancel_when_running("%slow%").await;
    let result = collection.await.unwrap();
    db.drop_role(&role).await;
    let err = match result {
        Ok(data) => panic!("the checksum was recorded: {data:?}"),
        Err(err) => err,
    };
    assert_eq!(err.reason(), "query", "{err}");
    assert!(
        err.to_string()
            .contains("checksumming public.slow: cancelled by another session"),
        "{err}"
    );
}
