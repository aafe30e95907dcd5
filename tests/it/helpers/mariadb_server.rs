//! A throwaway MariaDB server started by the test itself (`mariadb-install-db` + `mariadbd`
//! from the machine's packages) on a temporary folder and port, so a test can kill it mid-run
//! without touching the machine's shared server.
//!
//! Outside CI a machine without MariaDB skips the test; under `CI=true` it fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MARIADBD: &str = "/usr/sbin/mariadbd";

/// A running (or killed) private MariaDB server.
pub struct TempMariadb {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
}

impl TempMariadb {
    /// Initialises and starts a server, or `None` (skip) when MariaDB is not installed
    /// outside CI.
    pub fn start() -> Option<TempMariadb> {
        if !Path::new(MARIADBD).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but {MARIADBD} is missing");
            }
            eprintln!("skipping: no {MARIADBD}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let output = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let port = super::free_port();
        let mut server = TempMariadb {
            dir,
            child: None,
            port,
        };
        server.start_again();
        Some(server)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&mut self) {
        let path = self.dir.path();
        let child = Command::new(MARIADBD)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path.join("data").display()))
            .arg(format!("--socket={}", path.join("sock").display()))
            .arg(format!("--pid-file={}", path.join("pid").display()))
            .arg(format!("--log-error={}", path.join("error.log").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the temporary MariaDB did not start: {}",
                std::fs::read_to_string(path.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server with SIGKILL, as a crash or an OOM kill would, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine: either way it is gone once reaped.
            if let Err(e) = child.kill() {
                eprintln!("killing the temporary MariaDB: {e}");
            }
            if let Err(e) = child.wait() {
                eprintln!("reaping the temporary MariaDB: {e}");
            }
        }
    }

    /// URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for TempMariadb {
    fn drop(&mut self) {
        self.kill();
    }
}
