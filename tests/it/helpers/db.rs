//! Real test databases on the machine's PostgreSQL and MariaDB: a uniquely named database per
//! test, dropped when the guard is dropped (zero-to-production never drops its own; we do).
//!
//! Servers: `DRIFTWARDEN_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `DRIFTWARDEN_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306/mysql`). When a server does not
//! answer, the test is skipped with a message — except under `CI=true`, where it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AssertSqlSafe, Connection};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

/// A database created for one test and dropped afterwards.
pub struct TestDb {
    pub engine: Engine,
    /// The database name.
    pub name: String,
    /// URL of the test database (superuser; for fixtures, not for the collector under test
    /// when a test is about privileges).
    pub url: String,
    admin_url: String,
}

fn admin_url(engine: Engine) -> String {
    match engine {
        Engine::Postgres => std::env::var("DRIFTWARDEN_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        Engine::Mysql => std::env::var("DRIFTWARDEN_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
    }
}

/// Replaces the database part of a server URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |j| j + 2) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

impl TestDb {
    /// A fresh PostgreSQL database, or `None` (skip) when the server is down outside CI.
    pub async fn postgres() -> Option<TestDb> {
        TestDb::create(Engine::Postgres).await
    }

    /// A fresh MariaDB/MySQL database, or `None` (skip) when the server is down outside CI.
    pub async fn mysql() -> Option<TestDb> {
        TestDb::create(Engine::Mysql).await
    }

    async fn create(engine: Engine) -> Option<TestDb> {
        let admin_url = admin_url(engine);
        let name = format!(
            "dw_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let created = run_admin(engine, &admin_url, &format!("CREATE DATABASE {name}")).await;
        if let Err(e) = created {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but the {engine:?} test server is not usable: {e}");
            }
            eprintln!("skipping: the {engine:?} test server is not usable: {e}");
            return None;
        }
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            engine,
            name,
            url,
            admin_url,
        })
    }

    /// Runs a SQL script in the test database as the admin user.
    pub async fn execute(&self, sql: &str) {
        match self.engine {
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{sql}"));
            }
            Engine::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("fixture SQL failed: {e}\n{sql}"));
            }
        }
    }

    /// Runs a statement on the server as admin, outside the test database (roles, grants).
    pub async fn admin(&self, sql: &str) {
        run_admin(self.engine, &self.admin_url, sql)
            .await
            .unwrap_or_else(|e| panic!("admin SQL failed: {e}\n{sql}"));
    }

    /// PostgreSQL: creates the login role `<database>_<suffix>`, allowed to connect to this
    /// database and nothing else yet; gives its name and its URL. Drop it with [`drop_role`].
    ///
    /// [`drop_role`]: TestDb::drop_role
    pub async fn login_role(&self, suffix: &str) -> (String, String) {
        let role = format!("{}_{suffix}", self.name);
        self.admin(&format!("CREATE ROLE {role} LOGIN")).await;
        self.admin(&format!(
            "GRANT CONNECT ON DATABASE {} TO {role}",
            self.name
        ))
        .await;
        let url = self.url.replacen("postgres@", &format!("{role}@"), 1);
        assert_ne!(url, self.url, "the test URL has no user to replace");
        (role, url)
    }

    /// PostgreSQL: waits until a statement of another session in this database whose text
    /// matches `like` (an `ILIKE` pattern) is running, then cancels it with
    /// `pg_cancel_backend`, as an administrator or a query killer would. Fails after 30 s.
    pub async fn cancel_when_running(&self, like: &str) {
        let mut admin = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let cancelled: Option<bool> = sqlx::query_scalar(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND state = 'active' \
                 AND query ILIKE $1 AND pid <> pg_backend_pid()",
            )
            .bind(like)
            .fetch_optional(&mut admin)
            .await
            .unwrap();
            if cancelled == Some(true) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no statement like {like:?} ran"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// PostgreSQL: drops what `role` was granted here, then the role.
    pub async fn drop_role(&self, role: &str) {
        self.execute(&format!("DROP OWNED BY {role}")).await;
        self.admin(&format!("DROP ROLE {role}")).await;
    }
}

async fn run_admin(engine: Engine, url: &str, sql: &str) -> Result<(), sqlx::Error> {
    match engine {
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await?;
            conn.close().await
        }
        Engine::Mysql => {
            let mut conn = sqlx::MySqlConnection::connect(url).await?;
            sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await?;
            conn.close().await
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (engine, url) = (self.engine, self.admin_url.clone());
        let sql = match engine {
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Engine::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime does the clean-up synchronously.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(run_admin(engine, &url, &sql)).ok()
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

#[test]
fn with_database_replaces_only_the_database() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/mysql", "y"),
        "mysql://root@127.0.0.1:3306/y"
    );
}

#[tokio::test]
async fn test_databases_are_created_usable_and_dropped() {
    for db in [TestDb::postgres().await, TestDb::mysql().await]
        .into_iter()
        .flatten()
    {
        db.execute("CREATE TABLE probe (id INT PRIMARY KEY)").await;
        let name = db.name.clone();
        let (engine, admin) = (db.engine, admin_url(db.engine));
        drop(db);
        let probe = format!("CREATE DATABASE {name}");
        // Creating it again succeeds only if the drop really happened.
        run_admin(engine, &admin, &probe).await.unwrap();
        run_admin(engine, &admin, &format!("DROP DATABASE {name}"))
            .await
            .unwrap();
    }
}
