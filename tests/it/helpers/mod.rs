//! Shared test helpers: run the built binary, build the demo into a temporary folder, and
//! create real PostgreSQL/MariaDB test databases (`db`).

#![allow(dead_code)]

pub mod daemon;
pub mod db;
pub mod mariadb_server;
pub mod pg_cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A TCP port free on loopback right now (the OS picks it; the listener is closed at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for "never appears anywhere" assertions.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `driftwarden ARGS` in `dir` with a clean, non-interactive environment.
pub fn driftwarden_in(dir: &Path, args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_driftwarden"))
        .args(args)
        .current_dir(dir)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("DRIFTWARDEN_CONFIG")
        .env_remove("DRIFTWARDEN_HMAC_KEY")
        .output()
        .expect("the driftwarden binary runs")
        .into()
}

/// A freshly built demo in a temporary folder.
pub struct Demo {
    pub dir: tempfile::TempDir,
}

impl Demo {
    /// Builds the demo with `driftwarden demo --build-only`.
    pub fn build() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let run = driftwarden_in(dir.path(), &["demo", "--build-only", "--dir", "demo"]);
        assert_eq!(run.code, 0, "demo build failed: {}", run.all());
        Demo { dir }
    }

    /// A placeholder left behind when a demo is moved out of a test daemon.
    pub fn empty() -> Demo {
        Demo {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The demo folder.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("demo")
    }

    /// The demo config file.
    pub fn config(&self) -> String {
        self.path().join("driftwarden.toml").display().to_string()
    }

    /// Runs the binary with `args` in the demo's parent folder.
    pub fn run(&self, args: &[&str]) -> Run {
        driftwarden_in(self.dir.path(), args)
    }

    /// Replaces `from` by `to` in a demo file, asserting it was there.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    /// Appends `text` to a demo file (extra sources, alert sinks).
    pub fn append(&self, file: &str, text: &str) {
        let path = self.path().join(file);
        let mut current = std::fs::read_to_string(&path).unwrap();
        current.push_str(text);
        std::fs::write(&path, current).unwrap();
    }

    /// Writes a demo file.
    pub fn write(&self, file: &str, text: &str) {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Runs statements against an existing SQLite database file (demo data, fixtures).
pub async fn sqlite_exec(path: &Path, sql: &str) {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    conn.close().await.unwrap();
}
