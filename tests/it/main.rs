//! The one integration-test binary (one link step, shared helpers).
//!
//! - `collect_sqlite`: the SQLite collector against real database files.
//! - `collect_postgres`, `collect_mysql`: the SQL collectors against the machine's real servers,
//!   one drift at a time (databases created per test and dropped after).
//! - `collect_file_http`: file, HTTP and command collectors against real files, servers, programs.
//! - `daemon`: the daemon in-process (and as a process for SIGKILL) on the demo: API, metrics,
//!   failure semantics, temporal drift, reload, tokens, restarts.
//! - `store`: the store on a real SQLite file and on the real PostgreSQL.
//! - `alerts`: the Alertmanager sink against a real Alertmanager.
//! - `chaos`: servers killed, locked and restarted under a running daemon (target, store, the
//!   daemon itself): no false findings, no lost or repeated alerts, recovery in place.
//! - `cli`: the built binary end to end: exit codes, output formats, bad input, the demo.
//! - `deploy`: the files under `deploy/` parse and agree with the daemon (probes, metrics, configs).
//! - `report`: `report` and `signoff` end to end: golden files, JUnit and Markdown consumers,
//!   sign-off rules, hostile names.
//! - `dashboard`: the dashboard in a real headless Chromium, the sign-off API.
//! - `ha`: three replicas (processes) on a shared PostgreSQL store: exclusive collection,
//!   even spread, exactly-once webhooks, takeover after SIGKILL.
//! - `hostile`: hostile input end to end: deep nesting, huge files and devices, binary and
//!   non-UTF-8 text, YAML alias bombs, control characters in names, misbehaving HTTP servers.
//! - `parity`: table checksums on 1,000,000-row tables in SQLite, PostgreSQL and MariaDB.
//! - `secrets`: distinct secrets planted everywhere a secret goes in, searched for in everything
//!   the daemon and the CLI emit and every file they leave.

// Test code may panic on broken fixtures; that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod alerts;
mod chaos;
mod cli;
mod collect_file_http;
mod collect_mysql;
mod collect_postgres;
mod collect_sqlite;
mod daemon;
mod dashboard;
mod deploy;
mod ha;
mod hostile;
mod parity;
mod report;
mod secrets;
mod store;
